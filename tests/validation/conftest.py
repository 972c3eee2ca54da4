"""Corpus-wide validation runs, done once per test session and shared by the test modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import read_jsonl
from validation import ValidationReport, register_ruleset_dir, validate

FOLDERS = ("facturx-pdf", "cii-xml", "ubl-xml", "invalid")


def corpus_files(corpus: Path) -> list[str]:
    """Every invoice file of the conformance folders, relative to the corpus."""
    out: list[str] = []
    for folder in FOLDERS:
        for f in sorted((corpus / folder).rglob("*")):
            if f.is_file() and f.suffix.lower() in (".xml", ".pdf"):
                out.append(f.relative_to(corpus).as_posix())
    return out


@pytest.fixture(scope="session")
def default_reports(corpus: Path) -> dict[str, ValidationReport]:
    """Every corpus file validated once with the default rule set, French rules forced on."""
    return {rel: validate((corpus / rel).read_bytes(), french=True, path=rel) for rel in corpus_files(corpus)}


@pytest.fixture(scope="session")
def cen_reference(corpus: Path) -> list[dict[str, Any]]:
    """The CEN 1.3.16 verdicts for documents the official stylesheet ran on."""
    return [
        r for r in read_jsonl(corpus / "reference-results.jsonl") if r.get("schematron_fatal_ids") is not None
    ]


@pytest.fixture(scope="session")
def cen_reports(corpus: Path, cen_reference: list[dict[str, Any]]) -> dict[str, ValidationReport]:
    """Those documents validated once with the CEN 1.3.16 rule set, French rules off."""
    names = register_ruleset_dir(corpus / "schematron")
    assert "cen-1.3.16" in names
    return {
        r["path"]: validate(
            (corpus / r["path"]).read_bytes(), ruleset="cen-1.3.16", french=False, path=r["path"]
        )
        for r in cen_reference
    }
