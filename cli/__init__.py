"""The ``encaisse`` command: a thin edge over the stages' public functions.

The commands live in one module per area (documents and rules, the pipeline and jobs, the
archive, money: bank, receivables and dunning, the portal); importing them registers them
on :data:`app`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from schemas.errors import EncaisseError

app = typer.Typer(
    name="encaisse",
    help="Encaisse: read, validate, register and answer e-invoices, with proof of every step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Wide enough for the summary table when the output is a file or a pipe.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

#: File name endings `encaisse validate DIR` picks up when walking a directory.
INVOICE_SUFFIXES = frozenset({".xml", ".pdf"})


def _usage_error(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Files named on the command line, and invoice-like files found below directories.

    Raises:
        typer.Exit: (exit code 2) when a path does not exist.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INVOICE_SUFFIXES)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise _usage_error(f"no such file or directory: {path}")
    return files


def _pipeline() -> Any:
    """The jobs' runtime for this process, on a migrated database.

    The embedded SQLite database is migrated on first use; a PostgreSQL database
    behind the code is an error that says to run ``encaisse db upgrade``.
    """
    import worker
    from ledger.db import database_url

    try:
        worker.ensure_database(database_url())
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    rt = worker.Runtime.from_settings()
    worker.configure(rt)
    return rt


def _fail(exc: EncaisseError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=1)


def _operator() -> str:
    """Who runs the command, as journaled (the system user)."""
    return f"staff:{os.environ.get('USER') or 'operator'}"


# the areas register their commands on ``app`` when imported, in the order ``--help`` lists them
for _area in ("documents", "pipeline", "money", "archive", "portal"):
    importlib.import_module(f"cli.{_area}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``encaisse`` console script."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="encaisse")
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
