"""``encaisse sample``: realistic synthetic invoices in every format, some with known defects.

:func:`generate_samples` writes Factur-X PDFs (MINIMUM, BASIC WL, BASIC,
EN 16931, EXTENDED), CII XML, UBL Invoice and CreditNote XML and a few plain
PDFs, and a ``manifest.json`` saying what each file should give: its format
and profile, whether it is valid, the fatal rule ids a validator must report
for its one deliberate defect, and the invoice summary
(:meth:`schemas.invoice.Invoice.summary`) a parser must read. The same seed
always gives the same bytes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, Field

from ingest.facturx_pdf import to_facturx_pdf
from ingest.generate_cii import to_cii
from ingest.generate_ubl import to_ubl
from ingest.kinds import DocumentKind, Profile
from ingest.render import Lang, render_pdf
from ingest.sample_data import make_invoice, money
from schemas.errors import ErrorCode
from schemas.invoice import Invoice

MANIFEST_NAME: Final = "manifest.json"


class SampleEntry(BaseModel):
    """What one generated file is and what reading and validating it must give."""

    path: str = Field(description="file name, relative to the output folder")
    format: DocumentKind
    profile: Profile | None = None
    lang: str = "fr"
    expected_valid: bool = Field(description="expected verdict of a full validation")
    defect: str | None = Field(default=None, description="the deliberate defect, when there is one")
    fatal_rule_ids: list[str] = Field(default_factory=list, description="rule ids a validator must report")
    error_code: ErrorCode | None = Field(
        default=None, description="expected rejection code, for unreadable input"
    )
    invoice: dict[str, Any] | None = Field(
        default=None,
        description="expected Invoice.summary() of the parsed file; for a plain PDF, what its page shows",
    )


@dataclass(frozen=True)
class Defect:
    """One deliberate defect: how it is made, and what the official rules report for it.

    ``ids`` maps a context (``ubl``, or the CII profile: ``basic``, ``en16931``,
    ``extended``) to the fatal rule ids the default rule set reports there; a
    defect is only handed out in the contexts listed. ``fr_ids`` are the
    French (BR-FR) rule ids added for French sellers.
    """

    name: str
    ids: dict[str, tuple[str, ...]]
    apply: Callable[[Invoice], None] | None = None
    fr_ids: tuple[str, ...] = ()
    error_code: ErrorCode | None = None
    #: further ids, per context, when the invoice has document-level allowances or charges
    allowance_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def expected_ids(self, context: str, french: bool, allowances: bool = False) -> list[str]:
        """The fatal rule ids a validator must report for this defect in that context."""
        more = self.allowance_ids.get(context, ()) if allowances else ()
        return sorted({*self.ids.get(context, ()), *(self.fr_ids if french else ()), *more})


def _wrong_total(inv: Invoice) -> None:
    # BT-112 and BT-115 move together so that only BR-CO-15 breaks, not BR-CO-16.
    step = Decimal("10.00")
    inv.totals.total_with_vat = (inv.totals.total_with_vat or Decimal(0)) + step
    inv.totals.amount_due = (inv.totals.amount_due or Decimal(0)) + step


def _no_buyer_name(inv: Invoice) -> None:
    inv.buyer.name = None


def _no_due_date(inv: Invoice) -> None:
    inv.due_date = None
    inv.payment_terms = None


def _wrong_line_amount(inv: Invoice) -> None:
    # BT-106 moves away from the sum of the lines; BT-109 and BT-112 follow it so that only BR-CO-10 breaks.
    inv.totals.line_total = (inv.totals.line_total or Decimal(0)) + Decimal("1.00")
    inv.totals.total_without_vat = (inv.totals.total_without_vat or Decimal(0)) + Decimal("1.00")
    inv.totals.total_with_vat = (inv.totals.total_with_vat or Decimal(0)) + Decimal("1.00")
    inv.totals.amount_due = inv.totals.total_with_vat


def _wrong_vat_base(inv: Invoice) -> None:
    # The category base moves by 100 and everything that follows from it is recomputed,
    # so only the rule tying the base to the lines (BR-S-08) breaks.
    vb = inv.vat_breakdown[0]
    vb.taxable_amount = (vb.taxable_amount or Decimal(0)) + Decimal("100.00")
    vb.tax_amount = money(vb.taxable_amount * (vb.rate or Decimal(0)) / 100)
    total_vat = sum((v.tax_amount or Decimal(0) for v in inv.vat_breakdown), Decimal(0))
    inv.totals.total_vat = total_vat
    inv.totals.total_with_vat = (inv.totals.total_without_vat or Decimal(0)) + total_vat
    inv.totals.amount_due = inv.totals.total_with_vat


def _bad_currency(inv: Invoice) -> None:
    inv.currency = "EUX"


def _no_seller_vat(inv: Invoice) -> None:
    inv.seller.vat_id = None


_XML_ONLY: Final[dict[str, tuple[str, ...]]] = {"ubl": (), "basic": (), "en16931": (), "extended": ()}

#: The defects, in the order they are handed out, with the fatal rule ids the
#: default rule set (factur-x 7.8: Factur-X 1.09 profile schematrons for CII,
#: the CEN schematron it ships for UBL, BR-FR Flux 2) reports for each. The
#: BASIC profile schematron names its rules FX-SCH-A-*, the EXTENDED one has
#: BR-FXEXT-* variants; the ids below were checked against those stylesheets.
DEFECTS: Final[tuple[Defect, ...]] = (
    Defect(
        "total-mismatch",
        {
            "ubl": ("BR-CO-15",),
            "basic": ("FX-SCH-A-000121",),
            "en16931": ("BR-CO-15",),
            "extended": ("BR-FXEXT-CO-15",),
        },
        _wrong_total,
    ),
    Defect(
        "missing-buyer-name",
        {
            "ubl": ("BR-07",),
            "basic": ("FX-SCH-A-000016", "FX-SCH-A-000030"),
            "en16931": ("BR-07", "FX-SCH-A-000030"),
            "extended": ("BR-07", "FX-SCH-A-000030"),
        },
        _no_buyer_name,
    ),
    # Only the EXTENDED stylesheet checks BR-CO-25 (the 1.09 BASIC and EN 16931 ones and the
    # UBL one shipped by factur-x 7.8 do not), so this defect is only made there.
    Defect("missing-due-date", {"extended": ("BR-CO-25",)}, _no_due_date),
    Defect(
        "line-sum-mismatch",
        {
            "ubl": ("BR-CO-10",),
            "basic": ("FX-SCH-A-000226",),
            "en16931": ("BR-CO-10",),
            "extended": ("BR-FXEXT-CO-10", "BR-FXEXT-CO-13"),
        },
        _wrong_line_amount,
    ),
    Defect(
        "vat-category-sum",
        {
            "ubl": ("BR-S-08",),
            "basic": ("FX-SCH-A-000198",),
            "en16931": ("BR-S-08",),
            "extended": ("BR-FXEXT-S08b",),
        },
        _wrong_vat_base,
    ),
    Defect(
        "invalid-currency",
        {
            "ubl": ("BR-CL-03", "BR-CL-04"),
            "basic": ("FX-SCH-A-000040", "FX-SCH-A-000045"),
            "en16931": ("FX-SCH-A-000595", "FX-SCH-A-000606"),
            "extended": ("FX-SCH-A-000861", "FX-SCH-A-001006"),
        },
        _bad_currency,
        fr_ids=("BR-FR-CO-12_BT-5",),
    ),
    Defect(
        "missing-seller-vat",
        {
            "ubl": ("BR-S-02",),
            "basic": ("FX-SCH-A-000249",),
            "en16931": ("BR-S-02",),
            "extended": ("BR-S-02",),
        },
        _no_seller_vat,
        # a standard-rated document allowance needs the seller's VAT number too (BR-S-03)
        allowance_ids={
            "ubl": ("BR-S-03",),
            "basic": ("FX-SCH-A-000095",),
            "en16931": ("BR-S-03",),
            "extended": ("BR-S-03",),
        },
    ),
    Defect("truncated-xml", _XML_ONLY, None, error_code=ErrorCode.XML_NOT_WELL_FORMED),
    Defect("unknown-root", _XML_ONLY, None, error_code=ErrorCode.XML_UNKNOWN_ROOT),
)

#: The formats handed out in turn; a run of 12 files holds every one of them.
PLAN: Final[tuple[tuple[DocumentKind, Profile | None], ...]] = (
    (DocumentKind.FACTURX_PDF, Profile.EN16931),
    (DocumentKind.CII_XML, Profile.EN16931),
    (DocumentKind.UBL_INVOICE, None),
    (DocumentKind.FACTURX_PDF, Profile.BASIC),
    (DocumentKind.UBL_CREDITNOTE, None),
    (DocumentKind.FACTURX_PDF, Profile.MINIMUM),
    (DocumentKind.FACTURX_PDF, Profile.EXTENDED),
    (DocumentKind.CII_XML, Profile.EXTENDED),
    (DocumentKind.FACTURX_PDF, Profile.BASIC_WL),
    (DocumentKind.PLAIN_PDF, None),
    (DocumentKind.CII_XML, Profile.BASIC),
    (DocumentKind.UBL_INVOICE, None),
)

_XML_KINDS: Final = {DocumentKind.CII_XML, DocumentKind.UBL_INVOICE, DocumentKind.UBL_CREDITNOTE}
_UBL_KINDS: Final = {DocumentKind.UBL_INVOICE, DocumentKind.UBL_CREDITNOTE}


def _context(kind: DocumentKind, profile: Profile | None) -> str | None:
    """The defect context of a file: ``ubl``, the CII profile, or None when no defect fits."""
    if kind in _UBL_KINDS:
        return "ubl"
    if kind is DocumentKind.PLAIN_PDF or profile is None:
        return None
    return profile.value


def _can_carry(kind: DocumentKind, profile: Profile | None, defect: Defect) -> bool:
    context = _context(kind, profile)
    if context is None or context not in defect.ids:
        return False
    return defect.error_code is None or kind in _XML_KINDS


def _as_read(inv: Invoice, kind: DocumentKind, profile: Profile | None) -> Invoice:
    """The invoice as a parser will read it back from a file of that profile."""
    out = inv.model_copy(deep=True)
    if profile is Profile.MINIMUM:
        out.due_date = None
        out.payment_terms = None
    return out


def _truncate(xml: bytes) -> bytes:
    return xml[: len(xml) * 3 // 5]


def _unknown_root(xml: bytes) -> bytes:
    for root in (b"CrossIndustryInvoice", b"CreditNote", b"Invoice"):
        if b"<" + root in xml or b":" + root in xml:
            return xml.replace(root + b" ", b"PurchaseOrder ", 1).replace(root + b">", b"PurchaseOrder>")
    return xml


def _file_bytes(
    inv: Invoice, kind: DocumentKind, profile: Profile | None, lang: Lang, defect: Defect | None
) -> tuple[bytes, str]:
    if kind is DocumentKind.PLAIN_PDF:
        return render_pdf(inv, lang=lang, pdf_variant=None), "pdf"
    if kind is DocumentKind.FACTURX_PDF:
        assert profile is not None
        return to_facturx_pdf(inv, profile=profile, lang=lang), "pdf"
    xml = to_cii(inv, profile=profile or Profile.EN16931) if kind is DocumentKind.CII_XML else to_ubl(inv)
    if defect is not None and defect.name == "truncated-xml":
        xml = _truncate(xml)
    elif defect is not None and defect.name == "unknown-root":
        xml = _unknown_root(xml)
    return xml, "xml"


def _pick_defects(rng: random.Random, count: int, invalid_share: float) -> dict[int, Defect]:
    wanted = round(count * invalid_share)
    kinds = [PLAN[i % len(PLAN)] for i in range(count)]
    eligible = [
        i for i, (kind, profile) in enumerate(kinds) if any(_can_carry(kind, profile, d) for d in DEFECTS)
    ]
    chosen = sorted(rng.sample(eligible, min(wanted, len(eligible))))
    out: dict[int, Defect] = {}
    turn = rng.randrange(len(DEFECTS))
    for index in chosen:
        kind, profile = kinds[index]
        for _ in range(len(DEFECTS)):
            candidate = DEFECTS[turn % len(DEFECTS)]
            turn += 1
            if _can_carry(kind, profile, candidate):
                out[index] = candidate
                break
    return out


def plan(
    count: int, *, seed: int = 0, invalid_share: float = 0.2
) -> list[tuple[DocumentKind, Profile | None, str | None]]:
    """What :func:`generate_samples` writes, without writing it: (format, profile, defect name) per file."""
    defects = _pick_defects(random.Random(seed * 7919 + 17), count, invalid_share)
    out: list[tuple[DocumentKind, Profile | None, str | None]] = []
    for index in range(count):
        kind, profile = PLAN[index % len(PLAN)]
        defect = defects.get(index)
        out.append((kind, profile, defect.name if defect else None))
    return out


def generate_samples(
    out_dir: Path,
    count: int,
    *,
    seed: int = 0,
    invalid_share: float = 0.2,
    progress: Callable[[], None] | None = None,
) -> list[SampleEntry]:
    """Write ``count`` sample invoices and their ``manifest.json`` into ``out_dir``.

    About ``invalid_share`` of the structured files carry one deliberate defect
    each (plain PDFs and MINIMUM / BASIC WL files are always left intact).
    Deterministic: the same arguments give byte-identical files. ``progress`` is
    called once per file written.
    """
    if count < 0:
        raise ValueError("count must be zero or more")
    if not 0.0 <= invalid_share <= 1.0:
        raise ValueError("invalid_share must be between 0 and 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    defects = _pick_defects(random.Random(seed * 7919 + 17), count, invalid_share)
    entries: list[SampleEntry] = []
    for index in range(count):
        kind, profile = PLAN[index % len(PLAN)]
        inv = make_invoice(rng, index, credit_note=kind is DocumentKind.UBL_CREDITNOTE)
        lang: Lang = "fr" if inv.seller.address and inv.seller.address.country_code == "FR" else "en"
        defect = defects.get(index)
        if defect is not None and defect.apply is not None:
            defect.apply(inv)
        data, ext = _file_bytes(inv, kind, profile, lang, defect)
        name = f"{index + 1:04d}-{kind.value}{'-' + profile.value if profile else ''}.{ext}"
        (out_dir / name).write_bytes(data)
        readable = defect is None or defect.error_code is None
        entries.append(
            SampleEntry(
                path=name,
                format=kind,
                profile=profile,
                lang=lang,
                expected_valid=defect is None and kind is not DocumentKind.PLAIN_PDF,
                defect=defect.name if defect else None,
                fatal_rule_ids=defect.expected_ids(
                    _context(kind, profile) or "", lang == "fr", bool(inv.allowances_charges)
                )
                if defect
                else [],
                error_code=defect.error_code
                if defect
                else (ErrorCode.PDF_NO_ATTACHMENT if kind is DocumentKind.PLAIN_PDF else None),
                invoice=_as_read(inv, kind, profile).summary() if readable else None,
            )
        )
        if progress is not None:
            progress()
    manifest = {
        "generator": "encaisse sample",
        "seed": seed,
        "count": count,
        "invalid_share": invalid_share,
        "files": [e.model_dump(mode="json") for e in entries],
    }
    (out_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return entries


def load_manifest(out_dir: Path) -> list[SampleEntry]:
    """The entries of a ``manifest.json`` written by :func:`generate_samples`."""
    data = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    return [SampleEntry.model_validate(item) for item in data["files"]]
