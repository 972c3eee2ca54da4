"""Shared fixtures: where the corpus is, and how to behave when it is missing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("ENCAISSE_CORPUS", ROOT.parent / "shared" / "corpus")).resolve()


def corpus_path() -> Path:
    """The corpus folder; in CI a missing corpus fails, elsewhere it skips."""
    if not CORPUS.is_dir():
        reason = f"the shared corpus is missing at {CORPUS}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CORPUS


@pytest.fixture(scope="session")
def corpus() -> Path:
    return corpus_path()


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
