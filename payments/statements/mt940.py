"""SWIFT MT940 (and MT942 interim) statement reader.

A small reader of our own: the ``mt-940`` package reads most of the corpus
but stops on the ING and SNS/ASN dialects (statement numbers and references
wrapped over several lines, counterparty text on the ``:61:`` second line).

What is read: ``:20:``/``:28C:`` (statement id), ``:25:`` (account), ``:60F:``
(currency), each ``:61:`` with the ``:86:`` that follows it. ``:86:`` comes in
three shapes, recognised in this order:

* German structured (``166?00GUTSCHRIFT?20EREF+…?32Name``): ``?20``-``?29`` and
  ``?60``-``?63`` are the remittance text (SEPA keywords ``EREF+``, ``SVWZ+``,
  ``ABWA+``… split out), ``?30``/``?31`` the payer's bank and account, ``?32``/``?33``
  the name;
* Dutch structured (``/EREF/…//CNTP/IBAN/BIC/NAME/CITY///REMI/USTD//text/``,
  also ``/NAME/``, ``/IBAN/``, ``/RTRN/`` return reasons, ``/REMI/STRD/CUR/ref``
  structured references);
* free text, joined line by line.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from payments.statements.iban import normalise_iban
from payments.statements.model import ParsedStatement, StatementLine, StatementRejected, Unreadable
from payments.statements.text import join_segments
from schemas.errors import ErrorCode

KNOWN_TAGS = frozenset(
    {"20", "21", "25", "28", "28C", "60F", "60M", "61", "86", "62F", "62M", "64", "65", "NS", "13", "13D"}
    | {"34F", "90D", "90C", "940", "942"}
)
_TAG = re.compile(r"^:([0-9]{2,4}[A-Z]?|NS):", re.MULTILINE)
_BLOCKS = re.compile(r"\{[1235]:[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")
_F61 = re.compile(
    r"(?P<vdate>\d{6})(?P<edate>\d{4}|\s{4})?\n?(?P<mark>RC|RD|EC|ED|C|D)(?P<funds>[A-Z])?\n?"
    r"(?P<amount>\d[\d\n]*(?:,[\d\n]*?)?)\n?(?P<type>[A-Z][A-Z0-9 ]{3})(?P<rest>.*)",
    re.DOTALL,
)
_NL_TAGS = (
    "EREF|CNTP|REMI|RTRN|MARF|CSID|PREF|ORDP|BENM|NAME|ADDR|IBAN|BIC|ISDT|TRCD|ULTD|ULTC|ULTB|PURP|TRTP|"
    "SUM|RTYP|CREF|BUSP|OCMT|CHGS|EXCH|NRTX|ID"
)
_NL_FIELD = re.compile(rf"(?:^|/)({_NL_TAGS})/")
_DE_SUB = re.compile(r"\?(\d\d)")
_SEPA_KEYS = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|COAM|OAMT)\+")
_IBAN_LIKE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")


def decode(data: bytes) -> str:
    """Text of an MT940 file: UTF-8 when it is, else Windows-1252 (banks' usual)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def looks_like_mt940(text: str) -> bool:
    """Whether the text has the tags of an MT940/942 statement."""
    head = text[:4096]
    return head.lstrip().startswith("{1:") or bool(
        re.search(r"^:(20|25|28C?|60[FM]|61|940):", head, re.MULTILINE)
    )


def _fields(text: str) -> list[tuple[str, str]]:
    text = _BLOCKS.sub("", text)
    text = re.sub(r"^\{4:\s*$", "", text, flags=re.MULTILINE)
    text = re.sub(r"^:\n(\d\d[A-Z]?:)", r":\1", text, flags=re.MULTILINE)  # ':' and '86:' on two lines
    out: list[tuple[str, str]] = []
    pieces = _TAG.split(text)
    for i in range(1, len(pieces), 2):
        body = pieces[i + 1]
        body = re.sub(r"\n-\}?\s*\Z|\n-\s*\n.*\Z", "", body.rstrip("\n"), flags=re.DOTALL)
        out.append((pieces[i], body.rstrip("\n")))
    return out


def _amount(raw: str) -> Decimal:
    try:
        return Decimal(raw.replace("\n", "").replace(",", "."))
    except InvalidOperation:
        raise StatementRejected(f"amount {raw!r} is not a number") from None


def _date6(raw: str) -> dt.date:
    try:
        return dt.date(2000 + int(raw[:2]), int(raw[2:4]), int(raw[4:6]))
    except ValueError:
        raise StatementRejected(f"date {raw!r} is not YYMMDD") from None


def _parse_61(body: str) -> dict[str, object]:
    m = _F61.match(body)
    if not m:
        raise StatementRejected(f":61: line {body.splitlines()[0][:40]!r} does not have the MT940 layout")
    value = _date6(m["vdate"])
    booking = value
    if m["edate"] and m["edate"].strip():
        month, day = int(m["edate"][:2]), int(m["edate"][2:])
        year = value.year + (
            1 if month == 1 and value.month == 12 else -1 if month == 12 and value.month == 1 else 0
        )
        try:
            booking = dt.date(year, month, day)
        except ValueError:
            raise StatementRejected(f"entry date {m['edate']!r} is not MMDD") from None
    mark = m["mark"]
    sign = 1 if mark in ("C", "RD", "EC") else -1
    rest: str = m["rest"]
    first, _, supplementary = rest.partition("\n")
    customer_ref, sep, bank_ref = first.partition("//")
    if sep:
        lines = supplementary.split("\n") if supplementary else []
        while (
            lines and len(bank_ref) < 16 and lines[0] and " " not in lines[0] and not lines[0].startswith("/")
        ):
            if len(bank_ref) + len(lines[0]) > 16:
                break
            bank_ref += lines.pop(0)
        supplementary = "\n".join(lines)
    return {
        "value_date": value,
        "booking_date": booking,
        "amount": sign * _amount(m["amount"]),
        "type": m["type"],
        "customer_ref": customer_ref.strip(),
        "bank_ref": bank_ref.strip() or None,
        "supplementary": supplementary.replace("\n", "").strip(),
    }


def _german(body: str) -> dict[str, object]:
    joined = body.replace("\n", "")
    parts = _DE_SUB.split(joined)
    sub: dict[str, list[str]] = {}
    for i in range(1, len(parts), 2):
        sub.setdefault(parts[i], []).append(parts[i + 1])
    text_parts = [
        v for k in [*(f"{n}" for n in range(20, 30)), "60", "61", "62", "63"] for v in sub.get(k, [])
    ]
    text = join_segments(text_parts, 27)
    keyed: dict[str, str] = {}
    pieces = _SEPA_KEYS.split(text)
    if len(pieces) > 1:
        for i in range(1, len(pieces), 2):
            keyed[pieces[i]] = (keyed.get(pieces[i], "") + " " + pieces[i + 1]).strip()
    remittance = text
    if "SVWZ" in keyed:  # the purpose proper, with any free text before the keywords
        remittance = f"{pieces[0].strip()} {keyed['SVWZ']}".strip()
    name = join_segments(sub.get("32", []) + sub.get("33", []), 27) or keyed.get("ABWA")
    account = "".join(sub.get("31", [])).strip()
    bank = "".join(sub.get("30", [])).strip()
    e2e = keyed.get("EREF")
    return {
        "remittance": remittance,
        "counterparty_name": name or None,
        "counterparty_iban": normalise_iban(account) or normalise_iban(keyed.get("IBAN")),
        "counterparty_bic": bank if re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", bank) else None,
        "end_to_end_id": None if e2e in (None, "NOTPROVIDED") else e2e,
        "posting_text": " ".join(sub.get("00", [])).strip() or None,
    }


def _dutch(body: str) -> dict[str, object]:
    joined = body.replace("\n", "")
    marks = list(_NL_FIELD.finditer(joined))
    values: dict[str, str] = {}
    for k, m in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(joined)
        values.setdefault(m.group(1), joined[m.end() : end])
    out: dict[str, object] = {}
    refs: list[str] = []
    remi = values.get("REMI", "")
    if remi.startswith("STRD/"):
        ref = remi.split("/")[-2] if remi.endswith("/") else remi.split("/")[-1]
        refs.append(ref)
        remi = ""
    elif remi.startswith("USTD//"):
        remi = remi[6:]
    out["remittance"] = remi.strip("/ ")
    out["creditor_refs"] = tuple(refs)
    cntp = values.get("CNTP") or values.get("BENM") or values.get("ORDP")
    if cntp is not None:
        bits = cntp.split("/")
        out["counterparty_iban"] = normalise_iban(bits[0]) if bits else None
        out["counterparty_bic"] = bits[1] or None if len(bits) > 1 else None
        out["counterparty_name"] = bits[2].strip() or None if len(bits) > 2 else None
    if values.get("NAME"):
        out["counterparty_name"] = values["NAME"].strip("/ ") or out.get("counterparty_name")
    if values.get("IBAN"):
        out["counterparty_iban"] = normalise_iban(values["IBAN"].strip("/"))
    if values.get("BIC"):
        out["counterparty_bic"] = values["BIC"].strip("/ ") or None
    eref = values.get("EREF", "").strip("/ ")
    out["end_to_end_id"] = None if eref in ("", "NOTPROVIDED") else eref
    rtrn = values.get("RTRN", "").strip("/ ")
    out["return_reason"] = rtrn.split("/")[0] or None
    return out


def _details(body: str) -> dict[str, object]:
    compact = body.replace("\n", "")
    if re.match(r"\d{3}\?", compact) or compact.startswith("?"):
        return _german(body)
    if _NL_FIELD.match(compact) or compact.startswith("/"):
        return _dutch(body)
    text = " ".join(" ".join(line.split()) for line in body.split("\n"))
    return {"remittance": " ".join(text.split())}


def parse_mt940(data: bytes) -> ParsedStatement:
    """Read an MT940/MT942 file, or raise :class:`StatementRejected` saying why."""
    text = decode(data)
    fields = _fields(text)
    if not fields:
        raise StatementRejected(
            "not an MT940 statement: no :20:/:25:/:61: tags", code=ErrorCode.STATEMENT_UNKNOWN_FORMAT
        )
    unknown = sorted({tag for tag, _ in fields} - KNOWN_TAGS)
    if unknown:
        raise StatementRejected(f"not an MT940 statement: unknown tag :{unknown[0]}:")
    if not any(tag in ("60F", "60M", "61") for tag, _ in fields):
        raise StatementRejected(
            "not an MT940 statement: no opening balance (:60F:) and no transaction (:61:)"
        )
    result = ParsedStatement(format="mt940")
    ctx: dict[str, str | None] = {"ref": None, "number": None, "account": None, "iban": None, "ccy": None}
    pending: dict[str, object] | None = None
    count = 0

    def flush(details: dict[str, object] | None) -> None:
        nonlocal pending
        if pending is None:
            return
        line = pending
        pending = None
        info = details or {}
        supplementary = str(line.pop("supplementary") or "")
        customer_ref = str(line.pop("customer_ref") or "")
        line.pop("type")
        iban = info.get("counterparty_iban")
        if iban is None and _IBAN_LIKE.match(customer_ref):
            iban = normalise_iban(customer_ref)
        if iban is None and _IBAN_LIKE.match(supplementary):
            iban = normalise_iban(supplementary)
        name = info.get("counterparty_name")
        if (
            not name
            and re.search(r"[^\W\d_]", supplementary)
            and not supplementary.startswith("/")
            and not _IBAN_LIKE.match(supplementary)
        ):
            name = supplementary
        bank_ref = line.pop("bank_ref")
        statement_id = "/".join(x for x in (ctx["ref"], ctx["number"]) if x) or None
        if not ctx["ccy"]:
            where = f":61: number {count}"
            result.unreadable.append(
                Unreadable("no currency: the statement has no balance (:60F:/:34F:)", where)
            )
            return
        result.lines.append(
            StatementLine(
                booking_date=line["booking_date"],  # type: ignore[arg-type]
                value_date=line["value_date"],  # type: ignore[arg-type]
                amount=line["amount"],  # type: ignore[arg-type]
                currency=ctx["ccy"] or "",
                counterparty_name=str(name) if name else None,
                counterparty_iban=str(iban) if iban else None,
                counterparty_bic=info.get("counterparty_bic"),  # type: ignore[arg-type]
                remittance=str(info.get("remittance") or ""),
                creditor_refs=info.get("creditor_refs", ()),  # type: ignore[arg-type]
                end_to_end_id=info.get("end_to_end_id"),  # type: ignore[arg-type]
                bank_ref=None if bank_ref in (None, "NONREF") else str(bank_ref),
                return_reason=info.get("return_reason"),  # type: ignore[arg-type]
                bank_tx_code=str(info.get("posting_text") or "") or None,
                account_iban=ctx["iban"],
                account_id=ctx["iban"] or ctx["account"],
                statement_id=statement_id,
            )
        )

    for tag, body in fields:
        if tag == "86" and pending is not None:
            flush(_details(body))
            continue
        flush(None)
        if tag == "20":
            ctx.update(ref=body.strip(), number=None)
        elif tag == "28C" or tag == "28":
            ctx["number"] = body.replace("\n", "").strip()
        elif tag == "25":
            acct = body.replace("\n", "").strip()
            ccy = re.search(r"(?<=[0-9 ])([A-Z]{3})$", acct)
            if ccy:  # 'NL77INGB0574908765EUR', 'NL34RABO0142623393 EUR'
                ctx["ccy"] = ccy.group(1)
                acct = acct[:-3].strip()
            ctx["iban"] = normalise_iban(acct)
            ctx["account"] = acct
        elif tag in ("60F", "60M", "34F", "90D", "90C"):
            m = re.match(r"(?:[CD]\d{6}|\d*)([A-Z]{3})", body.strip())
            if m:
                ctx["ccy"] = m.group(1)
        elif tag == "61":
            count += 1
            try:
                pending = _parse_61(body)
            except StatementRejected as exc:
                result.unreadable.append(Unreadable(exc.message, f":61: number {count}"))
    flush(None)
    return result
