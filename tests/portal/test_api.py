"""The supplier upload API: tokens, uploads (a file, a zip), the pipeline's answer, limits (RELIABILITY 7/12).

Served for real (uvicorn over TLS, SQLite and PostgreSQL); the pipeline runs
inline in the portal's process, so a 202 is followed by the document's final
status on the next GET.
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import zipfile
from typing import Any

import pytest
from sqlalchemy import select

from ingest.facturx_pdf import to_facturx_pdf
from ingest.generate_cii import to_cii
from ingest.sample import _wrong_total
from ingest.sample_data import make_invoice
from ledger.access import ApiToken
from ledger.models import Document, Party, User, UserRole
from portal import uploads
from portal.security import hash_password
from portal.tokens import create_token, revoke_token
from tests.portal.test_security import _raw_request
from tests.portal.world import PASSWORD
from tests.services import encaisse_command

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _token(portal, party_key: str = "S", scopes: tuple[str, ...] = ("invoices:write",)) -> str:
    with portal.sessions() as session, session.begin():
        _id, token = create_token(session, supplier_id=portal.world.parties[party_key], scopes=list(scopes))
    return token


def _other_supplier(portal) -> None:
    """A second supplier T with a user, once per portal."""
    if "T" in portal.world.parties:
        return
    with portal.sessions() as session, session.begin():
        party = Party(kind="supplier", name="Tau Négoce", siren="404833048")
        session.add(party)
        session.flush()
        user = User(email="supplier.t@portal.example", name="Tau", password_hash=hash_password(PASSWORD))
        session.add(user)
        session.flush()
        session.add(UserRole(user_id=user.id, role="supplier", party_id=party.id))
        portal.world.parties["T"] = party.id


def _valid_pdf(seed: int) -> bytes:
    return to_facturx_pdf(make_invoice(random.Random(seed), seed))


def _wrong_total_xml(seed: int) -> bytes:
    invoice = make_invoice(random.Random(seed), seed)
    _wrong_total(invoice)
    return to_cii(invoice)


def _client(portal, token: str | None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return portal.client(headers=headers)


def _problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:400])
    assert response.headers["content-type"].startswith("application/problem+json")
    doc: dict[str, Any] = response.json()
    assert doc["status"] == status and doc["detail"]
    if code:
        assert doc.get("code") == code, doc
    assert "Traceback" not in response.text
    return doc


def test_upload_one_invoice_then_read_its_status(portal):
    client = _client(portal, _token(portal))
    response = client.post(
        "/api/v1/invoices", files={"file": ("rejected.xml", _wrong_total_xml(101), "application/xml")}
    )
    assert response.status_code == 202, response.text
    (doc,) = response.json()["documents"]
    assert doc["created"] is True and doc["status_url"] == f"/api/v1/invoices/{doc['id']}"
    status = client.get(doc["status_url"])
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["processing_state"] == "done"
    assert body["status_code"] == "213"
    assert "MONTANTTOTAL_ERR" in body["reason_codes"]
    assert any(f["rule_id"] == "BR-CO-15" and f["severity"] == "fatal" for f in body["findings"])
    assert body["reasons"][0]["label"]
    with portal.sessions() as session:
        row = session.get(Document, doc["id"])
        assert row is not None and row.supplier_party_id == portal.world.parties["S"]
        assert row.direction == "incoming" and portal.store.get(row.digest)
    # the same bytes again: the same document, no second one
    again = client.post(
        "/api/v1/invoices", files={"file": ("again.xml", _wrong_total_xml(101), "application/xml")}
    )
    assert again.status_code == 202 and again.json()["documents"][0] == {
        **doc,
        "created": False,
        "filename": "again.xml",
    }


def test_upload_a_zip_of_several(portal):
    client = _client(portal, _token(portal))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/good.pdf", _valid_pdf(202))
        archive.writestr("bad.xml", _wrong_total_xml(203))
    response = client.post(
        "/api/v1/invoices", files={"file": ("batch.zip", buffer.getvalue(), "application/zip")}
    )
    assert response.status_code == 202, response.text
    docs = response.json()["documents"]
    assert [d["filename"] for d in docs] == ["good.pdf", "bad.xml"]
    statuses = [client.get(d["status_url"]).json() for d in docs]
    assert all(s["processing_state"] == "done" for s in statuses)
    assert statuses[0]["status_code"] not in ("213", "501") and not [
        f for f in statuses[0]["findings"] if f["severity"] == "fatal"
    ]
    assert statuses[1]["status_code"] == "213"


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_bombs_and_limits_are_refused_with_problem_json(portal):
    token = _token(portal)
    client = _client(portal, token)

    def post(name: str, data: bytes, media: str = "application/octet-stream"):
        return client.post("/api/v1/invoices", files={"file": (name, data, media)})

    with portal.sessions() as session:
        before = session.scalar(select(Document.id).order_by(Document.id.desc()).limit(1))
    # 10,000 entries
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w", zipfile.ZIP_STORED) as archive:
        for i in range(10_000):
            archive.writestr(f"{i}.xml", b"<a/>")
    doc = _problem(post("many.zip", many.getvalue()), 400, "ZIP_BOMB")
    assert "10000 entries" in doc["detail"]
    # one entry inflating 1,000 times (40 MB of zeros in ~40 kB)
    bomb = _zip({"bomb.xml": b"<" + b"\0" * (40 * 1024 * 1024)})
    assert len(bomb) < 200_000
    _problem(post("bomb.zip", bomb), 400, "ZIP_BOMB")
    # several entries together past the uncompressed cap, each under the ratio
    rng = random.Random(7)
    chunk = bytes(rng.getrandbits(8) for _ in range(4096))
    part = b"<x>" + b"".join(chunk[: rng.randrange(1, 4096)] + b"\0" * 60_000 for _ in range(80))
    total = _zip({f"{i}.xml": part for i in range(8)})
    assert len(part) * 8 > portal.settings.max_upload_bytes > len(total)
    _problem(post("total.zip", total), 400, "ZIP_BOMB")
    # wrong magic with a .pdf name, a zip holding something else, an empty file
    _problem(post("invoice.pdf", b"MZ\x90\x00 not a pdf"), 415, "NOT_AN_INVOICE")
    _problem(post("mixed.zip", _zip({"a.xml": b"<a/>", "b.exe": b"MZ\x90"})), 415)
    _problem(post("empty.xml", b""), 400, "EMPTY_FILE")
    # 1,001 parts, a form without file, not multipart
    fields = {f"f{i}": "x" for i in range(1_001)}
    _problem(client.post("/api/v1/invoices", data=fields, files={"file": ("a.xml", b"<a/>")}), 400)
    _problem(client.post("/api/v1/invoices", data={"x": "1"}, files={"other": ("a.xml", b"<a/>")}), 400)
    _problem(
        client.post("/api/v1/invoices", content=b"<a/>", headers={"content-type": "application/xml"}), 415
    )
    # a file over max_upload_bytes (under the body limit): 413
    big = b"<" + b" " * portal.settings.max_upload_bytes
    _problem(post("big.xml", big), 413, "TOO_LARGE")
    # a body over the request limit: 413 before parsing (the body is never sent)
    head = (
        f"POST /api/v1/invoices HTTP/1.1\r\nHost: {portal.url.split('//')[1]}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {portal.settings.max_request_bytes + 1}\r\n\r\n"
    ).encode()
    status, elapsed = _raw_request(portal, head)
    assert status == 413 and elapsed < 5
    with portal.sessions() as session:
        assert session.scalar(select(Document.id).order_by(Document.id.desc()).limit(1)) == before


def test_tokens_scopes_revocation_and_isolation(portal):
    _other_supplier(portal)
    anonymous = portal.client()
    _problem(anonymous.post("/api/v1/invoices", files={"file": ("a.xml", b"<a/>")}), 401, "AUTH_REQUIRED")
    _problem(_client(portal, "enc_nope_nothing").get("/api/v1/invoices/1"), 401, "AUTH_REQUIRED")
    # a session cookie is not a token
    _problem(portal.signed_in("supplier_s").get("/api/v1/invoices/1"), 401)

    read_only = _client(portal, _token(portal, scopes=("invoices:read",)))
    _problem(
        read_only.post("/api/v1/invoices", files={"file": ("a.xml", _wrong_total_xml(301))}),
        403,
        "AUTH_FAILED",
    )

    token = _token(portal)
    writer = _client(portal, token)
    uploaded = writer.post("/api/v1/invoices", files={"file": ("t.xml", _wrong_total_xml(302))})
    assert uploaded.status_code == 202
    doc_id = uploaded.json()["documents"][0]["id"]
    assert read_only.get(f"/api/v1/invoices/{doc_id}").status_code == 200

    # another supplier's token: 404, the same body as for an id that does not exist
    other = _client(portal, _token(portal, "T"))
    foreign = other.get(f"/api/v1/invoices/{doc_id}")
    missing = other.get("/api/v1/invoices/987654")
    _problem(foreign, 404, "NOT_FOUND")
    assert foreign.content == missing.content
    # nor may it see the world's incoming invoice of S, or an outgoing one
    with portal.sessions() as session:
        ids = session.scalars(select(Document.id)).all()
    for some_id in ids:
        if some_id != doc_id:
            answer = other.get(f"/api/v1/invoices/{some_id}")
            assert answer.status_code == 404 and answer.content == missing.content

    with portal.sessions() as session, session.begin():
        row_id = session.scalars(select(ApiToken.id).order_by(ApiToken.id.desc())).first()
        assert row_id is not None
    # revoke the writer's token (the newest but one: T's came after)
    with portal.sessions() as session, session.begin():
        writer_row = session.scalars(
            select(ApiToken)
            .where(ApiToken.party_id == portal.world.parties["S"])
            .order_by(ApiToken.id.desc())
        ).first()
        assert writer_row is not None
        assert revoke_token(session, token_id=writer_row.id)
        assert not revoke_token(session, token_id=987654)
    _problem(writer.get(f"/api/v1/invoices/{doc_id}"), 401, "AUTH_REQUIRED")
    _problem(writer.post("/api/v1/invoices", files={"file": ("t.xml", _wrong_total_xml(303))}), 401)


def test_unpack_keeps_names_and_refuses_directories_only():
    assert uploads.unpack(b"%PDF-1.7 x", "a.pdf", max_total=100) == [("a.pdf", b"%PDF-1.7 x")]
    files = uploads.unpack(_zip({"x/y/z.xml": b"<a/>"}), "b.zip", max_total=1000)
    assert files == [("z.xml", b"<a/>")]


def _cli(portal, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCAISSE_")}
    env.update(
        ENCAISSE_DATA_DIR=str(portal.settings.data_dir), ENCAISSE_DATABASE_URL=portal.settings.database_url
    )
    return subprocess.run(encaisse_command(*args), env=env, capture_output=True, text=True, timeout=120)


def test_tokens_cli_creates_a_token_shown_once_and_revokes_it(portal):
    supplier = str(portal.world.parties["S"])
    made = _cli(
        portal, "tokens", "create", "--supplier", supplier, "--scope", "invoices:write", "--name", "ERP"
    )
    assert made.returncode == 0, made.stderr
    token_id = int(re.search(r"token (\d+) \(shown once", made.stdout).group(1))  # type: ignore[union-attr]
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("enc_")
    with portal.sessions() as session:
        row = session.get(ApiToken, token_id)
        assert row is not None and row.party_id == portal.world.parties["S"] and row.name == "ERP"
        assert token not in (row.token_hash, row.prefix)
    client = _client(portal, token)
    _problem(client.get("/api/v1/invoices/987654"), 404, "NOT_FOUND")  # a live token: past the 401
    revoked = _cli(portal, "tokens", "revoke", str(token_id))
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    _problem(client.get("/api/v1/invoices/987654"), 401, "AUTH_REQUIRED")
    again = _cli(portal, "tokens", "revoke", str(token_id))
    assert again.returncode == 2 and "no live token" in again.stderr
    unknown = _cli(portal, "tokens", "create", "--supplier", "987654", "--scope", "invoices:write")
    assert unknown.returncode == 2 and "no supplier" in unknown.stderr and "Traceback" not in unknown.stderr
    bad = _cli(portal, "tokens", "create", "--supplier", supplier, "--scope", "admin:all")
    assert bad.returncode == 2 and "unknown API scope" in bad.stderr
