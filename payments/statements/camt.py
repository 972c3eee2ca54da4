"""ISO 20022 camt.053 (statement), camt.054 (notification) and camt.052 (report) reader.

Versions 001.01 to 001.12 share the paths read here; the differences that
matter are handled where they occur (``Sts`` as text or ``Sts/Cd``, parties
under ``Pty`` from 001.08 on, ``BIC`` or ``BICFI``, the transaction amount in
``TxDtls/Amt`` or ``AmtDtls/TxAmt/Amt``). The file is streamed through
:func:`ingest.safexml.iter_elements`: one entry in memory at a time.

An entry (``Ntry``) batching several transactions that each carry their own
amount (a collective booking) gives one line per transaction; otherwise one
line per entry. An entry without booking date (the element is optional) takes
its value date, else the statement's closing day (``FrToDt/ToDtTm``, else the
closing balance's date, else the statement's or the message's ``CreDtTm``).
Only booked entries (status ``BOOK``) become lines; pending
and informational ones are reported as unreadable with the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from ingest.safexml import iter_elements
from payments.statements.model import ParsedStatement, StatementLine, StatementRejected, Unreadable
from payments.statements.text import join_segments
from schemas.errors import ErrorCode

_NS = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:(camt\.05[234])\.001\.(\d\d)")
_ROOTS = {b"BkToCstmrStmt": "camt.053", b"BkToCstmrDbtCdtNtfctn": "camt.054", b"BkToCstmrAcctRpt": "camt.052"}
_AMOUNT = re.compile(r"\d{1,18}(\.\d{1,5})?")
_CONTAINERS = ("Stmt", "Ntfctn", "Rpt")


def sniff(head: bytes) -> tuple[str, str | None] | None:
    """``(message, namespace)`` of a camt document from its first bytes, else ``None``.

    >>> sniff(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">')
    ('camt.053.001.08', 'urn:iso:std:iso:20022:tech:xsd:camt.053.001.08')
    """
    m = _NS.search(head)
    if m:
        ns = m.group(0).decode()
        return f"{m.group(1).decode()}.001.{m.group(2).decode()}", ns
    for tag, message in _ROOTS.items():
        if b"<" + tag in head:
            return message, None
    return None


class _Paths:
    """Namespaced ElementPath expressions, built once per namespace."""

    def __init__(self, ns: str | None) -> None:
        self.ns = ns
        self.cache: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        found = self.cache.get(path)
        if found is None:
            found = "/".join(f"{{{self.ns}}}{t}" for t in path.split("/")) if self.ns else path
            self.cache[path] = found
        return found


def _text(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.findtext(path)
    if found is None:
        return None
    found = " ".join(found.split())
    return found or None


Flat = dict[str, list[etree._Element]]


class _View:
    """One element's subtree as ``{"RltdPties/Dbtr/Pty/Nm": [leaf, ...]}``: one walk, then lookups.

    ``Strd`` blocks are kept apart (each its own view) so that a reference and
    the document number beside it stay together; ``NtryDtls/TxDtls`` too.
    """

    __slots__ = ("leaves", "strd", "txs")

    def __init__(self, el: etree._Element, cut: int) -> None:
        self.leaves: Flat = {}
        self.strd: list[_View] = []
        self.txs: list[etree._Element] = []
        self._walk(el, cut, "")

    def _walk(self, el: etree._Element, cut: int, prefix: str) -> None:
        for child in el:
            name = child.tag[cut:]
            if name == "Strd":
                self.strd.append(_View(child, cut))
            elif name == "TxDtls" and prefix == "NtryDtls/":
                self.txs.append(child)
            elif len(child):
                self._walk(child, cut, f"{prefix}{name}/")
            else:
                self.leaves.setdefault(prefix + name, []).append(child)

    def t(self, *paths: str) -> str | None:
        """The first non-empty text among ``paths``, whitespace collapsed."""
        for path in paths:
            found = self.leaves.get(path)
            if found:
                text = found[0].text
                if text:
                    text = " ".join(text.split())
                    if text:
                        return text
        return None

    def texts(self, path: str) -> list[str]:
        return [" ".join(e.text.split()) for e in self.leaves.get(path, []) if e.text and e.text.strip()]

    def el(self, path: str) -> etree._Element | None:
        found = self.leaves.get(path)
        return found[0] if found else None


class _Reader:
    def __init__(self, ns: str | None, message: str) -> None:
        p = _Paths(ns)
        self.message = message
        self.p = p
        self.cut = len(ns) + 2 if ns else 0
        self.containers = {p(c) for c in _CONTAINERS}
        # the element is kept with its header: a live proxy keeps its id() from being reused
        self.stmt_cache: dict[int, tuple[etree._Element, tuple[str | None, ...]]] = {}

    # statement header --------------------------------------------------------------------------
    def header(self, container: etree._Element) -> tuple[str | None, ...]:
        key = id(container)
        if key not in self.stmt_cache:
            p = self.p
            self.stmt_cache = {
                key: (
                    container,
                    (
                        _text(container, p("Id")),
                        _text(container, p("Acct/Id/IBAN")),
                        _text(container, p("Acct/Id/Othr/Id")),
                        _text(container, p("Acct/Ccy")),
                        _statement_date(container, p),
                    ),
                )
            }
        return self.stmt_cache[key][1]

    # one entry -----------------------------------------------------------------------------------
    def entry(self, ntry: etree._Element, index: int) -> Iterator[StatementLine | Unreadable]:
        container = ntry.getparent()
        stmt_id, iban, other_id, acct_ccy, stmt_date = (
            self.header(container) if container is not None else (None,) * 5
        )
        n = _View(ntry, self.cut)
        entry_ref = n.t("NtryRef")
        where = f"entry {entry_ref or index + 1}" + (f" of statement {stmt_id}" if stmt_id else "")
        status = n.t("Sts/Cd", "Sts")
        if status is not None and status != "BOOK":
            yield Unreadable(f"entry status {status}: only booked entries (BOOK) are imported", where)
            return
        try:
            amount, currency = _amount(n.el("Amt"), acct_ccy)
            sign = _sign(n.t("CdtDbtInd"))
            booking = (
                _date(n.t("BookgDt/Dt", "BookgDt/DtTm"))
                or _date(n.t("ValDt/Dt", "ValDt/DtTm"))
                or _iso_date(stmt_date)
            )
            if booking is None:
                raise StatementRejected("the entry has no booking date (BookgDt), nor has its statement")
        except StatementRejected as exc:
            yield Unreadable(exc.message, where)
            return
        common: dict[str, object] = {
            "booking_date": booking,
            "value_date": _iso_date(n.t("ValDt/Dt", "ValDt/DtTm")),
            "currency": currency,
            "entry_ref": entry_ref,
            "bank_ref": n.t("AcctSvcrRef"),
            "bank_tx_code": _tx_code(n),
            "account_iban": iban,
            "account_id": iban or other_id,
            "statement_id": stmt_id,
        }
        extra = n.t("AddtlNtryInf")
        txs = [_View(tx, self.cut) for tx in n.txs]
        if len(txs) > 1 and all(_tx_amount(tx) is not None for tx in txs):
            for k, tx in enumerate(txs):
                tx_amt = _tx_amount(tx)
                assert tx_amt is not None
                tx_sign = _sign(tx.t("CdtDbtInd")) if tx.t("CdtDbtInd") else sign
                yield _line(tx, [tx], common, tx_sign * tx_amt[0], None, extra, tx_index=k + 1)
            return
        entry_amounts = (_charges(n), _instructed(n))
        yield _line(txs[0] if txs else None, txs, common, sign * amount, entry_amounts, extra)


def _line(
    tx: _View | None,
    txs: list[_View],
    common: dict[str, object],
    amount: Decimal,
    entry_amounts: tuple[Decimal | None, tuple[Decimal, str] | None] | None,
    extra: str | None,
    *,
    tx_index: int = 0,
) -> StatementLine:
    fields = dict(common)
    party, acct, agent = ("Dbtr", "DbtrAcct", "DbtrAgt") if amount > 0 else ("Cdtr", "CdtrAcct", "CdtrAgt")
    texts: list[str] = []
    refs: list[str] = []
    docs: list[tuple[str, Decimal | None]] = []
    charges, instd = entry_amounts if entry_amounts is not None else (None, None)
    for t in txs:
        _remittance(t, texts, refs, docs)
    if tx is not None:
        fields["counterparty_name"] = tx.t(
            f"RltdPties/{party}/Pty/Nm", f"RltdPties/{party}/Nm",
            f"RltdPties/Ultmt{party}/Pty/Nm", f"RltdPties/Ultmt{party}/Nm",
        )  # fmt: skip
        fields["counterparty_iban"] = tx.t(f"RltdPties/{acct}/Id/IBAN", f"RltdPties/{acct}/Id/Othr/Id")
        fields["counterparty_bic"] = tx.t(
            f"RltdAgts/{agent}/FinInstnId/BICFI", f"RltdAgts/{agent}/FinInstnId/BIC"
        )
        e2e = tx.t("Refs/EndToEndId")
        fields["end_to_end_id"] = None if e2e in (None, "NOTPROVIDED") else e2e
        tx_ref = tx.t("Refs/AcctSvcrRef")
        if tx_index or not fields["bank_ref"]:
            fields["bank_ref"] = tx_ref or fields["bank_ref"]
        fields["return_reason"] = tx.t("RtrInf/Rsn/Cd", "RtrInf/Rsn/Prtry")
        if charges is None:
            charges = _charges(tx)
        instd = _instructed(tx) or instd
        if not texts:
            texts.extend(tx.texts("AddtlTxInf"))
    if not texts and not refs and extra:
        texts.append(extra)
    fields.update(
        amount=amount,
        remittance=join_segments(texts, 140),
        creditor_refs=tuple(refs),
        referred_docs=tuple(docs),
        charges=charges,
        instructed_amount=instd[0] if instd else None,
        instructed_currency=instd[1] if instd else None,
        tx_index=tx_index,
    )
    return StatementLine(**fields)  # type: ignore[arg-type]


def _remittance(tx: _View, texts: list[str], refs: list[str], docs: list[tuple[str, Decimal | None]]) -> None:
    texts.extend(tx.texts("RmtInf/Ustrd"))
    for strd in tx.strd:
        ref = strd.t("CdtrRefInf/Ref")
        if ref:
            refs.append(ref.replace(" ", ""))
        number = strd.t("RfrdDocInf/Nb")
        if number:
            amt = (
                strd.el("RfrdDocAmt/RmtdAmt")
                if strd.el("RfrdDocAmt/RmtdAmt") is not None
                else strd.el("RfrdDocAmt/DuePyblAmt")
            )
            docs.append((number, _decimal(amt.text) if amt is not None else None))
        texts.extend(strd.texts("AddtlRmtInf"))


def _decimal(text: str | None) -> Decimal | None:
    if text is None or not _AMOUNT.fullmatch(text.strip()):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the pattern already refuses what Decimal would
        return None


def _amount(el: etree._Element | None, default_ccy: str | None) -> tuple[Decimal, str]:
    if el is None:
        raise StatementRejected("the entry has no amount (Amt)")
    value = _decimal(el.text)
    if value is None:
        raise StatementRejected(f"the entry amount {el.text!r} is not a decimal number")
    ccy = el.get("Ccy") or default_ccy
    if not ccy:
        raise StatementRejected("the entry amount has no currency (Amt/@Ccy)")
    return value, ccy


def _sign(indicator: str | None) -> int:
    if indicator == "CRDT":
        return 1
    if indicator == "DBIT":
        return -1
    raise StatementRejected(f"credit/debit indicator {indicator!r} is neither CRDT nor DBIT")


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise StatementRejected(f"the date {text!r} is not an ISO date") from None


def _statement_date(container: etree._Element, p: _Paths) -> str | None:
    """The day a statement closes: period end, closing balance date, creation (statement, then message)."""
    found = _text(container, p("FrToDt/ToDtTm"))
    if found:
        return found
    for bal in container.iterfind(p("Bal")):
        if _text(bal, p("Tp/CdOrPrtry/Cd")) == "CLBD":
            found = _text(bal, p("Dt/Dt")) or _text(bal, p("Dt/DtTm"))
            if found:
                return found
    message = container.getparent()
    return _text(container, p("CreDtTm")) or _text(message, p("GrpHdr/CreDtTm"))


def _iso_date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _tx_amount(tx: _View) -> tuple[Decimal, str] | None:
    el = tx.el("Amt")
    if el is None:
        el = tx.el("AmtDtls/TxAmt/Amt")
    if el is None:
        return None
    value = _decimal(el.text)
    return (value, el.get("Ccy") or "") if value is not None else None


def _charges(v: _View) -> Decimal | None:
    total = _decimal(v.t("Chrgs/TtlChrgsAndTaxAmt"))
    if total is not None:
        return total
    amounts = [_decimal(a) for a in v.texts("Chrgs/Rcrd/Amt")] or [_decimal(a) for a in v.texts("Chrgs/Amt")]
    found = [a for a in amounts if a is not None]
    return sum(found, Decimal(0)) if found else None


def _instructed(v: _View) -> tuple[Decimal, str] | None:
    amt = v.el("AmtDtls/InstdAmt/Amt")
    if amt is None:
        return None
    value = _decimal(amt.text)
    return (value, amt.get("Ccy") or "") if value is not None else None


def _tx_code(n: _View) -> str | None:
    domain = n.t("BkTxCd/Domn/Cd")
    if domain:
        parts = [domain, n.t("BkTxCd/Domn/Fmly/Cd"), n.t("BkTxCd/Domn/Fmly/SubFmlyCd")]
        return "/".join(x for x in parts if x)
    return n.t("BkTxCd/Prtry/Cd")


def parse_camt(source: str | Path | BinaryIO, *, head: bytes | None = None) -> ParsedStatement:
    """Read a camt.052/053/054 file (streamed), or raise :class:`StatementRejected`.

    ``head`` is the file's first bytes when the caller already read them
    (format detection); otherwise they are read here.
    """
    if head is None:
        if isinstance(source, str | Path):
            with Path(source).open("rb") as fh:
                head = fh.read(8192)
        else:
            raise TypeError("give head= with a file object")
    found = sniff(head)
    if found is None:
        raise StatementRejected(
            "not an ISO 20022 camt.052/053/054 document (no camt namespace or root element)",
            code=ErrorCode.STATEMENT_UNKNOWN_FORMAT,
        )
    message, ns = found
    reader = _Reader(ns, message)
    result = ParsedStatement(format=message)
    containers = 0
    index = 0
    for el in iter_elements(source, ("Ntry", *_CONTAINERS)):
        if el.tag in reader.containers:
            containers += 1
            continue
        for item in reader.entry(el, index):
            if isinstance(item, Unreadable):
                result.unreadable.append(item)
            else:
                result.lines.append(item)
        index += 1
    if containers == 0:
        raise StatementRejected(
            f"the {message} document has no statement, notification or report (Stmt/Ntfctn/Rpt)"
        )
    return result
