"""``encaisse demo``: a demo company, its customers, suppliers, users of every role, a year of invoices.

What it seeds, each step idempotent (running the demo twice changes nothing the
second time, and prints the same logins):

* the operator company and three suppliers;
* a year of receivables from :mod:`ledger.history` (customers with habits,
  invoices, payments, disputes, promises), each invoice given a lifecycle the
  state machine allows: 202, 203, then 212 when paid, and for some open ones
  204, 205, 206, 207 (the disputed ones), 208, 209, 210 or 211;
* real documents from :func:`ingest.sample.generate_samples` sent through the
  pipeline (:func:`worker.submit`): suppliers' invoices, some rejected (213,
  501) with their notices, and our own outgoing ones for the demo customer;
* users of every role (admin, receivables manager, collector with assigned
  customers, litigation, auditor, a customer user, a supplier user) with
  generated passwords, kept in ``DATA_DIR/demo-logins.json`` (mode 600) so that
  a second run prints the same ones.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import worker
from ledger import history as receivables_history
from ledger.access import new_secret
from ledger.models import (
    CollectorAssignment,
    Document,
    Invoice,
    OperatorCompany,
    Party,
    PartyContact,
    User,
    UserRole,
    utcnow,
)
from ledger.services import record_status
from portal.security import hash_password, verify_password
from schemas.lifecycle import Actor, ActorKind, Status
from schemas.lifecycle_codes import REASON_REQUIRED, allowed_reasons

COMPANY = "Encaisse Démo SAS"
DOMAIN = "demo.encaisse.example"
SUPPLIERS = ("Sigma Fournitures", "Oméga Transports", "Kappa Logiciels")
#: the first history customers get real names, a billing contact and (the first) a portal user
NAMED_CUSTOMERS = ("Alpha Industrie", "Bêta Services", "Gamma Distribution", "Delta Bâtiment")
#: user key → (e-mail local part, name, role, party: "customer", "supplier" or None)
USERS: dict[str, tuple[str, str, str, str | None]] = {
    "admin": ("admin", "Adèle Admin", "admin", None),
    "manager": ("responsable", "Marc Responsable", "receivables_manager", None),
    "collector": ("recouvrement", "Chloé Recouvrement", "collector", None),
    "litigation": ("contentieux", "Luc Contentieux", "litigation", None),
    "auditor": ("audit", "Aude Audit", "auditor", None),
    "customer": ("client", "Anne Alpha", "customer", "customer"),
    "supplier": ("fournisseur", "Sami Sigma", "supplier", "supplier"),
}
ACTOR = Actor(kind=ActorKind.JOB, id="demo")
#: statuses given to some open invoices after 203, in turn (209 Complétée follows 208 Suspendue)
PROCESSING = (("204",), ("205",), ("206",), ("208",), ("208", "209"), ("210",), ("211",))


@dataclass
class DemoSummary:
    """What the demo holds after seeding, and the logins to print."""

    logins: list[tuple[str, str, str]] = field(default_factory=list)  # role, e-mail, password
    statuses: dict[str, int] = field(default_factory=dict)
    invoices: int = 0
    documents: int = 0
    created: bool = False


def _logins(data_dir: Path) -> dict[str, str]:
    path = data_dir / "demo-logins.json"
    known: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    changed = False
    for key in USERS:
        if key not in known:
            known[key] = new_secret(12)
            changed = True
    if changed:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(known, handle, indent=2)
    return known


def _party(session: Session, *, name: str, kind: str, **values: object) -> Party:
    found = session.scalars(select(Party).where(Party.name == name, Party.kind == kind)).first()
    if found is None:
        found = Party(name=name, kind=kind, **values)
        session.add(found)
        session.flush()
    return found


def _company(session: Session) -> None:
    if session.scalar(select(func.count()).select_from(OperatorCompany)):
        return
    session.add(
        OperatorCompany(
            name=COMPANY,
            siren="356000000",
            vat_number="FR39356000000",
            iban="FR7630006000011234567890189",
            bic="AGRIFRPP",
            address_line="1 rue de la Paix",
            postcode="75002",
            city="Paris",
        )
    )


def _lifecycle(session: Session, doc: Document, inv: Invoice, turn: int, disputed: bool) -> None:
    """Events for a history invoice whose status was set directly: 202, 203, then what it became."""
    final = doc.status_code
    doc.status_code = None
    at = dt.datetime.combine(inv.issue_date or utcnow().date(), dt.time(9), tzinfo=dt.UTC)
    for code in ("202", "203"):
        record_status(session, document=doc, status=Status(code), actor=ACTOR, at=at)
    if final == "212":
        record_status(session, document=doc, status=Status.ENCAISSEE, actor=ACTOR, amount=inv.amount_due)
        return
    extra = ("207",) if disputed else PROCESSING[(turn // 2) % len(PROCESSING)] if turn % 2 == 0 else ()
    for code in extra:
        status = Status(code)
        reasons = [sorted(allowed_reasons(status))[0]] if status in REASON_REQUIRED else []
        record_status(session, document=doc, status=status, actor=ACTOR, reasons=reasons, at=at)


def _history(session: Session, *, invoices: int, seed: int) -> bool:
    """A year of receivables (skipped when loaded before); True when loaded now."""
    if session.scalar(select(func.count()).select_from(Invoice).where(Invoice.seller_key == "history")):
        return False
    generated = receivables_history.generate_history(
        customers=24, invoices=invoices, end=utcnow().date(), days=365, seed=seed
    )
    ids = receivables_history.load_history(session, generated)  # PostgreSQL's sequences moved past its ids
    disputed = {ids[k] for k in generated.disputes}
    party_ids = list(
        session.scalars(
            select(Party.id)
            .where(Party.kind == "customer", Party.name.like("Client %"))
            .order_by(Party.id)
            .limit(len(NAMED_CUSTOMERS))
        )
    )
    for index, party_id in enumerate(party_ids[: len(NAMED_CUSTOMERS)]):
        party = session.get(Party, party_id)
        assert party is not None
        party.name = NAMED_CUSTOMERS[index]
        party.language = "en" if index == 1 else "fr"
        slug = party.name.split()[0].lower().replace("ê", "e")
        party.contacts.append(PartyContact(name=f"Comptabilité {party.name}", email=f"compta@{slug}.example"))
        session.execute(
            update(Invoice).where(Invoice.buyer_party_id == party_id).values(buyer_name=party.name)
        )
    session.execute(update(Invoice).where(Invoice.seller_key == "history").values(seller_name=COMPANY))
    rows = session.execute(
        select(Invoice, Document)
        .join(Document, Document.id == Invoice.document_id)
        .where(Invoice.id.in_(list(ids.values())))
        .order_by(Invoice.id)
    ).tuples()
    turn = 0
    for inv, doc in rows:
        _lifecycle(session, doc, inv, turn, inv.id in disputed)
        turn += doc.status_code != "212"
    return True


def _users(
    session: Session, passwords: dict[str, str], *, customer_id: int, supplier_id: int
) -> list[tuple[str, str, str]]:
    out = []
    portfolio = sorted(
        session.scalars(select(Party.id).where(Party.kind == "customer").order_by(Party.id).limit(6))
    )
    for key, (local, name, role, scope) in USERS.items():
        email = f"{local}@{DOMAIN}"
        user = session.scalars(select(User).where(User.email == email)).first()
        if user is None:
            user = User(email=email, name=name, password_hash=hash_password(passwords[key]))
            session.add(user)
            session.flush()
        elif not verify_password(user.password_hash, passwords[key]):
            user.password_hash = hash_password(passwords[key])
        party_id = customer_id if scope == "customer" else supplier_id if scope == "supplier" else None
        if not session.scalar(
            select(func.count())
            .select_from(UserRole)
            .where(UserRole.user_id == user.id, UserRole.role == role)
        ):
            session.add(UserRole(user_id=user.id, role=role, party_id=party_id))
        if role == "collector":
            have = set(
                session.scalars(
                    select(CollectorAssignment.party_id).where(CollectorAssignment.user_id == user.id)
                )
            )
            session.add_all(
                CollectorAssignment(user_id=user.id, party_id=p) for p in portfolio if p not in have
            )
        out.append((role, email, passwords[key]))
    return out


def _samples(
    rt: worker.Runtime,
    folder: Path,
    *,
    count: int,
    seed: int,
    suppliers: list[int],
    customer_id: int,
    progress: Callable[[str], None],
) -> None:
    """Real documents through the pipeline: two thirds from suppliers, a third ours to the demo customer."""
    with rt.sessions() as session:
        done = session.scalar(
            select(func.count()).select_from(Document).where(Document.original_filename.like("demo-%"))
        )
    if done and done >= count:
        return
    from ingest.sample import generate_samples

    progress(f"generating {count} sample invoices")
    entries = generate_samples(folder, count, seed=seed, invalid_share=0.3)
    progress("sending them through the pipeline (validation, decision, notices)")
    for index, entry in enumerate(entries):
        data = (folder / entry.path).read_bytes()
        outgoing = index % 3 == 2 and entry.expected_valid
        worker.submit(
            data,
            filename=f"demo-{entry.path}",
            direction="outgoing" if outgoing else "incoming",
            supplier_id=None if outgoing else suppliers[index % len(suppliers)],
            customer_id=customer_id if outgoing else None,
            rt=rt,
        )


def _make_available(session: Session) -> None:
    """Our sample invoices to the demo customer, deposited (200), made available: 202, 203."""
    docs = session.scalars(
        select(Document).where(
            Document.direction == "outgoing",
            Document.status_code == "200",
            Document.original_filename.like("demo-%"),
        )
    )
    for doc in docs:
        for code in ("202", "203"):
            record_status(session, document=doc, status=Status(code), actor=ACTOR)


def seed_demo(
    rt: worker.Runtime,
    *,
    invoices: int = 300,
    samples: int = 36,
    seed: int = 1,
    progress: Callable[[str], None] = lambda _m: None,
) -> DemoSummary:
    """Seed the demo into the runtime's database and archive (idempotent); what it holds now."""
    data_dir = Path(rt.settings.data_dir)
    passwords = _logins(data_dir)
    summary = DemoSummary()
    rt.dispatcher = worker.InlineDispatcher(rt)  # the demo's documents are decided before it serves
    worker.configure(rt)
    with rt.sessions() as session, session.begin():
        _company(session)
        supplier_ids = [
            _party(session, name=name, kind="supplier", siren=f"55210055{i}", language="fr").id
            for i, name in enumerate(SUPPLIERS)
        ]
        sigma = session.get(Party, supplier_ids[0])
        assert sigma is not None
        if not sigma.contacts:
            sigma.contacts.append(PartyContact(name="Sami Sigma", email=f"fournisseur@{DOMAIN}"))
        progress(f"a year of receivables ({invoices} invoices, payments, disputes, promises)")
        summary.created = _history(session, invoices=invoices, seed=seed)
    with rt.sessions() as session, session.begin():
        customer_id = session.scalars(
            select(Party.id).where(Party.name == NAMED_CUSTOMERS[0], Party.kind == "customer")
        ).one()
        summary.logins = _users(session, passwords, customer_id=customer_id, supplier_id=supplier_ids[0])
    _samples(
        rt,
        data_dir / "demo-samples",
        count=samples,
        seed=seed,
        suppliers=supplier_ids,
        customer_id=customer_id,
        progress=progress,
    )
    with rt.sessions() as session, session.begin():
        _make_available(session)
    with rt.sessions() as session:
        counts = session.execute(
            select(Document.status_code, func.count()).group_by(Document.status_code)
        ).tuples()
        summary.statuses = {code or "pending": n for code, n in sorted(counts, key=lambda r: r[0] or "")}
        summary.invoices = int(session.scalar(select(func.count()).select_from(Invoice)) or 0)
        summary.documents = int(session.scalar(select(func.count()).select_from(Document)) or 0)
    return summary
