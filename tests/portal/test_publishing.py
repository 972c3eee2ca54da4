"""Publishing an invoice at 203 (the e-mail through a real SMTP server), and views journaled as proof.

On both backends: :func:`portal.publishing.publish_invoice` sends one e-mail to
the customer's billing contacts (in their language, with the amount, due date,
payment reference, the portal link and the PDF attached), once; opening and
downloading an invoice in the portal each append a journal entry naming the
document's SHA-256 and the user.
"""

from __future__ import annotations

from sqlalchemy import select

from archive.journal_sql import SqlJournal
from ledger.models import Document, Invoice, Notice, Party, PartyContact
from notify.transport import transport_from_settings
from portal.publishing import publish_invoice


def _publish(portal, key: str):
    with portal.sessions() as session, session.begin():
        invoice = session.get(Invoice, portal.world.invoices[key])
        assert invoice is not None
        return publish_invoice(
            session,
            document_id=invoice.document_id,
            settings=portal.settings,
            store=portal.store,
            transport=transport_from_settings(portal.settings),
        )


def _journal(portal, key: str):
    with portal.sessions() as session:
        invoice = session.get(Invoice, portal.world.invoices[key])
        assert invoice is not None
        digest = invoice.document.digest
    return digest, SqlJournal(portal.app.state.portal.engine).about([digest])


def test_published_email_reaches_the_billing_contact_once(portal, smtp, facturx_pdf):
    world = portal.world
    result = _publish(portal, "A1")
    assert result.sent and result.recipients == ("compta@alpha.example",)
    (message,) = smtp.messages
    assert message.rcpt_tos == ["compta@alpha.example"]
    email = message.message
    number = world.numbers["A1"]
    with portal.sessions() as session:
        invoice = session.get(Invoice, world.invoices["A1"])
        assert invoice is not None
        due = invoice.due_date.strftime("%d/%m/%Y")
        reference = invoice.payment_reference
    assert email["Subject"] == f"Facture {number} de Encaisse : 1\u202f200,00 EUR, échéance le {due}"
    text = message.text()
    url = f"{portal.settings.public_url}/invoices/{world.invoices['A1']}"
    for expected in (number, "1\u202f200,00 EUR", due, f"Référence de paiement : {reference}", url):
        assert expected in text, expected
    assert f'href="{url}"' in message.html()
    (attached,) = message.attachments()
    assert attached.get_filename() == f"{number}.pdf"
    assert attached.get_content() == facturx_pdf
    assert email["Message-ID"] == result.message_id

    again = _publish(portal, "A1")
    assert not again.sent and again.reason == "published before"
    assert len(smtp.messages) == 1
    with portal.sessions() as session:
        notices = session.scalars(
            select(Notice)
            .join(Document, Document.id == Notice.document_id)
            .where(Document.invoice_number == number)
        ).all()
        assert [(n.status_code, n.sent_at is not None) for n in notices] == [("203", True)]
    digest, entries = _journal(portal, "A1")
    sent = [e for e in entries if e.kind == "notice_sent" and e.data.get("notice") == "published"]
    assert len(sent) == 1 and sent[0].subject == digest and sent[0].data["to"] == ["compta@alpha.example"]


def test_english_customer_and_the_ones_not_published(portal, smtp):
    with portal.sessions() as session, session.begin():
        party = session.get(Party, portal.world.parties["B"])
        assert party is not None
        if not party.contacts:
            party.contacts.append(PartyContact(name="Bob", email="billing@beta.example", role="billing"))
            party.contacts.append(PartyContact(name="Buyer", email="buyer@beta.example", role="purchasing"))
    result = _publish(portal, "B2")
    assert result.sent and result.recipients == ("billing@beta.example",)
    (message,) = smtp.messages
    assert message.message["Subject"].startswith(
        f"Invoice {portal.world.numbers['B2']} from Encaisse: EUR 50.00"
    )
    assert "Due date:" in message.text() and "Payment reference:" in message.text()
    assert message.message["Content-Language"] == "en"
    # not in 203 (still 202), incoming, or already past 203: nothing sent
    for key in ("AH", "S1", "A2"):
        assert not _publish(portal, key).sent
    assert len(smtp.messages) == 1


def test_viewing_and_downloading_are_journaled(portal):
    client = portal.signed_in("customer_a")
    digest, before = _journal(portal, "A1")
    assert client.get(f"/invoices/{portal.world.invoices['A1']}").status_code == 200
    assert client.get(f"/invoices/{portal.world.invoices['A1']}/download/pdf").status_code == 200
    _digest, after = _journal(portal, "A1")
    new = after[len(before) :]
    assert [e.kind for e in new] == ["portal_viewed", "downloaded"]
    user_id = portal.world.users["customer_a"]
    for entry in new:
        assert entry.subject == digest
        assert entry.fields["actor"] == f"user:{user_id}:{portal.world.email('customer_a')}"
        assert entry.data["invoice_id"] == portal.world.invoices["A1"]
    assert new[1].data["file"] == "pdf"
    # a refused view (another customer's invoice) journals nothing
    other = portal.signed_in("customer_b")
    assert other.get(f"/invoices/{portal.world.invoices['A1']}").status_code == 404
    assert len(_journal(portal, "A1")[1]) == len(after)
