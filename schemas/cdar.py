"""Lifecycle events as CDAR messages (UN/CEFACT Cross Domain Acknowledgement and Response D22B).

The French platforms exchange lifecycle statuses ("CDV", flux 6) as CDAR D22B messages
("uncoupled" XSD), constrained by FNFE's BR-FR-CDV schematron. The layout written here
follows the official commented examples of XP Z12-012 Annexe B V1.4
(``../shared/corpus/fr/cdar/examples/``) and the notes of that annex (§1.2):

* MDT-2 / MDT-3 context (``REGULATED`` / ``urn.cpro.gouv.fr:1p0:CDV:invoice``; the
  ``einvoicingF2`` profile only for a message whose sole recipient is the PPF, 0238/0000),
* MDT-4 id, MDT-5 name, MDT-8 creation time, sender (MDG-9), issuer (MDG-10: who sets
  the status) and recipients (MDG-13, with their electronic address MDT-73 unless WK/DFH),
* MDT-77 phase: 305 for transmission statuses (sender and issuer are platforms, WK),
  23 for processing statuses (the issuer is identified by its GlobalID),
* MDT-78 status time, the referenced invoice (MDT-87 number, MDT-88 document status,
  MDT-91 type, MDT-95 receipt time, MDT-100 issue date, MDT-105/106 status, MDT-129
  seller), and status details (MDG-37: MDT-113/114 reason, MDT-121/122 action,
  MDT-124-2 sequence, MDG-43 characteristics such as MEN for 212).

Date-times use format 204 (``CCYYMMDDHHMMSS``) without a zone; this module writes them
in UTC and reads them as UTC unless told otherwise.

Writing builds the tree with lxml; reading takes an element that the caller parsed with
``ingest.safexml.parse_xml`` (``schemas`` imports nothing of ours).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation

from lxml import etree

from schemas.errors import ErrorCode, InputRejected
from schemas.lifecycle import (
    ActionCode,
    Actor,
    ActorKind,
    CharacteristicType,
    DocumentCharacteristic,
    Identifier,
    InvoiceReference,
    LifecycleEvent,
    MessageInfo,
    Party,
    PartyRole,
    ReasonCode,
    Status,
    StatusReason,
    check_amount,
    check_reasons,
)

RSM = "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}

GUIDELINE_INVOICE = "urn.cpro.gouv.fr:1p0:CDV:invoice"
GUIDELINE_PPF = "urn.cpro.gouv.fr:1p0:CDV:einvoicingF2"
PHASE_TRANSMISSION = "305"
PHASE_PROCESSING = "23"

#: MDT-88 (document status, UNCL 1373) per status: from the official examples
#: (200→10, 202→43, 203→48, 204→45, 205→1, 207→46, 211→47, 212→47) and, for 206, 208,
#: 209 and 210, XP Z12-012 Annexe A as reproduced in Akretion's Odoo module. MDT-88 is
#: optional (BR-FR-CDV-CL-05 "si présent"): it is left out where no source gives it.
DOCUMENT_STATUS_CODES: dict[Status, str] = {
    Status.DEPOSEE: "10",
    Status.RECUE: "43",
    Status.MISE_A_DISPOSITION: "48",
    Status.PRISE_EN_CHARGE: "45",
    Status.APPROUVEE: "1",
    Status.APPROUVEE_PARTIELLEMENT: "49",
    Status.EN_LITIGE: "46",
    Status.SUSPENDUE: "39",
    Status.COMPLETEE: "37",
    Status.REFUSEE: "50",
    Status.PAIEMENT_TRANSMIS: "47",
    Status.ENCAISSEE: "47",
}

#: Statuses set by the seller's side in the processing phase (the others by the buyer's).
SELLER_SET: frozenset[Status] = frozenset({Status.COMPLETEE, Status.ENCAISSEE, Status.ANNULEE})

_FMT_DATETIME = "%Y%m%d%H%M%S"
_FMT_DATE = "%Y%m%d"


#: The PPF data hub as the single recipient of a mandatory status (BR-FR-CDV-02: 0238 = 0000).
PPF = Party(role=PartyRole.PPF, ids=(Identifier(value="0000", scheme="0238"),), name="PPF")


def ppf_message(**fields: object) -> MessageInfo:
    """The envelope of a status sent to the PPF (profile ``einvoicingF2``, no MDT-2).

    >>> ppf_message().guideline
    'urn.cpro.gouv.fr:1p0:CDV:einvoicingF2'
    """
    return MessageInfo.model_validate({"business_process": None, **fields, "guideline": GUIDELINE_PPF})


class CdarRejected(InputRejected):
    """A CDAR message cannot be read, or an event cannot be written as one."""

    code = ErrorCode.CDAR_INVALID


def phase(status: Status) -> str:
    """MDT-77 for ``status``: 305 (transmission) or 23 (processing).

    >>> phase(Status.RECUE), phase(Status.ENCAISSEE)
    ('305', '23')
    """
    return PHASE_TRANSMISSION if status.is_transmission else PHASE_PROCESSING


# --------------------------------------------------------------------------- writing


def _q(prefix: str, name: str) -> str:
    return f"{{{NSMAP[prefix]}}}{name}"


def _sub(parent: etree._Element, name: str, text: str | None = None, **attrib: str) -> etree._Element:
    prefix, local = name.split(":")
    el = etree.SubElement(parent, _q(prefix, local), attrib or None)
    if text is not None:
        el.text = text
    return el


def _datetime(parent: etree._Element, name: str, value: datetime) -> None:
    holder = _sub(parent, name)
    _sub(holder, "udt:DateTimeString", value.astimezone(UTC).strftime(_FMT_DATETIME), format="204")


def _party(parent: etree._Element, name: str, party: Party, *, with_role: bool = True) -> None:
    el = _sub(parent, name)
    for ident in party.ids:
        if ident.scheme:
            _sub(el, "ram:GlobalID", ident.value, schemeID=ident.scheme)
        else:
            _sub(el, "ram:ID", ident.value)
    if party.name:
        _sub(el, "ram:Name", party.name)
    if with_role:
        _sub(el, "ram:RoleCode", party.role.value)
    if party.address is not None:
        uri = _sub(el, "ram:URIUniversalCommunication")
        attrs = {"schemeID": party.address.scheme} if party.address.scheme else {}
        _sub(uri, "ram:URIID", party.address.value, **attrs)


def _decimal(value: Decimal) -> str:
    return format(value, "f")


def _default_issuer(event: LifecycleEvent) -> Party:
    if event.status.is_transmission:
        return Party(role=PartyRole.PLATFORM)
    inv = event.invoice
    side = inv.seller if event.status in SELLER_SET else inv.buyer
    role = PartyRole.SELLER if event.status in SELLER_SET else PartyRole.BUYER
    if side is None or not side.ids:
        raise CdarRejected(
            f"status {event.status} is set by the {role.name.lower()}, whose identifier "
            "(MDT-38) is unknown: give the invoice's seller/buyer ids or the event's issuer",
            where="MDT-38",
        )
    return Party(role=role, ids=side.ids, name=side.name)


def _default_recipients(event: LifecycleEvent) -> tuple[Party, ...]:
    inv = event.invoice
    to_buyer = not event.status.is_transmission and event.status in SELLER_SET
    side = inv.buyer if to_buyer else inv.seller
    role = PartyRole.BUYER if to_buyer else PartyRole.SELLER
    if side is None or side.address is None:
        raise CdarRejected(
            f"the {role.name.lower()} must receive status {event.status}, but its electronic "
            "address (MDT-73) is unknown: give it on the invoice reference or the event's recipients",
            where="MDT-73",
        )
    return (Party(role=role, ids=side.ids, name=side.name, address=side.address),)


def _characteristics(event: LifecycleEvent) -> tuple[DocumentCharacteristic, ...]:
    chars = event.characteristics
    if event.amount is None:
        return chars
    kind = CharacteristicType.MEN if event.status is Status.ENCAISSEE else CharacteristicType.MPA
    if any(c.type_code is kind for c in chars):
        return chars
    if kind is CharacteristicType.MEN and event.vat_rate is None:
        raise CdarRejected(
            "a 212 Encaissée message needs the VAT rate of the amount cashed (MDT-224, "
            "BR-FR-CDV-14): set vat_rate on the event",
            where="MDT-224",
        )
    made = DocumentCharacteristic(
        type_code=kind,
        value_changed=False,
        amount=event.amount,
        currency=event.currency or "EUR",
        value_date=event.payment_date if kind is CharacteristicType.MPA else None,
        percent=event.vat_rate,
    )
    return (made, *chars)


def _write_characteristic(parent: etree._Element, char: DocumentCharacteristic) -> None:
    el = _sub(parent, "ram:SpecifiedDocumentCharacteristic")
    if char.id:
        _sub(el, "ram:ID", char.id)
    _sub(el, "ram:TypeCode", char.type_code.value)
    if char.value_changed is not None:
        ind = _sub(el, "ram:ValueChangedIndicator")
        _sub(ind, "udt:IndicatorString", "true" if char.value_changed else "false")
    if char.name:
        _sub(el, "ram:Name", char.name)
    if char.location:
        _sub(el, "ram:Location", char.location)
    if char.value is not None:
        _sub(el, "ram:Value", char.value)
    if char.amount is not None:
        attrs = {"currencyID": char.currency} if char.currency else {}
        _sub(el, "ram:ValueAmount", _decimal(char.amount), **attrs)
    if char.value_date is not None:
        holder = _sub(el, "ram:ValueDateTime")
        _sub(holder, "udt:DateTimeString", char.value_date.strftime(_FMT_DATE), format="102")
    if char.percent is not None:
        _sub(el, "ram:ValuePercent", _decimal(char.percent))


def build_cdar(event: LifecycleEvent, *, message: MessageInfo | None = None) -> etree._Element:
    """The CDAR message for ``event``, as an lxml element.

    ``message`` (else ``event.message``, else defaults) gives the envelope: id (default
    the event id), name, creation time (default the event time), MDT-2 and MDT-3.
    Raises :class:`CdarRejected` when the event lacks what the FATAL schematron requires
    (an issuer id for a processing status, a recipient's electronic address, a VAT rate
    for 212) and the lifecycle errors when its reasons or amount do not suit its status.
    """
    check_reasons(event.status, event.reasons, b2g=event.b2g)
    check_amount(event.status, event.amount)
    info = message or event.message or MessageInfo()
    inv = event.invoice
    to_ppf = info.guideline == GUIDELINE_PPF
    if to_ppf and len(info.business_process or "") > 3:
        raise CdarRejected(
            "a message for the PPF (einvoicingF2) carries no MDT-2 longer than 3 characters "
            "(BR-FR-CDV-CL-01): use ppf_message()",
            where="MDT-2",
        )
    if event.status is not Status.IRRECEVABLE and inv.issue_date is None:
        raise CdarRejected("the invoice issue date (MDT-100, BT-2) is required", where="MDT-100")
    seller_ids = inv.seller.ids if inv.seller is not None else ()
    if event.status is not Status.IRRECEVABLE and not any(i.scheme for i in seller_ids):
        raise CdarRejected(
            "the seller's legal identifier (MDT-129, BT-30 with its scheme) is required",
            where="MDT-129",
        )

    root = etree.Element(_q("rsm", "CrossDomainAcknowledgementAndResponse"), nsmap=NSMAP)
    ctx = _sub(root, "rsm:ExchangedDocumentContext")
    if info.business_process:
        bp = _sub(ctx, "ram:BusinessProcessSpecifiedDocumentContextParameter")
        _sub(bp, "ram:ID", info.business_process)
    gl = _sub(ctx, "ram:GuidelineSpecifiedDocumentContextParameter")
    _sub(gl, "ram:ID", info.guideline)

    doc = _sub(root, "rsm:ExchangedDocument")
    _sub(doc, "ram:ID", info.message_id or event.event_id)
    if info.name:
        _sub(doc, "ram:Name", info.name)
    _datetime(doc, "ram:IssueDateTime", info.created_at or event.timestamp)
    _party(doc, "ram:SenderTradeParty", event.sender or Party(role=PartyRole.PLATFORM))
    _party(doc, "ram:IssuerTradeParty", event.issuer or _default_issuer(event))
    recipients = event.recipients or ((PPF,) if to_ppf else _default_recipients(event))
    for recipient in recipients:
        _party(doc, "ram:RecipientTradeParty", recipient)

    ack = _sub(root, "rsm:AcknowledgementDocument")
    multi = _sub(ack, "ram:MultipleReferencesIndicator")
    _sub(multi, "udt:Indicator", "false")
    _sub(ack, "ram:TypeCode", phase(event.status))
    _datetime(ack, "ram:IssueDateTime", event.timestamp)

    ref = _sub(ack, "ram:ReferenceReferencedDocument")
    _sub(ref, "ram:IssuerAssignedID", inv.invoice_number)
    if event.status in DOCUMENT_STATUS_CODES:
        _sub(ref, "ram:StatusCode", DOCUMENT_STATUS_CODES[event.status])
    _sub(ref, "ram:TypeCode", inv.type_code)
    if inv.received_at is not None:
        _datetime(ref, "ram:ReceiptDateTime", inv.received_at)
    if to_ppf:
        _sub(ref, "ram:ReferenceTypeCode", GUIDELINE_PPF)
    if inv.issue_date is not None:
        holder = _sub(ref, "ram:FormattedIssueDateTime")
        _sub(holder, "qdt:DateTimeString", inv.issue_date.strftime(_FMT_DATE), format="102")
    _sub(ref, "ram:ProcessConditionCode", event.status.value)
    _sub(ref, "ram:ProcessCondition", event.status.label_fr.replace(" ", "_"))
    if seller_ids:
        issuer = _sub(ref, "ram:IssuerTradeParty")
        for ident in seller_ids:
            if ident.scheme:
                _sub(issuer, "ram:GlobalID", ident.value, schemeID=ident.scheme)
    if inv.buyer is not None and any(i.scheme for i in inv.buyer.ids):
        buyer = _sub(ref, "ram:RecipientTradeParty")
        for ident in inv.buyer.ids:
            if ident.scheme:
                _sub(buyer, "ram:GlobalID", ident.value, schemeID=ident.scheme)
        _sub(buyer, "ram:RoleCode", PartyRole.BUYER.value)

    chars = _characteristics(event)
    blocks: list[StatusReason | None] = list(event.reasons)
    if not blocks and (chars or event.free_text):
        blocks = [None]
    for seq, reason in enumerate(blocks, start=1):
        st = _sub(ref, "ram:SpecifiedDocumentStatus")
        if reason is not None:
            _sub(st, "ram:ReasonCode", reason.code.value)
            _sub(st, "ram:Reason", reason.text if reason.text is not None else reason.code.label_fr)
            if reason.action is not None:
                _sub(st, "ram:RequestedActionCode", reason.action.value)
                text = reason.action_text if reason.action_text is not None else reason.action.label_fr
                _sub(st, "ram:RequestedAction", text)
        _sub(st, "ram:SequenceNumeric", str(seq))
        if seq == 1:
            if event.free_text:
                note = _sub(st, "ram:IncludedNote")
                _sub(note, "ram:Content", event.free_text)
            for char in chars:
                _write_characteristic(st, char)
    return root


def write_cdar(event: LifecycleEvent, *, message: MessageInfo | None = None) -> bytes:
    """The CDAR message for ``event``, serialised as UTF-8 XML with a declaration."""
    root = build_cdar(event, message=message)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --------------------------------------------------------------------------- reading


def _text(el: etree._Element, path: str) -> str | None:
    found = el.find(path, NSMAP)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _parse_datetime(el: etree._Element, path: str, zone: tzinfo) -> datetime | None:
    holder = el.find(path, NSMAP)
    if holder is None:
        return None
    node = holder.find("udt:DateTimeString", NSMAP)
    if node is None:
        node = holder.find("qdt:DateTimeString", NSMAP)
    if node is None or not (node.text or "").strip():
        return None
    raw = (node.text or "").strip()
    fmt = node.get("format", "204")
    try:
        if fmt == "204":
            return datetime.strptime(raw, _FMT_DATETIME).replace(tzinfo=zone).astimezone(UTC)
        if fmt == "102":
            return datetime.strptime(raw, _FMT_DATE).replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        pass
    raise CdarRejected(f"date-time {raw!r} does not match format {fmt}", where=path)


def _parse_date(el: etree._Element, path: str) -> date | None:
    raw = _text(el, path)
    if raw is None:
        return None
    try:
        return datetime.strptime(raw, _FMT_DATE).date()
    except ValueError:
        raise CdarRejected(f"date {raw!r} is not CCYYMMDD (format 102)", where=path) from None


def _parse_decimal(raw: str | None, where: str) -> Decimal | None:
    if raw is None:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise CdarRejected(f"{raw!r} is not a number", where=where) from None


def _ids(el: etree._Element) -> tuple[Identifier, ...]:
    out = [
        Identifier(value=(g.text or "").strip(), scheme=g.get("schemeID"))
        for g in el.findall("ram:GlobalID", NSMAP)
    ]
    out += [Identifier(value=(i.text or "").strip(), scheme=None) for i in el.findall("ram:ID", NSMAP)]
    return tuple(i for i in out if i.value)


def _read_party(el: etree._Element | None, where: str, default_role: PartyRole | None = None) -> Party | None:
    if el is None:
        return None
    role_text = _text(el, "ram:RoleCode")
    try:
        role = PartyRole(role_text) if role_text else default_role
    except ValueError:
        raise CdarRejected(f"party role {role_text!r} is not a CDAR role code", where=where) from None
    if role is None:
        raise CdarRejected("party role code (RoleCode) is missing", where=where)
    uri = el.find("ram:URIUniversalCommunication/ram:URIID", NSMAP)
    address = None
    if uri is not None and (uri.text or "").strip():
        address = Identifier(value=(uri.text or "").strip(), scheme=uri.get("schemeID"))
    return Party(role=role, ids=_ids(el), name=_text(el, "ram:Name"), address=address)


def _read_characteristic(el: etree._Element, where: str) -> DocumentCharacteristic:
    type_text = _text(el, "ram:TypeCode")
    try:
        kind = CharacteristicType(type_text or "")
    except ValueError:
        raise CdarRejected(
            f"characteristic type {type_text!r} is not in BR-FR-CDV-CL-11", where=where
        ) from None
    changed = _text(el, "ram:ValueChangedIndicator/udt:IndicatorString")
    if changed is None:
        changed = _text(el, "ram:ValueChangedIndicator/udt:Indicator")
    amount_el = el.find("ram:ValueAmount", NSMAP)
    value_dt = el.find("ram:ValueDateTime/udt:DateTimeString", NSMAP)
    value_date = None
    if value_dt is not None and (value_dt.text or "").strip():
        raw = (value_dt.text or "").strip()
        try:
            value_date = datetime.strptime(raw[:8], _FMT_DATE).date()
        except ValueError:
            raise CdarRejected(f"date {raw!r} is not CCYYMMDD", where=where) from None
    return DocumentCharacteristic(
        type_code=kind,
        id=_text(el, "ram:ID"),
        value_changed=None if changed is None else changed.lower() == "true",
        name=_text(el, "ram:Name"),
        location=_text(el, "ram:Location"),
        value=_text(el, "ram:Value"),
        amount=_parse_decimal(_text(el, "ram:ValueAmount"), f"{where}/ValueAmount"),
        currency=None if amount_el is None else amount_el.get("currencyID"),
        value_date=value_date,
        percent=_parse_decimal(_text(el, "ram:ValuePercent"), f"{where}/ValuePercent"),
    )


@dataclass(frozen=True)
class _Header:
    message: MessageInfo
    sender: Party | None
    issuer: Party | None
    recipients: tuple[Party, ...]


def _read_reference(
    ref: etree._Element,
    where: str,
    *,
    header: _Header,
    event_id: str,
    status_time: datetime,
    zone: tzinfo,
    actor: Actor,
) -> LifecycleEvent:
    code = _text(ref, "ram:ProcessConditionCode")
    if code is None:
        raise CdarRejected("the status code (MDT-105) is missing", where=f"{where}/ProcessConditionCode")
    try:
        status = Status(code)
    except ValueError:
        raise CdarRejected(
            f"status code {code!r} is not one Encaisse handles ({', '.join(s.value for s in Status)})",
            where=f"{where}/ProcessConditionCode",
        ) from None
    number = _text(ref, "ram:IssuerAssignedID")
    if number is None:
        raise CdarRejected("the invoice number (MDT-87) is missing", where=f"{where}/IssuerAssignedID")
    seller_el = ref.find("ram:IssuerTradeParty", NSMAP)
    seller = _read_party(seller_el, f"{where}/IssuerTradeParty", PartyRole.SELLER)
    buyer_el = next(
        (r for r in ref.findall("ram:RecipientTradeParty", NSMAP) if _text(r, "ram:RoleCode") == "BY"),
        None,
    )
    buyer = _read_party(buyer_el, f"{where}/RecipientTradeParty", PartyRole.BUYER)

    reasons: list[StatusReason] = []
    chars: list[DocumentCharacteristic] = []
    notes: list[str] = []
    for n, st in enumerate(ref.findall("ram:SpecifiedDocumentStatus", NSMAP), start=1):
        st_where = f"{where}/SpecifiedDocumentStatus[{n}]"
        reason_code = _text(st, "ram:ReasonCode")
        if reason_code is not None:
            action_code = _text(st, "ram:RequestedActionCode")
            try:
                reasons.append(
                    StatusReason(
                        code=ReasonCode(reason_code),
                        text=_text(st, "ram:Reason"),
                        action=ActionCode(action_code) if action_code else None,
                        action_text=_text(st, "ram:RequestedAction"),
                    )
                )
            except ValueError:
                raise CdarRejected(
                    f"reason {reason_code!r} or action {action_code!r} is not in the closed lists "
                    "(BR-FR-CDV-CL-09, BR-FR-CDV-CL-10)",
                    where=st_where,
                ) from None
        notes += [c for c in (_text(x, "ram:Content") for x in st.findall("ram:IncludedNote", NSMAP)) if c]
        chars += [
            _read_characteristic(c, f"{st_where}/SpecifiedDocumentCharacteristic[{i}]")
            for i, c in enumerate(st.findall("ram:SpecifiedDocumentCharacteristic", NSMAP), start=1)
        ]
    kind = {Status.ENCAISSEE: CharacteristicType.MEN, Status.PAIEMENT_TRANSMIS: CharacteristicType.MPA}
    money = [c for c in chars if c.type_code is kind.get(status) and c.amount is not None]
    amount = sum((c.amount for c in money if c.amount is not None), Decimal(0)) if money else None
    rates = {c.percent for c in money if c.percent is not None}
    dates = {c.value_date for c in money if c.value_date is not None}

    invoice = InvoiceReference(
        invoice_number=number,
        issue_date=_parse_date(ref, "ram:FormattedIssueDateTime/qdt:DateTimeString"),
        type_code=_text(ref, "ram:TypeCode") or "380",
        seller=seller,
        buyer=buyer,
        received_at=_parse_datetime(ref, "ram:ReceiptDateTime", zone),
    )
    sender = header.sender
    b2g = sender is not None and any(i.scheme == "0238" and i.value == "9999" for i in sender.ids)
    event = LifecycleEvent(
        event_id=event_id,
        invoice=invoice,
        status=status,
        reasons=tuple(reasons),
        free_text="\n".join(notes) or None,
        actor=actor,
        timestamp=status_time,
        amount=amount,
        currency=money[0].currency if money else None,
        vat_rate=rates.pop() if len(rates) == 1 else None,
        payment_date=dates.pop() if len(dates) == 1 else None,
        characteristics=tuple(chars),
        sender=sender,
        issuer=header.issuer,
        recipients=header.recipients,
        b2g=b2g,
        message=header.message,
    )
    check_reasons(event.status, event.reasons, b2g=b2g)
    check_amount(event.status, event.amount)
    return event


def read_cdar(
    root: etree._Element,
    *,
    actor: Actor | None = None,
    zone: tzinfo = UTC,
) -> list[LifecycleEvent]:
    """The lifecycle events of a CDAR message, one per referenced document.

    ``root`` must come from ``ingest.safexml.parse_xml`` (never parse untrusted XML
    elsewhere). ``actor`` records who imported it (default: the system, ``cdar-import``);
    ``zone`` is the zone of the message's date-times (format 204 carries none).
    Raises :class:`CdarRejected` for a message that is not a readable CDAR lifecycle
    message, and the lifecycle errors for reasons or amounts that break BR-FR-CDV.
    """
    if root.tag != _q("rsm", "CrossDomainAcknowledgementAndResponse"):
        raise CdarRejected(
            f"root element {root.tag!r} is not a CDAR CrossDomainAcknowledgementAndResponse",
            where="/",
        )
    who = actor or Actor(kind=ActorKind.SYSTEM, id="cdar-import")
    doc = root.find("rsm:ExchangedDocument", NSMAP)
    if doc is None:
        raise CdarRejected("ExchangedDocument (MDG-2) is missing", where="/rsm:ExchangedDocument")
    message_id = _text(doc, "ram:ID")
    if message_id is None:
        raise CdarRejected("the message id (MDT-4) is missing", where="/rsm:ExchangedDocument/ram:ID")
    message = MessageInfo(
        message_id=message_id,
        name=_text(doc, "ram:Name"),
        created_at=_parse_datetime(doc, "ram:IssueDateTime", zone),
        business_process=_text(
            root, "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"
        ),
        guideline=_text(
            root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"
        )
        or GUIDELINE_INVOICE,
    )
    header = _Header(
        message=message,
        sender=_read_party(doc.find("ram:SenderTradeParty", NSMAP), "SenderTradeParty"),
        issuer=_read_party(doc.find("ram:IssuerTradeParty", NSMAP), "IssuerTradeParty"),
        recipients=tuple(
            p
            for p in (
                _read_party(r, f"RecipientTradeParty[{i}]")
                for i, r in enumerate(doc.findall("ram:RecipientTradeParty", NSMAP), start=1)
            )
            if p is not None
        ),
    )
    events: list[LifecycleEvent] = []
    acks = root.findall("rsm:AcknowledgementDocument", NSMAP)
    if not acks:
        raise CdarRejected("AcknowledgementDocument (MDG-16) is missing", where="/")
    for a, ack in enumerate(acks, start=1):
        where = f"/rsm:AcknowledgementDocument[{a}]"
        status_time = _parse_datetime(ack, "ram:IssueDateTime", zone) or message.created_at
        if status_time is None:
            raise CdarRejected("the status date-time (MDT-78) is missing", where=f"{where}/IssueDateTime")
        refs = ack.findall("ram:ReferenceReferencedDocument", NSMAP)
        for r, ref in enumerate(refs, start=1):
            several = len(refs) > 1 or len(acks) > 1
            events.append(
                _read_reference(
                    ref,
                    f"{where}/ram:ReferenceReferencedDocument[{r}]",
                    header=header,
                    event_id=f"{message_id}#{a}.{r}" if several else message_id,
                    status_time=status_time,
                    zone=zone,
                    actor=who,
                )
            )
    if not events:
        raise CdarRejected("the message references no document (MDG-33)", where="/")
    return events
