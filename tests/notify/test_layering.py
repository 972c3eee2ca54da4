"""notify depends on schemas only (DESIGN.md): never on ledger, validation, ingest or the edges."""

from __future__ import annotations

import ast
from pathlib import Path

NOTIFY = Path(__file__).resolve().parents[2] / "notify"
OURS = {"schemas", "ingest", "validation", "ledger", "notify", "archive", "portal", "worker", "cli"}


def test_notify_imports_only_schemas_and_itself() -> None:
    files = sorted(NOTIFY.rglob("*.py"))
    assert len(files) >= 5
    bad: list[str] = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in OURS and top not in {"schemas", "notify"}:
                    bad.append(f"{path.name}: {name}")
    assert bad == []


def test_templates_exist_for_every_kind_language_and_format() -> None:
    from notify.models import NoticeKind

    names = {p.name for p in (NOTIFY / "templates").iterdir()}
    for kind in NoticeKind:
        for lang in ("fr", "en"):
            for fmt in ("txt", "html"):
                assert f"{kind.value}.{lang}.{fmt}.jinja" in names
