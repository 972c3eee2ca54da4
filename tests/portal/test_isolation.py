"""RELIABILITY 10: the isolation matrix, generated from the application's route table.

For every route with an id in its path, every user of every role asks for every
object: the entitled ones get it, everyone else gets a 404 whose body is the
same as for an id that does not exist. Every GET page without an id is fetched
by every user and must not show an invoice number they may not see. A route
whose path parameters this test does not know fails the test, so a new route
cannot escape it. Who is entitled is stated in ``tests.portal.world``
independently of ``ledger.scoping``.
"""

from __future__ import annotations

import itertools
import re

import pytest
from sqlalchemy import select

from ledger.models import Invoice
from portal.app import route_table
from tests.portal.world import USERS, entitled, entitled_party

NONEXISTENT = 987654
#: path parameter → what it names
#: (``decision_id``: the review queue's actions, POST only; their scoping is in test_review.py)
KNOWN_PARAMS = {"invoice_id", "party_id", "kind", "token", "document_id", "decision_id"}
#: paths that name no data of anyone (and the OpenAPI description)
NO_DATA = {"/livez", "/readyz", "/metrics", "/login", "/login/link", "/", "/openapi.json", "/api/v1/me"}


def _area(path: str) -> str:
    if path.startswith("/staff/"):
        return "staff"
    if path.startswith(("/invoices", "/statement", "/pay/")):
        return "customer"
    if path.startswith("/supplier/"):
        return "supplier"
    if path.startswith("/api/v1/"):
        return "api"  # API tokens, not sessions: tests/portal/test_api.py runs its matrix
    raise AssertionError(f"route {path} belongs to no area this test knows: add it to the matrix")


def _routes(app):
    out = []
    for route in route_table(app):
        if route["path"].startswith("/static"):
            continue
        out.append((route["path"], set(route["methods"]), re.findall(r"{(\w+)}", route["path"])))
    assert len(out) > 10
    return out


def test_every_route_is_covered(portal):
    for path, _methods, params in _routes(portal.app):
        unknown = set(params) - KNOWN_PARAMS
        assert not unknown, f"route {path} has parameters {unknown} the isolation matrix does not cover"
        if params:
            _area(path)


def _expected_downloads(portal, key):
    return {"pdf", "xml"} if key == "A1" else {"xml"}


def _document_ids(portal) -> dict[str, int]:
    """Invoice key → its document's id (the supplier's pages and the API name documents)."""
    with portal.sessions() as session:
        pairs = {i: d for i, d in session.execute(select(Invoice.id, Invoice.document_id)).tuples()}
    return {key: pairs[invoice_id] for key, invoice_id in portal.world.invoices.items()}


def _cases(portal):
    world = portal.world
    for path, methods, params in _routes(portal.app):
        if "GET" not in methods or not params:
            continue
        area = _area(path)
        if "invoice_id" in params:
            kinds = ["pdf", "xml"] if "kind" in params else [None]
            for key, kind in itertools.product(world.invoices, kinds):
                url = path.replace("{invoice_id}", str(world.invoices[key]))
                missing = path.replace("{invoice_id}", str(NONEXISTENT))
                if kind:
                    url, missing = url.replace("{kind}", kind), missing.replace("{kind}", kind)
                yield path, url, missing, area, ("invoice", key, kind)
        elif "party_id" in params:
            for key, party_id in world.parties.items():
                url = path.replace("{party_id}", str(party_id))
                yield path, url, path.replace("{party_id}", str(NONEXISTENT)), area, ("party", key, None)
        elif "document_id" in params:
            if area == "api":
                continue
            documents = _document_ids(portal)
            for key in world.invoices:
                url = path.replace("{document_id}", str(documents[key]))
                missing = path.replace("{document_id}", str(NONEXISTENT))
                yield path, url, missing, area, ("document", key, None)
        elif "token" in params:  # an online checkout, by its public token
            for key, token in world.checkouts.items():
                url = path.replace("{token}", token)
                yield path, url, path.replace("{token}", f"tok-{key}-0"), area, ("checkout", key, None)
        else:
            raise AssertionError(f"route {path}: no objects to try")


def _allowed(portal, user, area, what):
    kind_of, key, kind = what
    if kind_of == "checkout":
        return entitled(portal.world, user, "customer", key)
    if kind_of == "party":
        return entitled_party(user, area, key)
    if area == "supplier":
        return user == "supplier_s" and portal.world.owner[key] == "S"
    if not entitled(portal.world, user, area, key):
        return False
    return kind is None or kind in _expected_downloads(portal, key)


@pytest.mark.parametrize("user", sorted(USERS))
def test_matrix_of_routes_with_ids(portal, user):
    client = portal.signed_in(user)
    leaks, wrong = [], []
    tried = 0
    missing_bodies: dict[str, bytes] = {}
    for _path, url, missing, area, what in _cases(portal):
        tried += 1
        response = client.get(url)
        if _allowed(portal, user, area, what):
            if response.status_code != 200:
                wrong.append(f"{url}: {response.status_code} for entitled {user}")
            continue
        if missing not in missing_bodies:
            absent = client.get(missing)
            assert absent.status_code == 404, (missing, absent.status_code)
            missing_bodies[missing] = absent.content
        if response.status_code != 404:
            leaks.append(f"{url} ({what[1]}) answered {response.status_code} to {user}, should be hidden")
        elif response.content != missing_bodies[missing]:
            leaks.append(f"{url}: the 404 for {user} differs from a nonexistent id's")
    assert tried > 30
    assert not leaks, "\n".join(leaks)
    assert not wrong, "\n".join(wrong)
    client.close()


@pytest.mark.parametrize("user", sorted(USERS))
def test_pages_without_ids_never_list_foreign_invoices(portal, user):
    world = portal.world
    client = portal.signed_in(user)
    hidden = [
        world.numbers[key]
        for key in world.invoices
        if not (
            entitled(world, user, "customer", key)
            or entitled(world, user, "staff", key)
            or (user == "supplier_s" and world.owner[key] == "S")
        )
    ]
    seen_pages = 0
    for path, methods, params in _routes(portal.app):
        if "GET" not in methods or params or path in NO_DATA:
            continue
        _area(path)
        for query in ("", "?sort=-amount_still_due", "?overdue=true"):
            response = client.get(path + query)
            assert response.status_code in (200, 404), (path, response.status_code)
            if response.status_code == 200:
                seen_pages += 1
            leaked = [n for n in hidden if n in response.text]
            assert not leaked, f"{path}{query} shows {leaked} to {user}"
    assert seen_pages >= 3 if user != "supplier_s" else seen_pages >= 1  # the supplier: its documents
    client.close()
