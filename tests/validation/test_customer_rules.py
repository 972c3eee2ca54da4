"""Customers' billing constraints: each rule kind on real invoices, legal payment terms, decide()."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ingest.parse import parse_invoice
from schemas.findings import Finding, Layer, Severity
from schemas.invoice import (
    Attachment,
    CreditTransfer,
    Identifier,
    Invoice,
    Note,
    Party,
    PaymentInstructions,
    Totals,
)
from schemas.lifecycle import ReasonCode, Status, allowed_reasons
from validation import CustomerRule, LayerStatus, validate, validate_many
from validation.rules import (
    EomMethod,
    Rule,
    RuleKind,
    RuleScope,
    RuleSet,
    decide,
    latest_due_date,
    month_end,
    resolve,
    rules_from_file,
    values_of,
)

OUR_SIREN = "404833048"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "rules"
FR_INVOICE = (
    "fr/invoices/FX/BASICWL/Facture_F20260024-LE_FOURNISSEUR-POUR-LE_CLIENT_BASICWL_FX_CII_Commentee.xml"
)


def good_invoice(**changes: Any) -> Invoice:
    """An invoice that meets every rule of both example rule sets."""
    inv = Invoice(
        number="F2026-0001",
        issue_date=date(2026, 1, 15),
        type_code="380",
        currency="EUR",
        due_date=date(2026, 3, 16),
        buyer_reference="SERV-ACHATS",
        contract_reference="CT-2026-01",
        purchase_order_reference="4500123456",
        despatch_advice_reference="BL-778",
        business_process="S1",
        specification_id="urn:cen.eu:en16931:2017",
        notes=[
            Note(subject_code="PMD", text="Pénalités de retard : trois fois le taux d'intérêt légal."),
            Note(subject_code="PMT", text="Indemnité forfaitaire pour frais de recouvrement : 40 €."),
            Note(subject_code="AAB", text="Pas d'escompte pour paiement anticipé."),
        ],
        seller=Party(
            name="Fournisseur SARL",
            legal_registration=Identifier(value="123456782", scheme="0002"),
            vat_id="FR11123456782",
        ),
        buyer=Party(
            name="ACME Industrie",
            legal_registration=Identifier(value=OUR_SIREN, scheme="0002"),
            identifiers=[Identifier(value="40483304800014", scheme="0009")],
            electronic_address=Identifier(value=OUR_SIREN, scheme="0225"),
        ),
        payment=PaymentInstructions(
            means_code="30",
            credit_transfers=[CreditTransfer(account_id="FR7630006000011234567890189", bic="AGRIFRPP")],
        ),
        totals=Totals(
            total_without_vat=Decimal("1000.00"),
            total_vat=Decimal("200.00"),
            total_with_vat=Decimal("1200.00"),
            amount_due=Decimal("1200.00"),
        ),
        attachments=[Attachment(description="Feuille de temps janvier", filename="timesheet.pdf")],
    )
    return inv.model_copy(update=changes)


def rule(
    kind: str, params: dict[str, Any], *, status: str = "210", reason: str = "CMD_ERR", **kw: Any
) -> Rule:
    data: dict[str, Any] = {
        "id": kw.pop("id", f"test-{kind}"),
        "status": status,
        "reason": reason,
        "message_fr": "Message en français.",
        "message_en": "Message in English.",
        "params": {"kind": kind, **params},
        **kw,
    }
    return Rule.model_validate(data)


def buyer(**changes: Any) -> Party:
    return good_invoice().buyer.model_copy(update=changes)


# --------------------------------------------------------------------------- terms


def test_terms_resolve_from_model_metadata() -> None:
    assert resolve("BT-13") == ("purchase_order_reference",)
    assert resolve("BT-12") == ("contract_reference",)
    assert resolve("BT-10") == ("buyer_reference",)
    assert resolve("BT-16") == ("despatch_advice_reference",)
    assert resolve("BT-23") == ("business_process",)
    assert resolve("BT-47") == ("buyer", "legal_registration")
    assert resolve("BT-49") == ("buyer", "electronic_address")
    assert resolve("BT-50") == ("buyer", "address", "line1")  # buyer's term through BUYER_TERMS
    assert resolve("BT-35") == ("seller", "address", "line1")  # not the delivery address
    assert resolve("BT-73") == ("invoice_period_start",)  # the shallowest holder
    assert resolve("BT-125-2") == ("attachments", "filename")
    with pytest.raises(KeyError):
        resolve("BT-999")
    # every top-level term of the model resolves to its own field
    for name in Invoice.model_fields:
        term_id = Invoice.term_of(name)
        if term_id is not None and term_id not in ("BT-73", "BT-74"):
            assert resolve(term_id) == (name,), name


def test_values_of_flattens_lists_and_drops_blanks() -> None:
    inv = good_invoice(buyer_reference="   ")
    assert values_of(inv, "BT-10") == []
    assert values_of(inv, "BT-21") == ["PMD", "PMT", "AAB"]
    assert values_of(inv, "BT-84") == ["FR7630006000011234567890189"]
    assert [i.value for i in values_of(inv, "BT-46")] == ["40483304800014"]


# --------------------------------------------------------------------------- each kind, pass and fail

CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...], str | None]] = [
    # kind, params, changes that break the rule, terms of the finding, offending value
    ("field_required", {"fields": ["BT-13"]}, {"purchase_order_reference": None}, ("BT-13",), None),
    ("field_required", {"fields": ["BT-12"]}, {"contract_reference": ""}, ("BT-12",), None),
    ("field_required", {"fields": ["BT-10"]}, {"buyer_reference": None}, ("BT-10",), None),
    ("field_required", {"fields": ["BT-16"]}, {"despatch_advice_reference": None}, ("BT-16",), None),
    ("field_required", {"fields": ["BT-23"]}, {"business_process": None}, ("BT-23",), None),
    (
        "field_required",
        {"fields": ["BT-16", "BG-24"], "mode": "any"},
        {"despatch_advice_reference": None, "attachments": []},
        ("BT-16", "BG-24"),
        None,
    ),
    (
        "field_format",
        {"field": "BT-13", "pattern": r"4500\d{6}"},
        {"purchase_order_reference": "4500123456X"},  # full match: a valid prefix is not enough
        ("BT-13",),
        "4500123456X",
    ),
    (
        "identifier_valid",
        {"field": "BT-47", "scheme": "siren"},
        {"buyer": buyer(legal_registration=Identifier(value="404833049", scheme="0002"))},
        ("BT-47",),
        "404833049",
    ),
    (
        "identifier_valid",
        {"field": "BT-46", "scheme": "siret"},
        {"buyer": buyer(identifiers=[Identifier(value="40483304800015", scheme="0009")])},
        ("BT-46",),
        "40483304800015",
    ),
    (
        "identifier_valid",
        {"field": "BT-31", "scheme": "vat"},
        {"seller": good_invoice().seller.model_copy(update={"vat_id": "FR12123456782"})},
        ("BT-31",),
        "FR12123456782",
    ),
    (
        "identifier_valid",
        {"field": "BT-84", "scheme": "iban"},
        {
            "payment": PaymentInstructions(
                credit_transfers=[CreditTransfer(account_id="FR7630006000011234567890188")]
            )
        },
        ("BT-84",),
        "FR7630006000011234567890188",
    ),
    (
        "identifier_valid",
        {"field": "BT-86", "scheme": "bic"},
        {"payment": PaymentInstructions(credit_transfers=[CreditTransfer(account_id="x", bic="AGRI1RPP")])},
        ("BT-86",),
        "AGRI1RPP",
    ),
    ("currency_allowed", {"currencies": ["EUR"]}, {"currency": "USD"}, ("BT-5",), "USD"),
    (
        "profile_allowed",
        {"profiles": ["EN16931", "extended"]},
        {"specification_id": "urn:factur-x.eu:1p0:basicwl"},
        ("BT-24",),
        "urn:factur-x.eu:1p0:basicwl",
    ),
    ("payment_terms", {}, {"due_date": date(2026, 3, 17)}, ("BT-9", "BT-2"), "2026-03-17"),
    ("payment_terms", {}, {"due_date": None}, ("BT-9",), None),
    (
        "payment_terms",
        {"method": "end_of_month"},
        {"issue_date": date(2026, 1, 31), "due_date": date(2026, 4, 1)},
        ("BT-9", "BT-2"),
        "2026-04-01",
    ),
    ("legal_notes", {"subjects": ["PMT"]}, {"notes": []}, ("BT-21", "BT-22"), None),
    (
        "po_required_above",
        {"threshold": "1000.00"},
        {"purchase_order_reference": None},
        ("BT-13", "BT-112"),
        "1200.00",
    ),
    ("attachments_required", {"min_count": 1}, {"attachments": []}, ("BG-24",), "0"),
    (
        "attachments_required",
        {"pattern": "bon de livraison|delivery note"},
        {},
        ("BG-24",),
        "0",
    ),
    (
        "buyer_identity",
        {"siren": OUR_SIREN},
        {
            "buyer": buyer(
                legal_registration=Identifier(value="123456782", scheme="0002"),
                identifiers=[],
            )
        },
        ("BT-47", "BT-46"),
        "123456782",
    ),
    (
        "buyer_identity",
        {"electronic_address": OUR_SIREN, "electronic_address_scheme": "0225"},
        {"buyer": buyer(electronic_address=Identifier(value="123456782", scheme="0225"))},
        ("BT-49",),
        "0225:123456782",
    ),
]


@pytest.mark.parametrize(("kind", "params", "changes", "terms", "value"), CASES)
def test_each_kind_passes_and_fails(
    kind: str, params: dict[str, Any], changes: dict[str, Any], terms: tuple[str, ...], value: str | None
) -> None:
    r = rule(kind, params, id=f"r-{kind}")
    assert r.kind is RuleKind(kind)
    assert r(good_invoice()) == [] or (kind == "attachments_required" and "pattern" in params)
    if kind == "attachments_required" and "pattern" in params:
        # the good invoice carries a timesheet, not a delivery note
        passing = good_invoice(attachments=[Attachment(description="Bon de livraison 778")])
        assert r(passing) == []
    found = r(good_invoice(**changes))
    assert len(found) == 1, found
    f = found[0]
    assert f.layer is Layer.CUSTOMER
    assert f.rule_id == f"r-{kind}"
    assert f.severity is Severity.FATAL
    assert f.terms == terms
    assert f.value == value
    assert f.explanation_fr == "Message en français." and f.explanation_en == "Message in English."
    assert f.hint_fr and f.hint_en and "Message in English." in f.message


def test_every_kind_has_a_case() -> None:
    assert {c[0] for c in CASES} == {k.value for k in RuleKind}


def test_field_required_all_mode_reports_each_missing_term() -> None:
    r = rule("field_required", {"fields": ["BT-13", "BT-12", "BT-10"]})
    found = r(good_invoice(purchase_order_reference=None, buyer_reference=None))
    assert [f.terms for f in found] == [("BT-13",), ("BT-10",)]


def test_field_format_bounds_the_text_and_knows_required() -> None:
    r = rule("field_format", {"field": "BT-13", "pattern": r"PO\d+", "max_length": 20})
    long_value = "PO" + "1" * 100_000
    [f] = r(good_invoice(purchase_order_reference=long_value))
    assert "too long" in (f.hint_en or "") and len(f.value or "") < 100
    assert r(good_invoice(purchase_order_reference=None)) == []  # absent and not required
    req = rule("field_format", {"field": "BT-13", "pattern": r"PO\d+", "required": True})
    assert [f.terms for f in req(good_invoice(purchase_order_reference=None))] == [("BT-13",)]
    case = rule("field_format", {"field": "BT-13", "pattern": r"po\d+", "ignore_case": True})
    assert case(good_invoice(purchase_order_reference="PO123")) == []


def test_identifier_valid_skips_other_schemes_and_checks_required() -> None:
    r = rule("identifier_valid", {"field": "BT-46", "scheme": "siret"})
    gln = buyer(identifiers=[Identifier(value="3654789851", scheme="0088")])
    assert r(good_invoice(buyer=gln)) == []  # a GLN is not checked as a SIRET
    required = rule("identifier_valid", {"field": "BT-46", "scheme": "siret", "required": True})
    assert [f.terms for f in required(good_invoice(buyer=gln))] == [("BT-46",)]
    siren = rule("identifier_valid", {"field": "BT-30", "scheme": "siren"})
    assert siren(good_invoice()) == []


def test_currency_and_profile_missing() -> None:
    assert [
        f.terms for f in rule("currency_allowed", {"currencies": ["EUR"]})(good_invoice(currency=None))
    ] == [("BT-5",)]
    prof = rule("profile_allowed", {"profiles": ["en16931"]})
    assert [f.value for f in prof(good_invoice(specification_id=None))] == [None]
    xr = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
    assert prof(good_invoice(specification_id=xr)) == []  # a CIUS of EN 16931 is EN 16931


def test_legal_notes_codes_and_text() -> None:
    r = rule("legal_notes", {"subjects": ["PMD", "PMT", "AAB"]}, reason="NON_CONFORME")
    assert r(good_invoice()) == []
    both = r(good_invoice(notes=[Note(subject_code="AAB", text="Pas d'escompte.")]))
    assert len(both) == 2 and all("BT-21" in f.terms for f in both)
    # no subject code, but the text says it (notes or payment terms BT-20): accepted
    by_text = good_invoice(
        notes=[Note(text="Pénalités de retard au taux légal majoré."), Note(text="Pas d'escompte.")],
        payment_terms="Paiement à 30 jours. Indemnité forfaitaire de recouvrement de 40 euros.",
    )
    assert r(by_text) == []
    strict = rule("legal_notes", {"subjects": ["PMD", "PMT"], "text_fallback": False}, reason="NON_CONFORME")
    assert len(strict(by_text)) == 2
    # a PMT note that does not state the 40 EUR indemnity
    wrong = good_invoice(notes=[*good_invoice().notes[:1], Note(subject_code="PMT", text="Voir nos CGV.")])
    [f] = rule("legal_notes", {"subjects": ["PMD", "PMT"]}, reason="NON_CONFORME")(wrong)
    assert f.value == "Voir nos CGV." and "40 EUR" in (f.hint_en or "")
    lax = rule("legal_notes", {"subjects": ["PMT"], "check_text": False}, reason="NON_CONFORME")
    assert lax(wrong) == []
    custom = rule("legal_notes", {"subjects": ["REG"], "patterns": {"REG": "capital"}}, reason="NON_CONFORME")
    assert len(custom(good_invoice())) == 1
    assert custom(good_invoice(notes=[Note(subject_code="REG", text="SARL au capital de 10 000 EUR")])) == []


def test_po_threshold_edges() -> None:
    r = rule("po_required_above", {"threshold": "1200.00"})
    no_po = {"purchase_order_reference": None}
    assert r(good_invoice(**no_po)) == []  # 1200.00 is not above 1200.00
    over = good_invoice(
        **no_po, totals=Totals(total_with_vat=Decimal("1200.01"), total_without_vat=Decimal("1000"))
    )
    assert [f.value for f in r(over)] == ["1200.01"]
    inclusive = rule("po_required_above", {"threshold": "1200", "inclusive": True})
    assert len(inclusive(good_invoice(**no_po))) == 1
    ht = rule("po_required_above", {"threshold": "1100", "amount_field": "BT-109"})
    assert ht(good_invoice(**no_po)) == []  # BT-109 is 1000.00
    usd_only = rule("po_required_above", {"threshold": "10", "currency": "USD"})
    assert usd_only(good_invoice(**no_po)) == []
    assert isinstance(r.params.threshold, Decimal)  # type: ignore[union-attr]
    floaty = rule("po_required_above", {"threshold": 1200.1})
    assert floaty.params.threshold == Decimal("1200.1")  # type: ignore[union-attr]


def test_buyer_identity_sources_and_missing() -> None:
    r = rule("buyer_identity", {"siren": OUR_SIREN}, status="208", reason="SIRET_ERR")
    via_siret = buyer(
        legal_registration=None, identifiers=[Identifier(value="40483304800014", scheme="0009")]
    )
    assert r(good_invoice(buyer=via_siret)) == []
    nothing = buyer(legal_registration=None, identifiers=[])
    [f] = r(good_invoice(buyer=nothing))
    assert f.value is None and "missing" in (f.hint_en or "")
    addr = rule("buyer_identity", {"electronic_address": OUR_SIREN}, status="208", reason="CODE_ROUTAGE_ERR")
    upper = buyer(electronic_address=Identifier(value=f" {OUR_SIREN} ", scheme="EM"))
    assert addr(good_invoice(buyer=upper)) == []  # no scheme asked: any scheme
    assert len(addr(good_invoice(buyer=buyer(electronic_address=None)))) == 1
    with pytest.raises(ValidationError, match="not a valid SIREN"):
        rule("buyer_identity", {"siren": "404833049"})
    with pytest.raises(ValidationError, match="give siren"):
        rule("buyer_identity", {})


def test_credit_notes_are_left_out_of_payment_terms() -> None:
    r = rule("payment_terms", {})
    assert r(good_invoice(type_code="381", due_date=None)) == []
    assert len(
        rule("payment_terms", {"include_credit_notes": True})(good_invoice(type_code="381", due_date=None))
    )


# --------------------------------------------------------------------------- legal payment terms


@pytest.mark.parametrize(
    ("issue", "expected"),
    [
        (date(2024, 1, 1), date(2024, 3, 1)),  # leap year: 31 + 29 days
        (date(2023, 1, 1), date(2023, 3, 2)),
        (date(2023, 12, 31), date(2024, 2, 29)),
        (date(2024, 12, 31), date(2025, 3, 1)),
        (date(2024, 2, 29), date(2024, 4, 29)),
    ],
)
def test_sixty_days(issue: date, expected: date) -> None:
    assert latest_due_date(issue) == expected


@pytest.mark.parametrize(
    ("issue", "days_then_eom", "eom_then_days"),
    [
        (date(2024, 1, 15), date(2024, 2, 29), date(2024, 3, 16)),  # +45 lands on 29 Feb (leap)
        (date(2023, 1, 15), date(2023, 3, 31), date(2023, 3, 17)),  # +45 lands on 1 March
        (date(2024, 1, 31), date(2024, 3, 31), date(2024, 3, 16)),
        (date(2023, 2, 10), date(2023, 3, 31), date(2023, 4, 14)),
        (date(2024, 2, 29), date(2024, 4, 30), date(2024, 4, 14)),
        (date(2024, 12, 20), date(2025, 2, 28), date(2025, 2, 14)),
        (date(2024, 11, 16), date(2024, 12, 31), date(2025, 1, 14)),  # across the year
    ],
)
def test_45_days_end_of_month(issue: date, days_then_eom: date, eom_then_days: date) -> None:
    assert latest_due_date(issue, end_of_month=True) == days_then_eom
    assert (
        latest_due_date(issue, end_of_month=True, eom_method=EomMethod.MONTH_END_THEN_DAYS) == eom_then_days
    )
    assert latest_due_date(issue, end_of_month=True, eom_method=EomMethod.EITHER) == max(
        days_then_eom, eom_then_days
    )


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_payment_limits_properties(issue: date) -> None:
    assert (latest_due_date(issue) - issue).days == 60
    first = latest_due_date(issue, end_of_month=True)
    assert first == month_end(first) and first >= issue + timedelta(days=45)
    assert (first - timedelta(days=first.day)) < issue + timedelta(days=45)  # the month of issue + 45
    second = latest_due_date(issue, end_of_month=True, eom_method=EomMethod.MONTH_END_THEN_DAYS)
    assert (second - timedelta(days=45)) == month_end(issue)


def test_payment_terms_rule_on_the_limit() -> None:
    r = rule("payment_terms", {"method": "end_of_month"}, reason="NON_CONFORME")
    assert r(good_invoice(issue_date=date(2024, 1, 15), due_date=date(2024, 2, 29))) == []
    [f] = r(good_invoice(issue_date=date(2024, 1, 15), due_date=date(2024, 3, 1)))
    assert "2024-02-29" in (f.hint_en or "") and "45 days end of month" in (f.hint_en or "")
    sixty = rule("payment_terms", {}, reason="NON_CONFORME")
    assert sixty(good_invoice(issue_date=date(2024, 1, 1), due_date=date(2024, 3, 1))) == []
    assert len(sixty(good_invoice(issue_date=date(2024, 1, 1), due_date=date(2024, 3, 2)))) == 1
    assert [f.terms for f in sixty(good_invoice(issue_date=None))] == [("BT-2",)]


# --------------------------------------------------------------------------- statuses, reasons, decide()


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.REFUSEE, ReasonCode.CMD_ERR),
        (Status.REFUSEE, ReasonCode.REF_CT_ABSENT),
        (Status.SUSPENDUE, ReasonCode.CODE_ROUTAGE_ERR),
        (Status.SUSPENDUE, ReasonCode.SIRET_ERR),
        (Status.SUSPENDUE, ReasonCode.JUSTIF_ABS),
    ],
)
def test_issue_mapping_is_allowed_by_the_official_lists(status: Status, reason: ReasonCode) -> None:
    assert reason in allowed_reasons(status)
    r = rule("field_required", {"fields": ["BT-13"]}, status=status.value, reason=reason.value)
    assert (r.status, r.reason) == (status, reason)


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        ("210", "SIRET_ERR", "not allowed for status 210"),  # SIRET_ERR is a 208 reason only
        ("210", "CODE_ROUTAGE_ERR", "not allowed for status 210"),
        ("208", "NON_CONFORME", "not allowed for status 208"),
        ("213", "REJ_SEMAN", "use 210"),
        ("210", "NOT_A_CODE", "reason"),
    ],
)
def test_status_reason_mismatch_is_refused(status: str, reason: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rule("field_required", {"fields": ["BT-13"]}, status=status, reason=reason)


def test_official_rule_ids_are_refused() -> None:
    with pytest.raises(ValidationError, match="official rule"):
        rule("field_required", {"fields": ["BT-13"]}, id="BR-16")


def _finding(rule_id: str, severity: Severity = Severity.FATAL, layer: Layer = Layer.CUSTOMER) -> Finding:
    return Finding(rule_id=rule_id, severity=severity, layer=layer, message="m")


def test_decide() -> None:
    rules = [
        rule("field_required", {"fields": ["BT-10"]}, id="routing", status="208", reason="CODE_ROUTAGE_ERR"),
        rule("field_required", {"fields": ["BT-13"]}, id="po", status="210", reason="CMD_ERR"),
        rule("field_required", {"fields": ["BT-12"]}, id="contract", status="210", reason="REF_CT_ABSENT"),
        rule("attachments_required", {}, id="docs", status="208", reason="JUSTIF_ABS"),
        rule(
            "field_format",
            {"field": "BT-13", "pattern": "4500.*"},
            id="po-format",
            status="210",
            reason="CMD_ERR",
        ),
        rule("field_required", {"fields": ["BT-16"]}, id="soft", severity="warning", reason="CMD_ERR"),
    ]
    assert decide([], rules) is None
    assert decide([_finding("soft", Severity.WARNING)], rules) is None  # warnings never decide
    assert decide([_finding("po", layer=Layer.SCHEMATRON)], rules) is None  # not ours
    assert decide([_finding("elsewhere")], rules) is None  # another rule set's rule
    assert decide([_finding("docs"), _finding("routing")], rules) == (
        Status.SUSPENDUE,
        [ReasonCode.CODE_ROUTAGE_ERR, ReasonCode.JUSTIF_ABS],  # rule order
    )
    assert decide([_finding("docs"), _finding("contract"), _finding("po-format"), _finding("po")], rules) == (
        Status.REFUSEE,  # any 210 wins over 208
        [ReasonCode.CMD_ERR, ReasonCode.REF_CT_ABSENT],
    )
    ruleset = RuleSet(name="t", scope=RuleScope.SUPPLIERS, rules=tuple(rules))
    assert decide(ruleset.evaluate(good_invoice(buyer_reference=None)), ruleset) == (
        Status.SUSPENDUE,
        [ReasonCode.CODE_ROUTAGE_ERR],
    )


# --------------------------------------------------------------------------- the example rule sets


def test_example_rule_sets_pass_a_compliant_invoice_and_refuse_a_faulty_one() -> None:
    suppliers = rules_from_file(EXAMPLES / "suppliers-default.yaml")
    customer = rules_from_file(EXAMPLES / "customer-example.yaml")
    assert customer.evaluate(good_invoice()) == []
    good = good_invoice(purchase_order_reference="PO2026000123")  # our own PO numbering
    assert suppliers.evaluate(good) == []
    assert {f.rule_id for f in customer.evaluate(good)} == {"acme-po-format"}
    bad = good_invoice(
        purchase_order_reference=None,
        totals=Totals(total_with_vat=Decimal("6000.00")),
        due_date=date(2026, 4, 30),
        notes=[],
    )
    found = {f.rule_id for f in suppliers.evaluate(bad)}
    assert found == {"po-above-5000", "payment-terms-60-days", "late-payment-notes"}
    assert decide(suppliers.evaluate(bad), suppliers) == (
        Status.REFUSEE,
        [ReasonCode.CMD_ERR, ReasonCode.NON_CONFORME],
    )
    rules = customer.as_customer_rules()
    assert all(isinstance(r, CustomerRule) for r in rules) and len(rules) == len(customer.rules)


# ------------------------------------------------------------------ on the corpus, through validate()


@pytest.mark.corpus
def test_corpus_invoice_parsed_then_checked(corpus: Path) -> None:
    inv = parse_invoice((corpus / FR_INVOICE).read_bytes())
    customer = rules_from_file(EXAMPLES / "customer-example.yaml")
    found = {f.rule_id: f for f in customer.evaluate(inv)}
    # its PO is PO201925478 (not 4500…), its profile BASIC WL, it has no attachment
    assert set(found) == {"acme-po-format", "acme-profiles", "acme-timesheet"}
    assert found["acme-po-format"].value == "PO201925478"
    # its buyer's SIREN 987654321 fails the check digit
    siren = rule("identifier_valid", {"field": "BT-47", "scheme": "siren"}, status="208", reason="SIRET_ERR")
    assert [f.value for f in siren(inv)] == ["987654321"]
    # its PMD/PMT/AAB notes and 30-day term meet the law
    assert rule("legal_notes", {"subjects": ["PMD", "PMT", "AAB"]}, reason="NON_CONFORME")(inv) == []
    assert rule("payment_terms", {}, reason="NON_CONFORME")(inv) == []


@pytest.mark.corpus
def test_validate_runs_the_customer_layer(corpus: Path) -> None:
    data = (corpus / FR_INVOICE).read_bytes()
    customer = rules_from_file(EXAMPLES / "customer-example.yaml")
    report = validate(data, french=False, customer_rules=customer.as_customer_rules())
    layer = next(lr for lr in report.layers if lr.layer is Layer.CUSTOMER)
    assert layer.status is LayerStatus.FAILED
    mine = [f for f in report.findings if f.layer is Layer.CUSTOMER]
    assert {f.rule_id for f in mine} == {"acme-po-format", "acme-profiles", "acme-timesheet"}
    assert all(f.explanation_fr and f.explanation_en for f in mine)  # not overwritten by annotate()
    assert decide(report.findings, customer) == (
        Status.REFUSEE,
        [ReasonCode.CMD_ERR, ReasonCode.NON_CONFORME],
    )

    lenient = RuleSet(
        name="ok",
        scope=RuleScope.CUSTOMER,
        rules=(rule("legal_notes", {"subjects": ["PMD"]}, reason="NON_CONFORME"),),
    )
    report = validate(data, french=False, customer_rules=lenient.as_customer_rules())
    layer = next(lr for lr in report.layers if lr.layer is Layer.CUSTOMER)
    assert layer.status is LayerStatus.PASSED
    assert not [f for f in report.findings if f.layer is Layer.CUSTOMER]


@pytest.mark.corpus
def test_validate_many_passes_rules_and_they_pickle_for_workers(corpus: Path) -> None:
    import pickle

    customer = rules_from_file(EXAMPLES / "customer-example.yaml")
    rules = customer.as_customer_rules()
    assert pickle.loads(pickle.dumps(rules)) == rules  # what the worker processes receive
    [report] = validate_many([corpus / FR_INVOICE], french=False, customer_rules=rules)
    assert {f.rule_id for f in report.findings if f.layer is Layer.CUSTOMER} == {
        "acme-po-format",
        "acme-profiles",
        "acme-timesheet",
    }
