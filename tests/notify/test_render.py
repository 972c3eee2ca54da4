"""Rendering notices: each kind in both languages, its content, escaping and the message's shape."""

from __future__ import annotations

import html
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from pydantic import ValidationError

from notify.models import (
    InvoiceSummary,
    NoticeData,
    NoticeKind,
    Recipient,
    Resubmission,
    company_from_settings,
    resubmission_from_settings,
)
from notify.render import MAX_VALUE_CHARS, message_id, render_html, render_notice, render_text, subject
from notify.terms import term_name
from schemas.findings import Finding, Layer, Severity
from schemas.lifecycle import ReasonCode, Status
from schemas.settings import Settings
from tests.notify.factories import FINDINGS, XSS, notice

KINDS = list(NoticeKind)
LANGS = ["fr", "en"]
FAKE_PDF = b"%PDF-1.7\n% a report\n%%EOF\n"


def _parts(msg: EmailMessage) -> tuple[str, str, list[EmailMessage]]:
    body_text = msg.get_body(preferencelist=("plain",))
    body_html = msg.get_body(preferencelist=("html",))
    assert body_text is not None and body_html is not None
    attachments = list(msg.iter_attachments())
    return body_text.get_content(), body_html.get_content(), attachments  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_both_languages(kind: NoticeKind, lang: str) -> None:
    data = notice(kind, lang, report_pdf=FAKE_PDF)  # type: ignore[arg-type]
    msg = render_notice(data)
    # reparse from the wire form: what a mail client sees
    wire = message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(wire, EmailMessage)
    assert wire.get_content_type() == "multipart/mixed"
    text, page, attachments = _parts(wire)
    alternative = next(p for p in wire.iter_parts() if p.get_content_type() == "multipart/alternative")
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert len(attachments) == 1
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content() == FAKE_PDF
    assert wire["Content-Language"] == lang
    assert wire["To"].addresses[0].addr_spec == "compta@fournisseur.example"
    assert wire["From"].addresses[0].addr_spec == "factures@acme.example"

    status = data.status
    label = status.label_fr if lang == "fr" else status.label_en
    assert label in wire["Subject"] and status.value in wire["Subject"]
    if data.invoice.number:
        assert data.invoice.number in wire["Subject"]
    else:
        assert data.document.file_name is not None and data.document.file_name in wire["Subject"]
    for body in (text, html.unescape(page)):
        assert f"{status.value} {label}" in body
        for reason in data.reasons:
            assert reason.value in body
            assert (reason.label_fr if lang == "fr" else reason.label_en) in body
        assert "https://portail.acme.example/depot" in body
        assert "factures@acme.example" in body
        assert ("FRN-0042") in body  # our reference
        if data.invoice.number:
            assert data.invoice.number in body
            assert ("19/11/2026" if lang == "fr" else "19 Nov 2026") in body
            assert ("1\u202f440,00 EUR" if lang == "fr" else "EUR 1,440.00") in body
        for finding in data.blocking:
            assert finding.rule_id in body
            for term in finding.terms:
                assert term_name(term, lang) in body  # type: ignore[arg-type]
                assert f"({term})" in body
            if finding.value:
                assert finding.value in body
            hint = finding.hint_fr if lang == "fr" else finding.hint_en
            assert hint is not None and hint in body
            explanation = finding.explanation_fr if lang == "fr" else finding.explanation_en
            assert explanation is not None and explanation in body
        for finding in data.remarks:
            assert finding.rule_id in body


@pytest.mark.parametrize("lang", LANGS)
def test_the_four_kinds_read_differently(lang: str) -> None:
    texts = {kind: render_text(notice(kind, lang)) for kind in KINDS}  # type: ignore[arg-type]
    intros = {kind: text.split("\n\n")[1] for kind, text in texts.items()}
    assert len(set(intros.values())) == 4
    nsd = texts[NoticeKind.NO_STRUCTURED_DATA]
    for word in ("Factur-X", "UBL", "CII", "EN 16931", "PDF/A-3"):
        assert word in nsd
    assert "Factur-X" not in texts[NoticeKind.INVALID]
    unreadable = texts[NoticeKind.UNREADABLE]
    assert ReasonCode.IRR_SYNTAX.value in unreadable
    assert ("ligne 40" if lang == "fr" else "line 40") in unreadable  # the problem, named
    refused = texts[NoticeKind.REFUSED]
    assert "Acme SAS" in refused.split("\n\n")[1]  # the buyer whose rules were not met
    assert "ACME-PO-REQUIRED" in refused
    assert (ReasonCode.CMD_ERR.label_fr if lang == "fr" else ReasonCode.CMD_ERR.label_en) in refused
    assert ("avoir" if lang == "fr" else "credit note") in refused


