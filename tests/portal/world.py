"""A small world for the portal tests, written through the ledger's models and services.

Two customers (A, B) with invoices in several statuses, one supplier (S) with an
incoming invoice, and a user of every role: a customer user per customer, a
collector per customer, a supplier user, admin, receivables manager,
litigation, auditor. Statuses are set with ``ledger.services.record_status``,
so every history is one the state machine allows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ledger.models import CollectorAssignment, Document, Invoice, Party, PartyContact, User, UserRole
from ledger.online import OnlineCheckout
from ledger.services import record_status
from portal.security import hash_password
from schemas.lifecycle import Actor, ActorKind, Status

PASSWORD = "correct horse battery staple"
JOB = Actor(kind=ActorKind.JOB, id="tests")
TODAY = dt.datetime.now(dt.UTC).date()

#: user key → (roles, party key or None)
USERS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "customer_a": (("customer",), "A"),
    "customer_b": (("customer",), "B"),
    "supplier_s": (("supplier",), "S"),
    "collector_a": (("collector",), None),
    "collector_b": (("collector",), None),
    "admin": (("admin",), None),
    "manager": (("receivables_manager",), None),
    "litigation": (("litigation",), None),
    "auditor": (("auditor",), None),
}
GLOBAL_STAFF = ("admin", "manager", "litigation", "auditor")


@dataclass
class World:
    """Ids of what was seeded, by key."""

    users: dict[str, int] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    parties: dict[str, int] = field(default_factory=dict)
    invoices: dict[str, int] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)  # invoice key → party key
    customer_visible: dict[str, bool] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    checkouts: dict[str, str] = field(default_factory=dict)  # invoice key → token of an online checkout

    def email(self, user: str) -> str:
        return self.emails[user]


def email_of(user: str) -> str:
    return f"{user.replace('_', '.')}@portal.example"


def _status_chain(
    session: Session, doc: Document, chain: list[tuple[str, tuple[str, ...], Decimal | None]]
) -> None:
    for code, reasons, amount in chain:
        record_status(session, document=doc, status=Status(code), actor=JOB, reasons=reasons, amount=amount)
        session.flush()


def add_invoice(
    session: Session,
    store: Any,
    *,
    number: str,
    party: Party,
    direction: str = "outgoing",
    issue: dt.date,
    due: dt.date | None,
    total: Decimal,
    still_due: Decimal,
    chain: list[tuple[str, tuple[str, ...], Decimal | None]],
    data: bytes | None = None,
    fmt: str = "cii-xml",
    type_code: str = "380",
) -> Invoice:
    """One document, its invoice row and its statuses."""
    data = data or f"<Invoice><ID>{number}</ID><Nonce>{random.random()}</Nonce></Invoice>".encode()
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    doc = Document(
        digest=digest,
        size_bytes=len(data),
        format=fmt,
        direction=direction,
        original_filename=f"{number}.{'pdf' if fmt.endswith('pdf') else 'xml'}",
        customer_party_id=party.id if direction == "outgoing" else None,
        supplier_party_id=party.id if direction == "incoming" else None,
        processing_state="done",
        invoice_number=number,
    )
    session.add(doc)
    session.flush()
    seller = "Encaisse Démo SAS" if direction == "outgoing" else party.name
    inv = Invoice(
        document_id=doc.id,
        number=number,
        issue_date=issue,
        due_date=due,
        type_code=type_code,
        currency="EUR",
        total_without_vat=(total / Decimal("1.2")).quantize(Decimal("0.01")),
        total_vat=total - (total / Decimal("1.2")).quantize(Decimal("0.01")),
        total_with_vat=total,
        amount_due=total,
        amount_still_due=still_due,
        seller_key=f"NAME:{seller}",
        seller_name=seller,
        buyer_name=party.name if direction == "outgoing" else "Encaisse Démo SAS",
        buyer_party_id=party.id if direction == "outgoing" else None,
        seller_party_id=party.id if direction == "incoming" else None,
        payment_reference=f"RF-{number}",
    )
    session.add(inv)
    session.flush()
    _status_chain(session, doc, chain)
    return inv


MADE_AVAILABLE: list[tuple[str, tuple[str, ...], Decimal | None]] = [("202", (), None), ("203", (), None)]


def build_world(sessions: sessionmaker[Session], store: Any, *, facturx_pdf: bytes | None = None) -> World:
    """Seed the world; returns the ids."""
    world = World()
    with sessions() as session:
        parties = {
            "A": Party(
                kind="customer",
                name="Alpha Industrie",
                siren="732829320",
                language="fr",
                contacts=[PartyContact(name="Anne Alpha", email="compta@alpha.example", role="billing")],
            ),
            "B": Party(kind="customer", name="Bêta Services", siren="542107651", language="en"),
            "S": Party(kind="supplier", name="Sigma Fournitures", siren="552100554"),
        }
        session.add_all(parties.values())
        session.flush()
        world.parties = {k: p.id for k, p in parties.items()}
        hashed = hash_password(PASSWORD)
        for key, (roles, party_key) in USERS.items():
            user = User(email=email_of(key), name=key.replace("_", " ").title(), password_hash=hashed)
            session.add(user)
            session.flush()
            for role in roles:
                session.add(
                    UserRole(
                        user_id=user.id, role=role, party_id=world.parties[party_key] if party_key else None
                    )
                )
            world.users[key] = user.id
            world.emails[key] = user.email
        session.add(CollectorAssignment(user_id=world.users["collector_a"], party_id=world.parties["A"]))
        session.add(CollectorAssignment(user_id=world.users["collector_b"], party_id=world.parties["B"]))
        session.flush()

        day = dt.timedelta(days=1)
        specs: list[dict[str, Any]] = [
            # key, party, issue, due, total, still due, statuses after 203
            dict(
                key="A1",
                party="A",
                issue=TODAY - 60 * day,
                due=TODAY - 30 * day,
                total="1200.00",
                still="1200.00",
                extra=[],
            ),
            dict(
                key="A2",
                party="A",
                issue=TODAY - 20 * day,
                due=TODAY + 10 * day,
                total="600.00",
                still="600.00",
                extra=[("207", ("CALCUL_ERR",), None)],
            ),
            dict(
                key="A3",
                party="A",
                issue=TODAY - 90 * day,
                due=TODAY - 60 * day,
                total="300.00",
                still="0.00",
                extra=[("212", (), Decimal("300.00"))],
            ),
            dict(
                key="A4",
                party="A",
                issue=TODAY - 10 * day,
                due=TODAY + 20 * day,
                total="120.00",
                still="120.00",
                extra=[],
                type_code="381",
            ),
            dict(
                key="B1",
                party="B",
                issue=TODAY - 40 * day,
                due=TODAY - 5 * day,
                total="999.99",
                still="999.99",
                extra=[],
            ),
            dict(
                key="B2",
                party="B",
                issue=TODAY - 5 * day,
                due=TODAY + 25 * day,
                total="50.00",
                still="50.00",
                extra=[],
            ),
        ]
        for spec in specs:
            party = parties[spec["party"]]
            number = f"FA-{spec['key']}-{party.id:03d}"
            kwargs: dict[str, Any] = {}
            if spec["key"] == "A1" and facturx_pdf is not None:
                kwargs = {"data": facturx_pdf, "fmt": "facturx-pdf"}
            inv = add_invoice(
                session,
                store,
                number=number,
                party=party,
                issue=spec["issue"],
                due=spec["due"],
                total=Decimal(spec["total"]),
                still_due=Decimal(spec["still"]),
                chain=MADE_AVAILABLE + spec["extra"],
                type_code=spec.get("type_code", "380"),
                **kwargs,
            )
            world.invoices[spec["key"]] = inv.id
            world.numbers[spec["key"]] = number
            world.owner[spec["key"]] = spec["party"]
            world.customer_visible[spec["key"]] = True
        # not yet made available to A: no customer sees it, staff do
        hidden = add_invoice(
            session,
            store,
            number="FA-A-HIDDEN",
            party=parties["A"],
            issue=TODAY,
            due=TODAY + 30 * day,
            total=Decimal("10.00"),
            still_due=Decimal("10.00"),
            chain=[("202", (), None)],
        )
        world.invoices["AH"], world.numbers["AH"], world.owner["AH"] = hidden.id, "FA-A-HIDDEN", "A"
        world.customer_visible["AH"] = False
        # an invoice the supplier S sent us
        incoming = add_invoice(
            session,
            store,
            number="SIG-001",
            party=parties["S"],
            direction="incoming",
            issue=TODAY - 3 * day,
            due=TODAY + 27 * day,
            total=Decimal("480.00"),
            still_due=Decimal("480.00"),
            chain=MADE_AVAILABLE,
        )
        world.invoices["S1"], world.numbers["S1"], world.owner["S1"] = incoming.id, "SIG-001", "S"
        world.customer_visible["S1"] = False
        # an online checkout started by each customer (paid by neither yet)
        for key in ("A1", "B1"):
            token = f"tok-{key}-{random.randrange(10**12)}"
            session.add(
                OnlineCheckout(
                    token=token,
                    provider="sandbox",
                    provider_ref=f"sbx_world_{key}_{random.randrange(10**12)}",
                    party_id=world.parties[world.owner[key]],
                    amount=Decimal("10.00"),
                    currency="EUR",
                    invoice_ids=[world.invoices[key]],
                )
            )
            world.checkouts[key] = token
        session.commit()
    return world


def entitled(world: World, user: str, area: str, invoice_key: str) -> bool:
    """Who may open an invoice in an area, stated independently of ``ledger.scoping``."""
    owner = world.owner[invoice_key]
    if area == "customer":
        return user == f"customer_{owner.lower()}" and world.customer_visible[invoice_key]
    if area == "staff":
        if user in GLOBAL_STAFF:
            return True
        return user == f"collector_{owner.lower()}" and invoice_key != "S1"
    raise AssertionError(area)


def entitled_party(user: str, area: str, party_key: str) -> bool:
    """Who may open a customer's page in the back office."""
    assert area == "staff"
    return user in GLOBAL_STAFF or user == f"collector_{party_key.lower()}"
