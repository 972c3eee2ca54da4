"""A small, complete data set touching every table, for model and migration tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.orm import Session

from ledger import db
from ledger.keys import seller_key
from ledger.models import (
    Base,
    CollectorAssignment,
    Document,
    Invoice,
    LifecycleEvent,
    OperatorCompany,
    Party,
    PartyContact,
    PartyIban,
    User,
    UserRole,
    ValidationReportRow,
)

PARIS = dt.timezone(dt.timedelta(hours=1), "CET")
RECEIVED = dt.datetime(2026, 3, 29, 1, 59, 59, 123456, tzinfo=PARIS)  # 00:59:59.123456 UTC
BIG = Decimal("9999999999999999.99")  # the largest Numeric(18, 2): exact only without floats


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seed(session: Session) -> dict[str, Any]:
    """Insert one of everything; returns what the tests compare afterwards."""
    session.add(
        OperatorCompany(
            name="Encaisse Démo SAS",
            siren="732829320",
            siret="73282932000074",
            vat_number="FR44732829320",
            iban="FR7630006000011234567890189",
            address_line="1 rue de la Paix",
            postcode="75002",
            city="Paris",
        )
    )
    supplier = Party(
        kind="supplier",
        name="Fournisseur Ltée",
        siren="542107651",
        vat_number="FR40542107651",
        language="fr",
        profile="sme",
        ibans=[PartyIban(iban="FR1420041010050500013M02606", bic="PSSTFRPPLIL")],
        contacts=[PartyContact(name="Jeanne Compta", email="compta@fournisseur.example", role="billing")],
    )
    customer = Party(kind="customer", name="Client Public", profile="public_body", country_code="FR")
    session.add_all([supplier, customer])
    session.flush()

    docs = []
    for i in range(3):
        data = f"invoice bytes {i}".encode()
        docs.append(
            Document(
                digest=digest_of(data),
                size_bytes=len(data),
                format="cii-xml",
                profile="EN16931",
                direction="incoming",
                original_filename=f"facture-{i}.xml",
                received_at=RECEIVED,
                supplier_party_id=supplier.id,
                status_code="202",
            )
        )
    session.add_all(docs)
    session.flush()
    session.add(
        Invoice(
            document_id=docs[0].id,
            number="FA-2026-0001",
            issue_date=dt.date(2026, 3, 28),
            due_date=dt.date(2026, 4, 27),
            type_code="380",
            currency="EUR",
            total_without_vat=Decimal("1000.00"),
            total_vat=Decimal("200.00"),
            total_with_vat=Decimal("1200.00"),
            amount_due=BIG,
            amount_still_due=Decimal("-0.01"),
            seller_key=seller_key(siren="542107651"),
            seller_name="Fournisseur Ltée",
            seller_siren="542107651",
            buyer_name="Encaisse Démo SAS",
            buyer_siren="732829320",
            seller_party_id=supplier.id,
        )
    )
    session.add(
        ValidationReportRow(
            document_id=docs[0].id,
            ruleset="facturx-7.8",
            valid=False,
            findings=[{"rule_id": "BR-CO-15", "severity": "fatal", "value": "1200.01", "terms": ["BT-112"]}],
            layers=[{"layer": "xsd", "status": "passed"}, {"layer": "schematron", "status": "failed"}],
        )
    )
    session.add_all(
        [
            LifecycleEvent(
                document_id=docs[0].id, status_code="202", actor_kind="system", occurred_at=RECEIVED
            ),
            LifecycleEvent(
                document_id=docs[0].id,
                status_code="213",
                reason_codes=["REJ_SEMAN", "CALCUL_ERR"],
                text="Total TTC incohérent",
                actor_kind="job",
                actor_id="validate",
                occurred_at=RECEIVED + dt.timedelta(seconds=1),
            ),
            LifecycleEvent(
                document_id=docs[1].id,
                status_code="212",
                actor_kind="user",
                actor_id="1",
                amount=Decimal("1234.56"),
                occurred_at=RECEIVED,
            ),
        ]
    )
    user = User(email="collector@encaisse.example", name="Camille")
    user.roles = [UserRole(role="collector"), UserRole(role="customer", party_id=customer.id)]
    session.add(user)
    session.flush()
    session.add(CollectorAssignment(user_id=user.id, party_id=customer.id))
    session.commit()
    return {"digests": sorted(d.digest for d in docs)}


def seed_at_revision(url: str) -> dict[str, Any]:
    """:func:`seed` into a database at an older revision: only the columns it has are copied.

    The seed is built with the current models in an in-memory SQLite database,
    then copied table by table (ids kept, column types applied) into ``url``,
    leaving out the columns later revisions added.
    """
    scratch = create_engine("sqlite://")
    Base.metadata.create_all(scratch)
    with Session(scratch) as s:
        result = seed(s)
    target = db.make_engine(url)
    try:
        present = inspect(target)
        with scratch.connect() as src, target.begin() as dst:
            for table in Base.metadata.sorted_tables:
                if not present.has_table(table.name):
                    continue
                names = {c["name"] for c in present.get_columns(table.name)}
                cols = [c for c in table.columns if c.name in names]
                slim = Table(table.name, MetaData(), *(Column(c.name, c.type) for c in cols))
                rows = [dict(r._mapping) for r in src.execute(select(*cols))]
                if rows:
                    dst.execute(slim.insert(), rows)
                    if dst.dialect.name == "postgresql" and "id" in names:
                        seq = f"pg_get_serial_sequence('{table.name}', 'id')"
                        dst.execute(text(f"SELECT setval({seq}, max(id)) FROM {table.name}"))
    finally:
        target.dispose()
        scratch.dispose()
    return result
