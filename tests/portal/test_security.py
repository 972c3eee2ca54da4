"""RELIABILITY 12 to 15 on the served portal: limits, sessions and CSRF, brute force, headers, errors."""

from __future__ import annotations

import http.client
import re
import ssl
import statistics
import time

import httpx
import pytest
from sqlalchemy import select, text

from ledger import access
from ledger.access import LoginToken, WebSession
from ledger.models import Base, User, UserRole
from portal.app import route_table
from portal.security import SESSION_COOKIE, hash_password
from tests.portal.conftest import csrf_of, login
from tests.portal.world import PASSWORD, USERS

REQUIRED_HEADERS = {
    "strict-transport-security": "max-age=",
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=()",
}


def assert_headers(response: httpx.Response) -> None:
    for name, part in REQUIRED_HEADERS.items():
        assert part in response.headers.get(name, ""), (
            f"{name} missing on {response.request.url} ({response.status_code})"
        )


def assert_no_trace(response: httpx.Response) -> None:
    for marker in ("Traceback", 'File "', "sqlalchemy.", "Exception"):
        assert marker not in response.text, f"{marker!r} shown by {response.request.url}"


def _add_user(portal, email: str) -> None:
    with portal.sessions() as session:
        session.add(User(email=email, password_hash=hash_password(PASSWORD)))
        session.commit()


# -- headers and error pages (15, acceptance 3) -----------------------------------------------


def test_every_kind_of_answer_carries_the_security_headers(portal):
    client = portal.signed_in("customer_a")
    anonymous = portal.client()
    answers = [
        client.get("/invoices"),
        client.get("/static/portal.css"),
        anonymous.get("/livez"),
        anonymous.get("/readyz"),
        anonymous.get("/metrics"),
        anonymous.get("/login"),
        anonymous.get("/invoices"),  # redirect to the login page
        anonymous.get("/no/such/page"),
        anonymous.post("/livez"),  # 405
        client.get("/invoices?page=zero"),  # 400
        anonymous.get("/api/v1/me"),  # 401 problem+json
        anonymous.post("/login", data={"email": "x@y.z", "password": "p"}),  # 403: no CSRF token
        anonymous.post("/login", content=b"x" * 10, headers={"content-type": "text/plain"}),  # 415
    ]
    statuses = {r.status_code for r in answers}
    assert {200, 303, 400, 401, 403, 404, 405, 415} <= statuses
    for response in answers:
        assert_headers(response)
        assert_no_trace(response)
    assert "no-store" in answers[0].headers["cache-control"]
    assert "no-store" not in answers[1].headers.get("cache-control", "")


def test_bad_input_gets_a_clear_page_or_problem_json(portal):
    client = portal.signed_in("admin")
    for path in (
        "/staff/invoices?status=abc",
        "/staff/invoices?page=-1",
        "/staff/invoices?sort=drop",
        "/staff/invoices/notanumber",
        "/staff/invoices?customer=x",
        "/staff/invoices?direction=up",
    ):
        response = client.get(path)
        assert response.status_code in (400, 404), (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1>" in response.text
        assert_no_trace(response)
    api = portal.client().get("/api/v1/me")
    assert api.status_code == 401
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["code"] == "AUTH_REQUIRED"


def test_an_unexpected_error_is_a_500_page_without_trace(tmp_path):
    import asyncio

    from portal.app import create_app
    from schemas.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}"))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    async def fetch(accept: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            return await client.get("/boom", headers={"accept": accept})

    for accept in ("text/html", "application/json"):
        response = asyncio.run(fetch(accept))
        assert response.status_code == 500
        assert "secret internals" not in response.text and "Traceback" not in response.text
        for name, part in REQUIRED_HEADERS.items():
            assert part in response.headers.get(name, ""), name
    assert response.headers["content-type"] == "application/problem+json"


def test_operations_endpoints(portal):
    client = portal.client()
    assert client.get("/livez").text == "ok\n"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "not configured"}
    metrics = client.get("/metrics").text
    assert 'encaisse_http_requests_total{method="GET",route="/livez",status="200"}' in metrics
    assert "encaisse_http_request_duration_seconds_bucket" in metrics


