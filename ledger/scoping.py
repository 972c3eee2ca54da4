"""What a user may see: the one place that filters invoices, documents and parties by viewer.

Every list and every lookup by id the portal makes starts from a query built
here, so a page or an API route cannot forget the filter. A lookup outside the
viewer's scope raises :class:`NotFound`, exactly as for an id that does not
exist: the answer never tells "this exists but is not yours".

Who sees what:

* ``admin``, ``receivables_manager``, ``litigation``, ``auditor``: everything;
* ``collector``: the outgoing invoices (and their documents) of the customers
  assigned to them (``collector_assignments``), and those customers;
* ``customer`` (scoped to a party): the outgoing invoices addressed to that
  party once they were made available (not the ones still in transmission,
  rejected or misrouted), and the party itself;
* ``supplier`` (scoped to a party): the incoming documents that party sent,
  rejected ones included (it must see why), their invoices, and the party.

A user holding several roles sees the union.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, false, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ledger.models import CollectorAssignment, Document, Invoice, Party, User, UserRole
from schemas.errors import EncaisseError, ErrorCode

#: Roles that see every customer, supplier and document (read; what they may change is the portal's).
GLOBAL_ROLES = frozenset({"admin", "receivables_manager", "litigation", "auditor"})
STAFF_ROLES = GLOBAL_ROLES | {"collector"}
#: Statuses under which a customer does not see an outgoing invoice: not yet made available
#: (200 Déposée, 201 Émise, 202 Reçue), or never delivered (213 Rejetée, 221 Erreur de routage,
#: 501 Irrecevable).
HIDDEN_FROM_CUSTOMERS = frozenset({"200", "201", "202", "213", "221", "501"})


class NotFound(EncaisseError):
    """Nothing with that id that this user may see (also: nothing with that id at all)."""

    code = ErrorCode.NOT_FOUND


@dataclass(frozen=True)
class Viewer:
    """A signed-in user and what their roles let them see."""

    user_id: int
    roles: frozenset[str]
    customer_party_ids: frozenset[int] = frozenset()
    supplier_party_ids: frozenset[int] = frozenset()
    collector_party_ids: frozenset[int] = frozenset()

    @property
    def sees_everything(self) -> bool:
        """True for the roles that read the whole ledger."""
        return bool(self.roles & GLOBAL_ROLES)

    @property
    def is_staff(self) -> bool:
        """True for the back-office roles (collectors included)."""
        return bool(self.roles & STAFF_ROLES)

    def has(self, *roles: str) -> bool:
        """True when the viewer holds at least one of ``roles``."""
        return bool(self.roles & set(roles))


def viewer_for(session: Session, *, user: User) -> Viewer:
    """The :class:`Viewer` of ``user``: roles, their parties, the collector's portfolio."""
    rows = session.execute(select(UserRole.role, UserRole.party_id).where(UserRole.user_id == user.id)).all()
    roles = frozenset(role for role, _ in rows)
    customers = frozenset(p for role, p in rows if role == "customer" and p is not None)
    suppliers = frozenset(p for role, p in rows if role == "supplier" and p is not None)
    portfolio: frozenset[int] = frozenset()
    if "collector" in roles:
        portfolio = frozenset(
            session.scalars(
                select(CollectorAssignment.party_id).where(CollectorAssignment.user_id == user.id)
            )
        )
    return Viewer(
        user_id=user.id,
        roles=roles,
        customer_party_ids=customers,
        supplier_party_ids=suppliers,
        collector_party_ids=portfolio,
    )


def _ids(column: Any, ids: frozenset[int]) -> ColumnElement[bool]:
    return column.in_(sorted(ids)) if ids else false()


def document_clause(viewer: Viewer) -> ColumnElement[bool]:
    """The WHERE clause on ``documents`` selecting what ``viewer`` may see."""
    if viewer.sees_everything:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if viewer.has("collector"):
        clauses.append(
            and_(
                Document.direction == "outgoing", _ids(Document.customer_party_id, viewer.collector_party_ids)
            )
        )
    if viewer.has("customer"):
        clauses.append(
            and_(
                Document.direction == "outgoing",
                Document.status_code.is_not(None),
                Document.status_code.not_in(sorted(HIDDEN_FROM_CUSTOMERS)),
                _ids(Document.customer_party_id, viewer.customer_party_ids),
            )
        )
    if viewer.has("supplier"):
        clauses.append(
            and_(
                Document.direction == "incoming", _ids(Document.supplier_party_id, viewer.supplier_party_ids)
            )
        )
    return or_(false(), *clauses)


def party_clause(viewer: Viewer) -> ColumnElement[bool]:
    """The WHERE clause on ``parties`` selecting what ``viewer`` may see."""
    if viewer.sees_everything:
        return true()
    ids: frozenset[int] = frozenset()
    if viewer.has("collector"):
        ids |= viewer.collector_party_ids
    if viewer.has("customer"):
        ids |= viewer.customer_party_ids
    if viewer.has("supplier"):
        ids |= viewer.supplier_party_ids
    return _ids(Party.id, ids)


def documents(viewer: Viewer) -> Select[tuple[Document]]:
    """``SELECT documents`` limited to what ``viewer`` may see (add filters and order to it)."""
    return select(Document).where(document_clause(viewer))


def invoices(viewer: Viewer) -> Select[tuple[Invoice]]:
    """``SELECT invoices JOIN documents`` limited to what ``viewer`` may see."""
    return select(Invoice).join(Document, Document.id == Invoice.document_id).where(document_clause(viewer))


def parties(viewer: Viewer) -> Select[tuple[Party]]:
    """``SELECT parties`` limited to what ``viewer`` may see."""
    return select(Party).where(party_clause(viewer))


def get_invoice(session: Session, *, viewer: Viewer, invoice_id: int) -> Invoice:
    """The invoice with this id if ``viewer`` may see it, else :class:`NotFound`."""
    found = session.scalars(invoices(viewer).where(Invoice.id == invoice_id)).one_or_none()
    if found is None:
        raise NotFound("no such invoice", where="invoice_id")
    return found


def get_document(session: Session, *, viewer: Viewer, document_id: int) -> Document:
    """The document with this id if ``viewer`` may see it, else :class:`NotFound`."""
    found = session.scalars(documents(viewer).where(Document.id == document_id)).one_or_none()
    if found is None:
        raise NotFound("no such document", where="document_id")
    return found


def get_party(session: Session, *, viewer: Viewer, party_id: int) -> Party:
    """The party with this id if ``viewer`` may see it, else :class:`NotFound`."""
    found = session.scalars(parties(viewer).where(Party.id == party_id)).one_or_none()
    if found is None:
        raise NotFound("no such customer", where="party_id")
    return found
