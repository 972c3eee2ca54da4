"""CDAR lifecycle messages: written ones pass the D22B XSD and the BR-FR-CDV FATAL schematron,
and every official example reads back into events that survive a write/read round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from ingest.safexml import parse_trusted_file, parse_xml
from schemas.cdar import (
    GUIDELINE_PPF,
    NSMAP,
    CdarRejected,
    build_cdar,
    phase,
    ppf_message,
    read_cdar,
    write_cdar,
)
from schemas.errors import ErrorCode
from schemas.lifecycle import (
    ActionCode,
    Actor,
    ActorKind,
    Identifier,
    InvoiceReference,
    LifecycleEvent,
    MessageInfo,
    Party,
    PartyRole,
    ReasonNotAllowed,
    Status,
    StatusReason,
    transition,
)

CDAR = Path("fr/cdar")
SVRL = "http://purl.oclc.org/dsdl/svrl"

SELLER = Party(
    role=PartyRole.SELLER,
    ids=(Identifier(value="100000009", scheme="0002"),),
    name="LE VENDEUR",
    address=Identifier(value="100000009_STATUTS", scheme="0225"),
)
BUYER = Party(
    role=PartyRole.BUYER,
    ids=(Identifier(value="200000008", scheme="0002"),),
    name="LE CLIENT",
    address=Identifier(value="200000008", scheme="0225"),
)
INVOICE = InvoiceReference(
    invoice_number="F2026-0042",
    issue_date=date(2026, 9, 1),
    seller=SELLER,
    buyer=BUYER,
    received_at=datetime(2026, 9, 1, 15, 10, tzinfo=UTC),
)
JOB = Actor(kind=ActorKind.JOB, id="decide")
AT = datetime(2026, 9, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def xsd(corpus: Path) -> etree.XMLSchema:
    tree = parse_trusted_file(corpus / CDAR / "xsd" / "CrossDomainAcknowledgementAndResponse_100pD22B.xsd")
    return etree.XMLSchema(tree)


@pytest.fixture(scope="module")
def schematron(corpus: Path) -> Any:
    saxonche = pytest.importorskip("saxonche")
    proc = saxonche.PySaxonProcessor(license=False)
    exe = proc.new_xslt30_processor().compile_stylesheet(
        stylesheet_file=str(corpus / CDAR / "schematron" / "BR-FR-CDV-Schematron-CDAR.xslt")
    )

    def run(xml: bytes) -> list[str]:
        node = proc.parse_xml(xml_text=xml.decode("utf-8"))
        svrl = parse_xml(exe.transform_to_string(xdm_node=node).encode("utf-8"))
        fired = svrl.findall(f"{{{SVRL}}}fired-rule")
        assert fired, "the schematron fired no rule: it did not see a CDAR message"
        return [
            f"{fa.get('id')}: {' '.join(''.join(str(t) for t in fa.itertext()).split())}"
            for fa in svrl.iter(f"{{{SVRL}}}failed-assert")
            if fa.get("flag") in (None, "fatal")
        ]

    return run


def _event(status: Status) -> LifecycleEvent:
    """One realistic event per status, built through the state machine."""
    if status is Status.DEPOSEE:
        return transition(None, status, invoice=INVOICE, actor=JOB, at=AT)
    if status is Status.MISE_A_DISPOSITION:
        return transition(Status.RECUE, status, invoice=INVOICE, actor=JOB, at=AT)
    if status is Status.REJETEE:
        return transition(
            None, status, invoice=INVOICE, actor=JOB, at=AT, reasons=["REJ_SEMAN", "CALCUL_ERR"]
        )
    if status is Status.EN_LITIGE:
        reason = StatusReason(code="TX_TVA_ERR", action=ActionCode.NIN)  # type: ignore[arg-type]
        return transition(
            Status.PRISE_EN_CHARGE,
            status,
            invoice=INVOICE,
            actor=Actor(kind=ActorKind.USER, id="ap-clerk@example.fr"),
            at=AT,
            reasons=[reason],
            free_text="Le taux de TVA de la ligne 2 doit être 20 %",
        )
    if status is Status.REFUSEE:
        return transition(
            Status.MISE_A_DISPOSITION,
            status,
            invoice=INVOICE,
            actor=JOB,
            at=AT,
            reasons=["CMD_ERR", "REF_CT_ABSENT"],
        )
    if status is Status.ENCAISSEE:
        return transition(
            Status.PAIEMENT_TRANSMIS,
            status,
            invoice=INVOICE,
            actor=JOB,
            at=AT,
            amount=Decimal("12000.00"),
            vat_rate=Decimal("20.00"),
        )
    if status is Status.RECUE:
        return transition(None, status, invoice=INVOICE, actor=JOB, at=AT)
    if status is Status.IRRECEVABLE:
        unreadable = InvoiceReference(invoice_number="scan-0042.pdf", seller=SELLER)
        return transition(None, status, invoice=unreadable, actor=JOB, at=AT, reasons=["IRR_SYNTAX"])
    raise AssertionError(status)


PRODUCED = [
    Status.DEPOSEE,
    Status.MISE_A_DISPOSITION,
    Status.EN_LITIGE,
    Status.REFUSEE,
    Status.ENCAISSEE,
    Status.REJETEE,
    Status.RECUE,
    Status.IRRECEVABLE,
]


@pytest.mark.parametrize("status", PRODUCED, ids=[s.value for s in PRODUCED])
def test_produced_messages_are_valid(status: Status, xsd: etree.XMLSchema, schematron: Any) -> None:
    event = _event(status)
    data = write_cdar(event)
    root = parse_xml(data)
    assert xsd.validate(root), str(xsd.error_log)
    assert schematron(data) == []
    assert (
        root.findtext(".//ram:ReferenceReferencedDocument/ram:ProcessConditionCode", namespaces=NSMAP)
        == status
    )
    assert root.findtext("rsm:AcknowledgementDocument/ram:TypeCode", namespaces=NSMAP) == phase(status)
    (back,) = read_cdar(root, actor=JOB)
    assert back.status is status
    assert back.reason_codes == event.reason_codes
    assert back.timestamp == event.timestamp
    assert back.invoice.invoice_number == event.invoice.invoice_number
    assert back.invoice.issue_date == event.invoice.issue_date
    assert back.invoice.seller_siren == "100000009"
    assert back.invoice.buyer == (
        None if event.invoice.buyer is None else Party(role=PartyRole.BUYER, ids=BUYER.ids)
    )
    assert back.amount == event.amount
    assert back.free_text == event.free_text


@pytest.mark.parametrize("status", [Status.DEPOSEE, Status.REJETEE, Status.REFUSEE, Status.ENCAISSEE])
def test_mandatory_statuses_for_the_ppf(status: Status, xsd: etree.XMLSchema, schematron: Any) -> None:
    """The four mandatory statuses, in the PPF flavour (platform named, sole recipient 0238/0000)."""
    platform = Party(role=PartyRole.PLATFORM, ids=(Identifier(value="0042", scheme="0238"),), name="Encaisse")
    event = _event(status).model_copy(update={"sender": platform})
    data = write_cdar(event, message=ppf_message(name="statut PPF"))
    root = parse_xml(data)
    assert xsd.validate(root), str(xsd.error_log)
    assert schematron(data) == []
    (back,) = read_cdar(root)
    assert [p.ids for p in back.recipients] == [(Identifier(value="0000", scheme="0238"),)]
    assert back.message is not None and back.message.business_process is None
    with pytest.raises(CdarRejected):
        write_cdar(event, message=MessageInfo(guideline=GUIDELINE_PPF))


def test_the_checks_can_fail(xsd: etree.XMLSchema, schematron: Any) -> None:
    """A refusal carrying a rejection reason, and a 212 without its amount, are caught."""
    root = build_cdar(_event(Status.REFUSEE))
    code = root.find(".//ram:SpecifiedDocumentStatus/ram:ReasonCode", NSMAP)
    assert code is not None
    code.text = "REJ_SEMAN"
    failed = schematron(etree.tostring(root, encoding="UTF-8"))
    assert any(f.startswith("BR-FR-CDV-CL-09_MDT-113_210:") for f in failed), failed

    root = build_cdar(_event(Status.ENCAISSEE))
    status = root.find(".//ram:SpecifiedDocumentStatus", NSMAP)
    assert status is not None
    status.getparent().remove(status)  # type: ignore[union-attr]
    assert any(f.startswith("BR-FR-CDV-14") for f in schematron(etree.tostring(root, encoding="UTF-8")))

    root = build_cdar(_event(Status.DEPOSEE))
    exchanged = root.find("rsm:ExchangedDocument", NSMAP)
    assert exchanged is not None
    for recipient in exchanged.findall("ram:RecipientTradeParty", NSMAP):
        exchanged.remove(recipient)  # the XSD requires at least one recipient
    assert not xsd.validate(root)


def test_writer_refuses_incomplete_events() -> None:
    no_rate = _event(Status.ENCAISSEE).model_copy(update={"vat_rate": None})
    with pytest.raises(CdarRejected) as info:
        write_cdar(no_rate)
    assert info.value.code is ErrorCode.CDAR_INVALID and info.value.where == "MDT-224"
    anonymous = _event(Status.REFUSEE).model_copy(
        update={"invoice": INVOICE.model_copy(update={"buyer": None})}
    )
    with pytest.raises(CdarRejected):
        write_cdar(anonymous)
    with pytest.raises(CdarRejected):
        write_cdar(
            _event(Status.DEPOSEE).model_copy(update={"invoice": InvoiceReference(invoice_number="X")})
        )


# ------------------------------------------------------------------ the official examples


def _examples(corpus: Path) -> list[Path]:
    found = sorted((corpus / CDAR / "examples").glob("*.xml"))
    assert len(found) == 11, found
    return found


def _meaning(event: LifecycleEvent) -> dict[str, Any]:
    inv = event.invoice
    return {
        "status": event.status,
        "reasons": [(r.code, r.text, r.action, r.action_text) for r in event.reasons],
        "timestamp": event.timestamp,
        "message": event.message,
        "invoice": (inv.invoice_number, inv.issue_date, inv.type_code, inv.received_at),
        "seller": inv.seller,
        "buyer": inv.buyer,
        "parties": (event.sender, event.issuer, event.recipients),
        "amounts": (event.amount, event.currency, event.vat_rate, event.payment_date),
        "characteristics": event.characteristics,
        "free_text": event.free_text,
    }


def test_official_examples_round_trip(corpus: Path, xsd: etree.XMLSchema, schematron: Any) -> None:
    seen: set[Status] = set()
    for path in _examples(corpus):
        original = read_cdar(parse_xml(path.read_bytes()))
        assert len(original) == 1, path.name
        event = original[0]
        seen.add(event.status)
        assert path.name.split("CDV-", 1)[1].startswith(event.status.value), path.name
        data = write_cdar(event)
        assert xsd.validate(parse_xml(data)), (path.name, str(xsd.error_log))
        assert schematron(data) == [], path.name
        again = read_cdar(parse_xml(data))
        assert [_meaning(e) for e in again] == [_meaning(e) for e in original], path.name
    assert seen == {Status(c) for c in ("200", "202", "203", "204", "205", "207", "211", "212")}


def test_examples_read_into_the_right_values(corpus: Path) -> None:
    by_name = {p.name: read_cdar(parse_xml(p.read_bytes()))[0] for p in _examples(corpus)}
    cashed = by_name["UC1_F202500003_07-CDV-212_Encaissee.xml"]
    assert (
        cashed.amount == Decimal("12000") and cashed.currency == "EUR" and cashed.vat_rate == Decimal("20.00")
    )
    assert cashed.timestamp == datetime(2025, 8, 2, 10, 0, tzinfo=UTC)
    assert cashed.invoice.issue_date == date(2025, 7, 1) and cashed.invoice.seller_siren == "100000009"
    assert cashed.issuer is not None and cashed.issuer.role is PartyRole.SELLER
    assert [r.role for r in cashed.recipients] == [PartyRole.BUYER, PartyRole.PPF]
    paid = by_name["UC1_F202500003_06-CDV-211_Paiement_transmis.xml"]
    assert paid.amount == Decimal("12000") and paid.payment_date == date(2025, 7, 30)
    dispute = by_name["UC4_F202500006_04-CDV-207_En_litige.xml"]
    assert dispute.reasons == (
        StatusReason(
            code="TX_TVA_ERR",
            text="Taux de TVA erroné",
            action="NIN",
            action_text="Créer une Facture Rectificative",
        ),  # type: ignore[arg-type]
    )
    assert [c.type_code for c in dispute.characteristics] == ["DIV", "DVA"]
    assert [c.percent for c in dispute.characteristics] == [Decimal("10.00"), Decimal("20.00")]
    ppf = by_name["UC1_F202500003_01-CDV-200_Deposee_POUR_PPF.xml"]
    assert ppf.message is not None and ppf.message.guideline.endswith("einvoicingF2")
    assert ppf.message.business_process is None
    assert ppf.actor.kind is ActorKind.SYSTEM


def test_reader_rejects_what_is_not_a_lifecycle_message(corpus: Path) -> None:
    with pytest.raises(CdarRejected):
        read_cdar(parse_xml(b"<Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'/>"))
    sample = (corpus / CDAR / "examples" / "UC4_F202500006_04-CDV-207_En_litige.xml").read_bytes()
    with pytest.raises(CdarRejected):
        read_cdar(parse_xml(sample.replace(b">207<", b">250<")))  # a status we do not handle
    with pytest.raises(ReasonNotAllowed):
        read_cdar(parse_xml(sample.replace(b">TX_TVA_ERR<", b">IRR_SYNTAX<")))
    with pytest.raises(CdarRejected):
        read_cdar(parse_xml(sample.replace(b"20250701180000", b"2025-07-01T18")))