# -- upload and form limits (12, 3) --------------------------------------------------------------


def _raw_request(portal, head: bytes, body: bytes = b"") -> tuple[int, float]:
    context = ssl.create_default_context(cafile=str(portal.cert))
    host, port = portal.url.split("//")[1].split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    begin = time.monotonic()
    conn.connect()
    assert conn.sock is not None
    conn.sock.sendall(head + body)
    response = http.client.HTTPResponse(conn.sock, method="POST")
    response.begin()
    elapsed = time.monotonic() - begin
    conn.close()
    return response.status, elapsed


def test_an_oversize_body_is_refused_before_it_is_read(portal):
    limit = portal.settings.max_request_bytes
    head = (
        f"POST /login HTTP/1.1\r\nHost: {portal.url.split('//')[1]}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {limit + 1}\r\n\r\n"
    ).encode()
    status, elapsed = _raw_request(portal, head, b"a=1")  # the body is never sent: the answer comes first
    assert status == 413
    assert elapsed < 5
    huge = (f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: {10**15}\r\n\r\n").encode()
    assert _raw_request(portal, huge)[0] == 413


def test_a_body_without_length_is_read_no_further_than_the_limit():
    """A chunked body: the application sees at most the limit plus one chunk, then 413 is answered."""
    import asyncio

    from portal.middleware import BodyLimit

    limit, chunk = 1000, 64
    pulled = 0
    seen = 0
    sent: list[dict[str, object]] = []

    async def app(scope, receive, send):
        nonlocal seen
        while True:
            message = await receive()
            seen += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"a" * chunk, "more_body": pulled < 10_000}

    async def send(message):
        sent.append(message)

    def respond(scope, status, detail):
        return [(b"content-type", b"text/plain")], detail.encode()

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/login",
        "headers": [(b"transfer-encoding", b"chunked")],
    }
    asyncio.run(BodyLimit(app, max_bytes=limit, respond=respond)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled * chunk <= limit + chunk
    assert seen <= limit


def test_form_limits(portal):
    client = portal.client()
    token = csrf_of(client.get("/login").text)
    big_field = client.post("/login", data={"email": "a" * (2 << 20), "password": "x", "csrf_token": token})
    assert big_field.status_code == 400
    many = "&".join(f"f{i}=1" for i in range(1001)) + f"&csrf_token={token}"
    too_many = client.post(
        "/login", content=many.encode(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert too_many.status_code == 400
    wrong_type = client.post("/login", files={"file": ("invoice.pdf", b"not a pdf", "application/pdf")})
    assert wrong_type.status_code == 415
    for response in (big_field, too_many, wrong_type):
        assert_headers(response)
        assert_no_trace(response)


# -- sessions and CSRF (13) ----------------------------------------------------------------------


def test_session_cookie_attributes_and_rotation(portal):
    client = portal.client()
    first = login(client, portal.world.email("customer_a"), PASSWORD)
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite"} <= attributes
    assert "domain" not in attributes
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    old = client.cookies[SESSION_COOKIE]
    login(client, portal.world.email("customer_a"), PASSWORD)  # signing in again: a new id
    new = client.cookies[SESSION_COOKIE]
    assert new != old
    stale = portal.client(cookies={SESSION_COOKIE: old}).get("/invoices")
    assert stale.status_code == 303 and stale.headers["location"].startswith("/login")
    assert client.get("/invoices").status_code == 200
    with portal.sessions() as session:  # stored hashed, never as the cookie's value
        hashes = set(session.scalars(select(WebSession.token_hash)))
        assert new not in hashes and access.secret_hash(new) in hashes


def test_logout_ends_the_session_everywhere(portal):
    client = portal.signed_in("customer_b")
    token = client.cookies[SESSION_COOKIE]
    page = client.get("/invoices")
    out = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    replay = portal.client(cookies={SESSION_COOKIE: token}).get("/invoices")
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


def test_cross_site_posts_are_refused_without_change(portal):
    client = portal.signed_in("customer_b")
    token = csrf_of(client.get("/invoices").text)
    attempts = [
        client.post("/logout", data={}),
        client.post("/logout", data={"csrf_token": "forged" * 5}),
        client.post("/logout", data={"csrf_token": token}, headers={"origin": "https://evil.example"}),
        client.post("/logout", data={"csrf_token": token}, headers={"sec-fetch-site": "cross-site"}),
        client.post("/language", data={"csrf_token": token, "lang": "fr"}, headers={"origin": "null"}),
    ]
    assert [r.status_code for r in attempts] == [403] * 5
    assert client.get("/invoices").status_code == 200  # still signed in: nothing changed
    with portal.sessions() as session:
        user = session.get(User, portal.world.users["customer_b"])
        assert user is not None and user.language is None


def _snapshot(portal) -> dict[str, list[tuple[str, ...]]]:
    with portal.sessions() as session:
        return {
            table.name: sorted(tuple(map(str, row)) for row in session.execute(table.select()))
            for table in Base.metadata.sorted_tables
        }


def test_no_get_changes_state(portal):
    clients = {user: portal.signed_in(user) for user in ("customer_a", "collector_a", "admin", "supplier_s")}
    anonymous = portal.client()
    before = _snapshot(portal)
    count = 0
    for route in route_table(portal.app):
        if "GET" not in route["methods"] or route["path"].startswith("/static"):
            continue
        paths = [route["path"]]
        if "{" in route["path"]:
            paths = [
                route["path"]
                .replace("{invoice_id}", str(invoice_id))
                .replace("{party_id}", str(party_id))
                .replace("{kind}", kind)
                for invoice_id in portal.world.invoices.values()
                for party_id in portal.world.parties.values()
                for kind in ("xml",)
            ][:6]
        for path in paths:
            for client in (*clients.values(), anonymous):
                client.get(path + "?token=x")
                count += 1
    assert count > 50
    assert _snapshot(portal) == before


# -- brute force and enumeration (14) ------------------------------------------------------------


def _attempt(client: httpx.Client, email: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.mark.parametrize("known", [True, False])
def test_the_eleventh_failed_login_in_a_minute_gets_429(portal, known):
    email = f"victim-{str(known).lower()}-{portal.backend}@portal.example"
    if known:
        _add_user(portal, email)
    client = portal.client()
    statuses = [_attempt(client, email, "wrong password").status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    blocked = _attempt(client, email, PASSWORD)  # even the right password waits for the minute
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "60"
    assert_headers(blocked)


def test_unknown_and_known_accounts_take_the_same_time(portal):
    known = f"timing-{portal.backend}@portal.example"
    _add_user(portal, known)
    client = portal.client()
    token = csrf_of(client.get("/login").text)
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for i in range(8):
        for kind, email in (("known", known), ("unknown", f"nobody-{i}-{portal.backend}@portal.example")):
            begin = time.perf_counter()
            response = client.post("/login", data={"email": email, "password": "wrong", "csrf_token": token})
            times[kind].append(time.perf_counter() - begin)
            assert response.status_code == 401
            assert "Wrong e-mail address or password" in response.text or "incorrect" in response.text
    known_median, unknown_median = statistics.median(times["known"]), statistics.median(times["unknown"])
    assert abs(known_median - unknown_median) / max(known_median, unknown_median) < 0.10, times


def test_the_ip_throttle(portal):
    settings = portal.settings
    previous = settings.login_failures_per_minute_ip
    settings.login_failures_per_minute_ip = 1
    try:
        response = _attempt(portal.client(), f"fresh-{portal.backend}@portal.example", "x")
        assert response.status_code == 429
    finally:
        settings.login_failures_per_minute_ip = previous


# -- login links -----------------------------------------------------------------------------------


def test_login_link_by_email_is_single_use(portal, smtp):
    client = portal.client()
    email = portal.world.email("customer_a")
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login/link", data={"email": email, "csrf_token": token})
    unknown = client.post("/login/link", data={"email": "nobody@portal.example", "csrf_token": token})
    assert answer.status_code == unknown.status_code == 200
    assert answer.text.replace(email, "") == unknown.text.replace("nobody@portal.example", "")

    def link_mail():
        return [m for m in smtp.messages if email in m.rcpt_tos]

    deadline = time.monotonic() + 10
    while not link_mail() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(link_mail()) == 1 and not [m for m in smtp.messages if "nobody@portal.example" in m.rcpt_tos]
    found = re.search(r"/login/link\?token=([A-Za-z0-9_-]+)", link_mail()[0].text())
    assert found, link_mail()[0].text()
    link_token = found.group(1)
    with portal.sessions() as session:  # hashed at rest
        stored = set(session.scalars(select(LoginToken.token_hash)))
        assert link_token not in stored and access.secret_hash(link_token) in stored

    browser = portal.client()
    confirm = browser.get(f"/login/link?token={link_token}")
    assert confirm.status_code == 200
    used = browser.post("/login/link/use", data={"token": link_token, "csrf_token": csrf_of(confirm.text)})
    assert used.status_code == 303 and SESSION_COOKIE in browser.cookies
    assert browser.get("/invoices").status_code == 200

    other = portal.client()
    again = other.post(
        "/login/link/use", data={"token": link_token, "csrf_token": csrf_of(other.get("/login").text)}
    )
    assert again.status_code == 400 and SESSION_COOKIE not in other.cookies


def test_an_expired_login_link_does_not_sign_in(portal):
    import datetime as dt

    with portal.sessions() as session:
        user = session.get(User, portal.world.users["customer_b"])
        assert user is not None
        link = access.issue_login_token(session, user=user, ttl=dt.timedelta(seconds=-1))
        session.commit()
    client = portal.client()
    response = client.post(
        "/login/link/use", data={"token": link, "csrf_token": csrf_of(client.get("/login").text)}
    )
    assert response.status_code == 400 and SESSION_COOKIE not in client.cookies


def test_api_tokens_are_hashed_scoped_and_revocable(portal):
    with portal.sessions() as session:
        user = session.get(User, portal.world.users["supplier_s"])
        assert user is not None
        row, token = access.create_api_token(
            session, user=user, name="ERP", scopes=["invoices:write"], party_id=portal.world.parties["S"]
        )
        session.commit()
        assert token.startswith("enc_" + row.prefix + "_")
        assert (
            session.scalar(text("SELECT count(*) FROM api_tokens WHERE token_hash = :t"), {"t": token}) == 0
        )
        found = access.verify_api_token(session, token=token)
        assert found is not None and found.scopes == ["invoices:write"]
        assert access.verify_api_token(session, token=token + "x") is None
        assert access.revoke_api_token(session, token_id=row.id, user_id=user.id)
        session.commit()
        assert access.verify_api_token(session, token=token) is None
        with pytest.raises(ValueError):
            access.create_api_token(session, user=user, name="x", scopes=["admin:everything"])


def test_roles_in_the_world_are_the_declared_ones(portal):
    with portal.sessions() as session:
        roles = {
            (u, r)
            for u, r in session.execute(
                select(User.email, UserRole.role).join(UserRole, UserRole.user_id == User.id)
            )
        }
    assert {r for _, r in roles} == {role for spec in USERS.values() for role in spec[0]}


def test_ended_sessions_and_links_are_purged_at_sign_in(portal):
    import datetime as dt

    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with portal.sessions() as session:
        user = session.get(User, portal.world.users["auditor"])
        assert user is not None
        _, old_token = access.open_web_session(session, user=user, ttl=dt.timedelta(hours=1), now=long_ago)
        access.issue_login_token(session, user=user, ttl=dt.timedelta(minutes=15), now=long_ago)
        _, live_token = access.open_web_session(session, user=user, ttl=dt.timedelta(hours=1))
        session.commit()
    portal.signed_in("auditor")
    with portal.sessions() as session:
        hashes = set(session.scalars(select(WebSession.token_hash)))
        assert access.secret_hash(old_token) not in hashes
        assert access.secret_hash(live_token) in hashes
        assert session.scalar(select(LoginToken.id).where(LoginToken.created_at == long_ago)) is None