@pytest.mark.parametrize("lang", LANGS)
def test_suspended_reads_differently_from_refused(lang: str) -> None:
    refused = render_text(notice(NoticeKind.REFUSED, lang))  # type: ignore[arg-type]
    suspended_data = notice(
        NoticeKind.REFUSED,
        lang,  # type: ignore[arg-type]
        status=Status.SUSPENDUE,
        reasons=(ReasonCode.JUSTIF_ABS,),
    )
    suspended = render_text(suspended_data)
    assert ("suspendue" if lang == "fr" else "suspended") in suspended.split("\n\n")[1]
    assert ("avoir" if lang == "fr" else "credit note") not in suspended
    assert ("avoir" if lang == "fr" else "credit note") in refused
    assert "208" in subject(suspended_data)
    assert (Status.SUSPENDUE.label_fr if lang == "fr" else Status.SUSPENDUE.label_en) in subject(
        suspended_data
    )


@pytest.mark.parametrize("lang", LANGS)
def test_html_escapes_values_from_the_file(lang: str) -> None:
    data = notice(
        NoticeKind.INVALID,
        lang,  # type: ignore[arg-type]
        invoice=InvoiceSummary(number="<b>F-1</b>"),
        recipient=Recipient(name="<img src=x onerror=alert(1)>", email="a@b.example", language=lang),  # type: ignore[arg-type]
    )
    page = render_html(data)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<b>F-1</b>" not in page and "&lt;b&gt;F-1&lt;/b&gt;" in page
    assert "<img" not in page
    # the text part shows the value as it is: it is not markup there
    assert XSS in render_text(data)


def test_subject_names_the_invoice_and_status_in_the_recipients_language() -> None:
    assert subject(notice(NoticeKind.INVALID, "fr")) == "Votre facture F-2026-0117 : Rejetée (213)"
    assert subject(notice(NoticeKind.INVALID, "en")) == "Your invoice F-2026-0117: Rejected (213)"
    assert subject(notice(NoticeKind.REFUSED, "en")) == "Your invoice F-2026-0117: Refused (210)"
    assert subject(notice(NoticeKind.UNREADABLE, "fr")) == "Votre fichier F-2026-0117.xml : Irrecevable (501)"


def test_header_injection_through_the_invoice_number_is_neutralised() -> None:
    data = notice(NoticeKind.INVALID, "en", invoice=InvoiceSummary(number="F-1\r\nBcc: victim@example.org"))
    msg = render_notice(data)
    wire = message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert wire["Bcc"] is None
    assert wire["Subject"] == "Your invoice F-1 Bcc: victim@example.org: Rejected (213)"


def test_message_id_is_derived_from_document_and_status() -> None:
    a = render_notice(notice(NoticeKind.INVALID, "fr"))
    b = render_notice(
        notice(NoticeKind.INVALID, "en", recipient=Recipient(email="x@y.example", language="en"))
    )
    assert a["Message-ID"] == b["Message-ID"] == message_id("doc-7f3a", "213", "acme.example")
    other_status = render_notice(notice(NoticeKind.REFUSED, "fr"))
    other_document = render_notice(
        notice(
            NoticeKind.INVALID,
            "fr",
            document=notice(NoticeKind.INVALID).document.model_copy(update={"document_id": "doc-other"}),
        )
    )
    assert len({a["Message-ID"], other_status["Message-ID"], other_document["Message-ID"]}) == 3


def test_the_same_notice_renders_to_the_same_bytes() -> None:
    data = notice(NoticeKind.INVALID, "fr", report_pdf=FAKE_PDF)
    assert render_notice(data).as_bytes() == render_notice(data).as_bytes()


def test_without_a_report_nothing_is_attached_and_without_a_resubmission_address_the_notice_says_reply() -> (
    None
):
    data = notice(NoticeKind.INVALID, "en", resubmit=Resubmission())
    msg = render_notice(data)
    assert msg.get_content_type() == "multipart/alternative"
    assert list(msg.iter_attachments()) == []
    text = render_text(data)
    assert "reply to this message with the corrected invoice attached" in text
    assert "attached (" not in text


