"""Benchmark: full validation (XSD + EN 16931 schematron) of the corpus XML, Encaisse vs the factur-x path.

Documents: the standalone CII and UBL XML of the shared corpus plus the XML
extracted from its PDFs (extraction is done up front and not timed).

- **Encaisse**: :func:`validation.validate` on each document's XML (safety
  parse, detection, model, XSD, schematron of the default rule set; French
  rules off so both sides run the same rules), stylesheets and schemas
  compiled once per process; with 1 worker (in process) and N workers (spawned
  processes warmed up before the clock starts).
- **peer**: what a user of the factur-x library does today: its
  ``xml_check_xsd`` (which compiles the XSD on each call), then the same
  schematron XSLT compiled afresh with saxonche for each document and run on
  it. It is slow, so it runs on an evenly spread sample of the documents
  (``--peer-sample``); rates are per document, so they compare.

Run: ``.venv/bin/python -m bench.validate [--workers 2] [--peer-sample 60] [--limit N]``.
Prints a table and the ratios and writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ingest.detect import detect  # noqa: E402
from ingest.kinds import Profile  # noqa: E402
from schemas.invoice import Syntax  # noqa: E402
from validation import validate, warm_up  # noqa: E402
from validation.rulesets import get_ruleset  # noqa: E402

DEFAULT_CORPUS = Path(os.environ.get("ENCAISSE_CORPUS", ROOT.parent / "shared" / "corpus"))
FOLDERS = ("facturx-pdf", "cii-xml", "ubl-xml", "invalid")


@dataclass(frozen=True)
class Doc:
    """One document to validate: its XML and what the schematron choice needs."""

    name: str
    xml: bytes
    syntax: str
    profile: str | None


@dataclass
class Run:
    """The timings of one side with one worker count."""

    side: str
    workers: int
    documents: int
    wall_s: float
    docs_per_s: float
    median_ms: float
    p95_ms: float
    setup_s: float


def load_documents(corpus: Path, limit: int | None) -> list[Doc]:
    """The corpus XML: standalone files and PDF attachments (CII and UBL only)."""
    docs: list[Doc] = []
    for folder in FOLDERS:
        for f in sorted((corpus / folder).rglob("*")):
            if not f.is_file() or f.suffix.lower() not in (".xml", ".pdf"):
                continue
            det = detect(f.read_bytes())
            if det.xml is None or det.syntax not in (Syntax.CII, Syntax.UBL) or not det.is_structured:
                continue
            docs.append(
                Doc(
                    name=f.relative_to(corpus).as_posix(),
                    xml=det.xml,
                    syntax=det.syntax.value,
                    profile=det.profile.value if det.profile else None,
                )
            )
            if limit and len(docs) >= limit:
                return docs
    return docs


def _stats(side: str, workers: int, wall: float, latencies: list[float], setup: float) -> Run:
    ordered = sorted(latencies)
    return Run(
        side=side,
        workers=workers,
        documents=len(latencies),
        wall_s=round(wall, 3),
        docs_per_s=round(len(latencies) / wall, 2) if wall else 0.0,
        median_ms=round(statistics.median(ordered) * 1000, 2),
        p95_ms=round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        setup_s=round(setup, 3),
    )


# --- Encaisse ---------------------------------------------------------------------------------


def encaisse_one(xml: bytes) -> float:
    """Validate one document; return the seconds it took."""
    start = time.perf_counter()
    validate(xml, french=False)
    return time.perf_counter() - start


def _encaisse_init() -> None:
    warm_up(None, french=False)


def _ready(_: int) -> int:
    return os.getpid()


def run_encaisse(docs: list[Doc], workers: int) -> Run:
    """Encaisse with ``workers`` processes (1 = in this process)."""
    if workers <= 1:
        start = time.perf_counter()
        warm_up(None, french=False)
        setup = time.perf_counter() - start
        start = time.perf_counter()
        latencies = [encaisse_one(d.xml) for d in docs]
        return _stats("encaisse", 1, time.perf_counter() - start, latencies, setup)
    ctx = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_encaisse_init) as pool:
        list(pool.map(_ready, range(workers * 4)))  # every worker started and warmed up
        setup = time.perf_counter() - start
        start = time.perf_counter()
        latencies = list(pool.map(encaisse_one, [d.xml for d in docs], chunksize=8))
        wall = time.perf_counter() - start
    return _stats("encaisse", workers, wall, latencies, setup)


# --- peer: factur-x xml_check_xsd + the same XSLT compiled for each document -------------------

_peer_processor: Any = None


def _peer_init() -> None:
    global _peer_processor
    import saxonche

    _peer_processor = saxonche.PySaxonProcessor(license=False)


def peer_one(doc: Doc) -> float:
    """The one-shot path for one document; return the seconds it took."""
    import facturx

    if _peer_processor is None:
        _peer_init()
    stylesheet = get_ruleset().stylesheet(Syntax(doc.syntax), Profile(doc.profile) if doc.profile else None)
    start = time.perf_counter()
    with contextlib.suppress(Exception):  # factur-x raises bare Exception when invalid: timing only
        facturx.xml_check_xsd(doc.xml)
    exe = _peer_processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(stylesheet))
    text = doc.xml.decode("utf-8", "replace").lstrip("\ufeff")
    with contextlib.suppress(Exception):  # a dynamic error in the rules still costs what it costs
        node = _peer_processor.parse_xml(xml_text=text)
        exe.transform_to_string(xdm_node=node)
    return time.perf_counter() - start


def run_peer(docs: list[Doc], workers: int) -> Run:
    """The peer path with ``workers`` processes (1 = in this process)."""
    if workers <= 1:
        start = time.perf_counter()
        _peer_init()
        setup = time.perf_counter() - start
        start = time.perf_counter()
        latencies = [peer_one(d) for d in docs]
        return _stats("peer", 1, time.perf_counter() - start, latencies, setup)
    ctx = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_peer_init) as pool:
        list(pool.map(_ready, range(workers * 4)))
        setup = time.perf_counter() - start
        start = time.perf_counter()
        latencies = list(pool.map(peer_one, docs, chunksize=1))
        wall = time.perf_counter() - start
    return _stats("peer", workers, wall, latencies, setup)


def sample(docs: list[Doc], n: int) -> list[Doc]:
    """An evenly spread sample of ``n`` documents (all when ``n`` covers them)."""
    if n <= 0 or n >= len(docs):
        return list(docs)
    step = len(docs) / n
    return [docs[int(i * step)] for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--workers", type=int, default=2, help="worker count of the parallel runs (default 2)"
    )
    parser.add_argument("--peer-sample", type=int, default=60, help="documents for the peer runs (0 = all)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N documents")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    docs = load_documents(args.corpus, args.limit)
    extraction = time.perf_counter() - start
    peer_docs = sample(docs, args.peer_sample)
    print(
        f"{len(docs)} documents ({sum(d.syntax == 'cii' for d in docs)} CII, "
        f"{sum(d.syntax == 'ubl' for d in docs)} UBL); extraction {extraction:.1f} s (not timed); "
        f"peer sample {len(peer_docs)}"
    )

    runs = [
        run_encaisse(docs, 1),
        run_encaisse(docs, args.workers),
        run_peer(peer_docs, 1),
        run_peer(peer_docs, args.workers),
    ]
    by = {(r.side, r.workers): r for r in runs}
    ratios = {
        "encaisse_vs_peer_1_worker": round(by[("encaisse", 1)].docs_per_s / by[("peer", 1)].docs_per_s, 1),
        f"encaisse_vs_peer_{args.workers}_workers": round(
            by[("encaisse", args.workers)].docs_per_s / by[("peer", args.workers)].docs_per_s, 1
        ),
        f"encaisse_{args.workers}_workers_vs_1": round(
            by[("encaisse", args.workers)].docs_per_s / by[("encaisse", 1)].docs_per_s, 2
        ),
    }

    header = (
        f"{'side':<10}{'workers':>8}{'docs':>7}{'wall s':>9}{'docs/s':>9}"
        f"{'median ms':>11}{'p95 ms':>9}{'setup s':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        print(
            f"{r.side:<10}{r.workers:>8}{r.documents:>7}{r.wall_s:>9.2f}{r.docs_per_s:>9.1f}"
            f"{r.median_ms:>11.2f}{r.p95_ms:>9.2f}{r.setup_s:>9.2f}"
        )
    for name, value in ratios.items():
        print(f"{name}: {value}x")

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "when": stamp,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "versions": {p: metadata.version(p) for p in ("factur-x", "saxonche", "lxml")},
        "documents": len(docs),
        "peer_sample": len(peer_docs),
        "extraction_s": round(extraction, 2),
        "runs": [asdict(r) for r in runs],
        "ratios": ratios,
    }
    out = args.out / f"validate-{stamp}.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
