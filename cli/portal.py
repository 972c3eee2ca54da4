"""`encaisse serve`, `demo` and `tokens ...`: the portal and its supplier API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import _pipeline, _usage_error, app, err, out
from schemas.errors import EncaisseError


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Server processes.", min=1, max=64)] = 1,
) -> None:
    """Serve the portal (customers, suppliers, staff) with uvicorn, on a migrated database."""
    import uvicorn

    import worker
    from ledger.db import database_url

    try:
        worker.ensure_database(database_url())
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    err.print(f"portal: http://{shown}:{port}/  (livez, readyz, metrics beside it)")
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
        log_level="info",
    )


tokens_app = typer.Typer(help="API tokens of suppliers (the upload API).", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
def tokens_create(
    supplier: Annotated[int, typer.Option("--supplier", help="Supplier party id.")],
    scope: Annotated[list[str], typer.Option("--scope", help="invoices:write, invoices:read.")],
    user: Annotated[str | None, typer.Option("--user", help="E-mail of the supplier's user.")] = None,
    name: Annotated[str, typer.Option("--name", help="A label to tell tokens apart.")] = "api",
) -> None:
    """Create an API token for a supplier's user; it is shown once, only its hash is kept."""
    from portal.tokens import create_token

    rt = _pipeline()
    try:
        with rt.sessions() as session, session.begin():
            row_id, token = create_token(session, supplier_id=supplier, scopes=scope, email=user, name=name)
    except EncaisseError as exc:
        raise _usage_error(str(exc)) from None
    out.print(f"token {row_id} (shown once, keep it secret):")
    typer.echo(token)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke an API token: it stops working at once."""
    from portal.tokens import revoke_token

    rt = _pipeline()
    with rt.sessions() as session, session.begin():
        done = revoke_token(session, token_id=token_id)
    if not done:
        raise _usage_error(f"no live token {token_id}")
    out.print(f"token {token_id} revoked")


@app.command("demo")
def demo_command(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only seed; do not serve.")] = False,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
) -> None:
    """Seed a demo company (customers, suppliers, users of every role, a year of invoices), then serve it.

    Idempotent: a second run adds nothing and prints the same logins.
    """
    from ledger.db import upgrade
    from portal.demo import seed_demo

    try:
        upgrade()
        summary = seed_demo(_pipeline(), progress=lambda message: err.print(f"[dim]demo:[/] {message}"))
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    statuses = ", ".join(f"{code}: {n}" for code, n in summary.statuses.items())
    out.print(f"{summary.documents} documents, {summary.invoices} invoices ({statuses})")
    table = Table("role", "e-mail", "password", title="Demo logins")
    for role, email, password in summary.logins:
        table.add_row(role, email, password)
    out.print(table)
    if not no_serve:
        serve_command(host=host, port=port, workers=1)