def test_long_values_are_shortened() -> None:
    long = Finding(
        rule_id="BR-01",
        severity=Severity.FATAL,
        layer=Layer.SCHEMATRON,
        message="m",
        terms=("BT-24",),
        value="A" * 5000,
    )
    text = render_text(notice(NoticeKind.INVALID, "fr", findings=(long,)))
    assert "A" * (MAX_VALUE_CHARS - 1) + "…" in text
    assert "A" * MAX_VALUE_CHARS not in text


def test_a_finding_without_explanation_falls_back_to_the_rule_message() -> None:
    bare = Finding(
        rule_id="BR-99", severity=Severity.FATAL, layer=Layer.SCHEMATRON, message="[BR-99] raw text"
    )
    text = render_text(notice(NoticeKind.INVALID, "en", findings=(bare,)))
    assert "[BR-99] raw text" in text


@pytest.mark.parametrize(
    ("kind", "status", "reasons"),
    [
        (NoticeKind.INVALID, Status.REFUSEE, (ReasonCode.CMD_ERR,)),  # kind and status disagree
        (NoticeKind.REFUSED, Status.REJETEE, (ReasonCode.REJ_SEMAN,)),
        (NoticeKind.INVALID, Status.REJETEE, ()),  # 213 needs a reason (BR-FR-CDV-15)
        (NoticeKind.UNREADABLE, Status.IRRECEVABLE, (ReasonCode.CMD_ERR,)),  # not a 501 reason
    ],
)
def test_inconsistent_notice_data_is_refused(
    kind: NoticeKind, status: Status, reasons: tuple[ReasonCode, ...]
) -> None:
    with pytest.raises(ValidationError):
        notice(kind, "fr", status=status, reasons=reasons)


def test_addresses_are_checked() -> None:
    with pytest.raises(ValidationError):
        Recipient(email="not an address")
    with pytest.raises(ValidationError):
        Recipient(email="a@b.example\r\nBcc: c@d.example")


def test_kind_for_status() -> None:
    assert NoticeKind.for_status(Status.IRRECEVABLE) is NoticeKind.UNREADABLE
    assert NoticeKind.for_status(Status.IRRECEVABLE, structured=False) is NoticeKind.NO_STRUCTURED_DATA
    assert NoticeKind.for_status(Status.REJETEE) is NoticeKind.INVALID
    assert NoticeKind.for_status(Status.REFUSEE) is NoticeKind.REFUSED
    assert NoticeKind.for_status(Status.SUSPENDUE) is NoticeKind.REFUSED
    with pytest.raises(ValueError):
        NoticeKind.for_status(Status.MISE_A_DISPOSITION)


def test_factories_cover_every_kind() -> None:
    assert set(FINDINGS) == set(NoticeKind)
    assert isinstance(notice(NoticeKind.REFUSED), NoticeData)


def test_company_and_resubmission_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAIL_FROM", "MAIL_REPLY_TO", "COMPANY_NAME", "RESUBMIT_URL"):
        monkeypatch.delenv(f"ENCAISSE_{name}", raising=False)
    default = company_from_settings(Settings())
    assert (default.name, default.email, default.reply_to) == ("Encaisse", "factures@localhost", None)
    settings = Settings(
        mail_from="Acme SAS <factures@acme.example>",
        mail_reply_to="Compta <compta@acme.example>",
        company_name="Acme SAS",
        resubmit_url="https://portail.acme.example/depot",
    )
    company = company_from_settings(settings, reference="FRN-1")
    assert (company.name, company.email, company.reply_to, company.reference) == (
        "Acme SAS",
        "factures@acme.example",
        "compta@acme.example",
        "FRN-1",
    )
    resubmit = resubmission_from_settings(settings)
    assert resubmit.portal_url == "https://portail.acme.example/depot"
    assert resubmit.email == "compta@acme.example"
    msg = render_notice(notice(NoticeKind.INVALID, "fr", company=company, resubmit=resubmit))
    assert msg["Reply-To"].addresses[0].addr_spec == "compta@acme.example"
    assert msg["Message-ID"].endswith("@acme.example>")


@pytest.mark.parametrize(("lang", "shown"), [("fr", "(vide)"), ("en", "(empty)")])
def test_an_empty_value_is_said_to_be_empty(lang: str, shown: str) -> None:
    text = render_text(notice(NoticeKind.REFUSED, lang))  # type: ignore[arg-type]
    assert f": {shown}" in text
