"""At least 1,000 generated hostile or broken inputs: a clear finding or error each, never an exception.

The generator is ``tests/reliability/hostile.py`` (seeded); inputs that once broke
a contract are kept as named fixtures in ``tests/reliability/fixtures/`` and replayed.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from ingest import detect
from ingest.kinds import DocumentKind
from tests.reliability import hostile as h

FIXTURES = Path(__file__).with_name("fixtures")


def test_the_generator_is_seeded() -> None:
    first = [hashlib.sha256(d).hexdigest() for _, d in h.hostile_inputs(seed=7, count=120)][60:]
    again = [hashlib.sha256(d).hexdigest() for _, d in h.hostile_inputs(seed=7, count=120)][60:]
    other = [hashlib.sha256(d).hexdigest() for _, d in h.hostile_inputs(seed=8, count=120)][60:]
    assert first == again
    assert first != other


def test_a_thousand_hostile_inputs_each_get_a_clear_answer() -> None:
    from validation import validate

    kinds: Counter[str] = Counter()
    failures: list[str] = []
    count = 0
    for name, data in h.hostile_inputs(count=1000):
        count += 1
        try:
            det = detect(data)
            report = validate(data, path=name)
            as_json = report.as_json(name)
            json.dumps(as_json, default=str)
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if det.kind is DocumentKind.NOT_INVOICE:
            if det.code is None or not det.reason:
                failures.append(f"{name}: not an invoice without code or reason")
            if (
                report.error is None
                or report.error.get("code") != det.code
                or not report.error.get("message")
            ):
                failures.append(f"{name}: report error {report.error} does not carry {det.code}")
            kinds[f"rejected:{det.code}"] += 1
        elif det.kind is DocumentKind.PLAIN_PDF:
            if report.valid or not det.reason:
                failures.append(f"{name}: a plain PDF must be answered with a reason and not be valid")
            kinds["plain-pdf"] += 1
        else:
            if report.error is None and not report.layers:
                failures.append(f"{name}: structured but the report has neither error nor layers")
            kinds["valid" if report.valid else "invalid"] += 1
    assert count == 1000
    assert failures == []
    # the generator reaches every door: many distinct rejections, and structured inputs too
    assert len([k for k in kinds if k.startswith("rejected:")]) >= 12, kinds
    assert kinds["invalid"] + kinds["valid"] >= 100, kinds


def _manifest() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", sorted(_manifest()))
def test_crasher_fixture_replays(name: str) -> None:
    from validation import validate

    expected = _manifest()[name]
    data = (FIXTURES / name).read_bytes()
    det = detect(data)
    assert det.kind.value == expected["kind"]
    assert (det.code.value if det.code else None) == expected["code"]
    assert sorted(f.rule_id for f in det.findings) == expected["findings"]
    report = validate(data, path=name)
    assert report.error is not None or report.layers


def test_every_fixture_is_in_the_manifest_and_generated() -> None:
    files = {p.name for p in FIXTURES.iterdir() if p.name != "manifest.json"}
    assert files == set(_manifest())
    assert files == set(h.crasher_fixtures())
