"""Notice data for the notify tests: one per kind, in either language."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from notify.models import (
    Company,
    DocumentInfo,
    InvoiceSummary,
    Lang,
    NoticeData,
    NoticeKind,
    Recipient,
    Resubmission,
)
from schemas.findings import Finding, Layer, Severity
from schemas.lifecycle import ReasonCode, Status

XSS = "<script>alert('x')</script>"

FINDINGS: dict[NoticeKind, tuple[Finding, ...]] = {
    NoticeKind.NO_STRUCTURED_DATA: (),
    NoticeKind.UNREADABLE: (
        Finding(
            rule_id="XML_NOT_WELL_FORMED",
            severity=Severity.FATAL,
            layer=Layer.SAFETY,
            message="Opening and ending tag mismatch: Invoice line 40 and Inv",
            line=40,
            explanation_fr="Le fichier XML est tronqué ou mal formé (ligne 40).",
            explanation_en="The XML file is truncated or malformed (line 40).",
            hint_fr="Exportez de nouveau la facture depuis votre logiciel, sans la modifier.",
            hint_en="Export the invoice again from your software, without editing it.",
        ),
    ),
    NoticeKind.INVALID: (
        Finding(
            rule_id="BR-CO-10",
            severity=Severity.FATAL,
            layer=Layer.SCHEMATRON,
            message="[BR-CO-10]-Sum of Invoice line net amount (BT-106) = Σ line net amount (BT-131).",
            terms=("BT-106", "BT-131"),
            value="1250.00",
            explanation_fr="Le total des lignes ne correspond pas à la somme des montants des lignes.",
            explanation_en="The lines total does not equal the sum of the line amounts.",
            hint_fr="Recalculez le total des lignes : il doit valoir 1200,00.",
            hint_en="Recompute the lines total: it must be 1200.00.",
        ),
        Finding(
            rule_id="BR-FR-12",
            severity=Severity.FATAL,
            layer=Layer.FRENCH,
            message="the seller's SIREN is invalid",
            terms=("BT-30",),
            value=XSS,
            explanation_fr="Le SIREN du vendeur est invalide.",
            explanation_en="The seller's SIREN is invalid.",
            hint_fr="Indiquez les 9 chiffres du SIREN figurant sur votre extrait Kbis.",
            hint_en="Give the 9 digits of the SIREN on your Kbis extract.",
        ),
        Finding(
            rule_id="BR-FR-W-03",
            severity=Severity.WARNING,
            layer=Layer.FRENCH,
            message="the buyer's electronic address should be given",
            terms=("BT-49",),
            explanation_fr="L'adresse électronique de l'acheteur devrait figurer.",
            explanation_en="The buyer's electronic address should be given.",
        ),
    ),
    NoticeKind.REFUSED: (
        Finding(
            rule_id="ACME-PO-REQUIRED",
            severity=Severity.FATAL,
            layer=Layer.CUSTOMER,
            message="purchase order required",
            terms=("BT-13",),
            value="",
            explanation_fr="Acme exige la référence du bon de commande.",
            explanation_en="Acme requires the purchase order reference.",
            hint_fr="Indiquez le numéro de bon de commande Acme (PO-123456).",
            hint_en="Give the Acme purchase order number (PO-123456).",
        ),
    ),
}

STATUS: dict[NoticeKind, tuple[Status, tuple[ReasonCode, ...]]] = {
    NoticeKind.NO_STRUCTURED_DATA: (Status.IRRECEVABLE, (ReasonCode.IRR_TYPE_F,)),
    NoticeKind.UNREADABLE: (Status.IRRECEVABLE, (ReasonCode.IRR_SYNTAX,)),
    NoticeKind.INVALID: (Status.REJETEE, (ReasonCode.REJ_SEMAN,)),
    NoticeKind.REFUSED: (Status.REFUSEE, (ReasonCode.CMD_ERR,)),
}


def notice(kind: NoticeKind, lang: Lang = "fr", **overrides: Any) -> NoticeData:
    status, reasons = STATUS[kind]
    readable = kind in (NoticeKind.INVALID, NoticeKind.REFUSED)
    fields: dict[str, Any] = {
        "kind": kind,
        "recipient": Recipient(name="Jeanne Fournier", email="compta@fournisseur.example", language=lang),
        "company": Company(name="Acme SAS", email="factures@acme.example", reference="FRN-0042"),
        "document": DocumentInfo(
            document_id="doc-7f3a",
            file_name="F-2026-0117.pdf" if kind is not NoticeKind.UNREADABLE else "F-2026-0117.xml",
            received_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        ),
        "invoice": InvoiceSummary(
            number="F-2026-0117",
            issue_date=date(2026, 11, 19),
            total_with_vat=Decimal("1440.00"),
            currency="EUR",
        )
        if readable
        else InvoiceSummary(),
        "status": status,
        "reasons": reasons,
        "findings": FINDINGS[kind],
        "resubmit": Resubmission(
            portal_url="https://portail.acme.example/depot", email="factures@acme.example"
        ),
        "issued_at": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return NoticeData(**fields)
