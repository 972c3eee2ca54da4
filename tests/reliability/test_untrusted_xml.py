"""RELIABILITY 1-5: untrusted XML at the level of the parsing functions and of ``validation.validate``."""

from __future__ import annotations

import io
import json
import random
import socket
import time
import tracemalloc
from pathlib import Path

import pytest

from ingest import detect
from ingest.kinds import DocumentKind
from ingest.limits import read_bounded
from ingest.safexml import MAX_XML_BYTES, parse_xml
from schemas.errors import ErrorCode, InputRejected, TooLarge, UnsafeXml
from tests.reliability import hostile as h

CANARY = "CANARY-7f3a9c1e-do-not-leak"
UNSAFE_CODES = {
    ErrorCode.XML_UNSAFE_DTD,
    ErrorCode.XML_UNSAFE_ENTITY,
    ErrorCode.XML_UNSAFE_XINCLUDE,
    ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
}
#: The stable code each payload gets (a change here is a change of the public contract).
EXPECTED_CODE = {
    "xxe-file": ErrorCode.XML_UNSAFE_ENTITY,
    "xxe-file-plain-path": ErrorCode.XML_UNSAFE_ENTITY,
    "xxe-http": ErrorCode.XML_UNSAFE_ENTITY,
    "xxe-parameter": ErrorCode.XML_UNSAFE_ENTITY,
    "xxe-public": ErrorCode.XML_UNSAFE_ENTITY,
    "external-dtd": ErrorCode.XML_UNSAFE_DTD,
    "external-dtd-http": ErrorCode.XML_UNSAFE_DTD,
    "external-dtd-public": ErrorCode.XML_UNSAFE_DTD,
    "doctype-lowercase": ErrorCode.XML_UNSAFE_DTD,
    "doctype-spaces": ErrorCode.XML_UNSAFE_DTD,
    "xinclude": ErrorCode.XML_UNSAFE_XINCLUDE,
    "xinclude-http": ErrorCode.XML_UNSAFE_XINCLUDE,
    "xinclude-2003": ErrorCode.XML_UNSAFE_XINCLUDE,
    "schema-location-inner": ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
    "no-namespace-schema-location": ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
    "xsd-import": ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
    "stylesheet-pi": ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
    "utf16-xxe": ErrorCode.XML_UNSAFE_ENTITY,
    "entity-internal": ErrorCode.XML_UNSAFE_ENTITY,
    "xxe-in-attachment-name": ErrorCode.XML_UNSAFE_ENTITY,
}


@pytest.fixture(scope="module")
def canary_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("canary") / "secret.txt"
    path.write_text(CANARY, encoding="utf-8")
    return path


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """Patch sockets so that any connection, send or name lookup raises, and record every attempt."""
    from validation import validate

    validate(h.cii_xml())  # import everything first (urllib3 probes IPv6 with a socket at import)
    attempts: list[tuple[object, ...]] = []

    def _refuse(what: str) -> object:
        def refuse(*args: object, **kwargs: object) -> None:
            attempts.append((what, *(args[1:] if what.startswith("socket.") else args)))
            raise OSError("network access attempted during a test")

        return refuse

    class _NoSocket(socket.socket):
        connect = _refuse("socket.connect")  # type: ignore[assignment]
        connect_ex = _refuse("socket.connect_ex")  # type: ignore[assignment]
        sendto = _refuse("socket.sendto")  # type: ignore[assignment]

    monkeypatch.setattr(socket, "socket", _NoSocket)
    monkeypatch.setattr(socket, "create_connection", _refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", _refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "gethostbyname", _refuse("gethostbyname"))
    return attempts


def test_the_network_guard_works(no_network: list[tuple[object, ...]]) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(OSError), socket.socket() as s:
        s.connect(("127.0.0.1", 9))
    assert [a[0] for a in no_network] == ["create_connection", "socket.connect"]


def test_there_are_twenty_payloads(canary_file: Path) -> None:
    names = [n for n, _ in h.unsafe_xml_payloads(str(canary_file))]
    assert len(names) == 20 == len(set(names))
    assert set(names) == set(EXPECTED_CODE)


def test_unsafe_payloads_rejected_with_stable_code_no_leak_no_network(
    canary_file: Path, no_network: list[tuple[object, ...]], caplog: pytest.LogCaptureFixture
) -> None:
    from ingest.parse import parse_invoice
    from validation import validate

    caplog.set_level("DEBUG")
    wrong: dict[str, str] = {}
    for name, payload in h.unsafe_xml_payloads(str(canary_file)):
        with pytest.raises(UnsafeXml) as info:
            parse_xml(payload)
        exc = info.value
        if exc.code is not EXPECTED_CODE[name]:
            wrong[name] = f"parse_xml gave {exc.code}"
        with pytest.raises(UnsafeXml) as parsed:
            parse_invoice(payload)
        if parsed.value.code is not EXPECTED_CODE[name]:
            wrong[name] = f"parse_invoice gave {parsed.value.code}"
        det = detect(payload)
        if det.kind is not DocumentKind.NOT_INVOICE or det.code is not EXPECTED_CODE[name]:
            wrong[name] = f"detect gave {det.kind}/{det.code}"
        report = validate(payload, path=f"{name}.xml")
        if report.valid or report.error is None or report.error["code"] != EXPECTED_CODE[name]:
            wrong[name] = f"validate gave error {report.error}"
        # the same payload as the embedded XML of a Factur-X PDF
        pdf_det = detect(h.facturx_pdf([("factur-x.xml", payload, "Data")]))
        if pdf_det.code is not EXPECTED_CODE[name]:
            wrong[name] = f"detect(PDF) gave {pdf_det.code}"
        outputs = [
            str(exc),
            json.dumps(exc.as_dict()),
            det.model_dump_json(),
            pdf_det.model_dump_json(),
            json.dumps(report.as_json(name), default=str),
        ]
        assert not any(CANARY in out for out in outputs), f"{name}: the canary leaked"
    assert wrong == {}
    assert CANARY not in caplog.text
    assert no_network == [], f"network access was attempted: {no_network}"


def test_cli_answers_unsafe_payloads_without_traceback(canary_file: Path, tmp_path: Path) -> None:
    """``encaisse validate --json`` in a subprocess: exit 1, a JSON line per file, no traceback or canary."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    payloads = dict(h.unsafe_xml_payloads(str(canary_file)))
    files = []
    for name in ("xxe-file", "external-dtd", "xinclude", "xsd-import", "utf16-xxe"):
        f = tmp_path / f"{name}.xml"
        f.write_bytes(payloads[name])
        files.append(f)
    (tmp_path / "laughs.xml").write_bytes(h.billion_laughs())
    files.append(tmp_path / "laughs.xml")
    result = subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", "validate", "--json", *map(str, files)],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert CANARY not in output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(files)
    assert all(line["valid"] is False for line in lines)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(h.billion_laughs(10, 10), id="billion-laughs-10x10"),
        pytest.param(h.quadratic_blowup(), id="quadratic"),
    ],
)
def test_entity_amplification_rejected_fast_and_small(payload: bytes) -> None:
    from validation import validate

    for fn in (parse_xml, detect, validate):
        tracemalloc.start()
        start = time.perf_counter()
        result: object
        try:
            result = fn(payload)
        except UnsafeXml as exc:
            result = exc
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < 1.0, f"{fn.__name__} took {elapsed:.2f}s"
        assert peak < 50 * 1024 * 1024, f"{fn.__name__} peaked at {peak} bytes"
        if fn is parse_xml:
            assert isinstance(result, UnsafeXml) and result.code is ErrorCode.XML_UNSAFE_ENTITY
        elif fn is detect:
            assert result.code is ErrorCode.XML_UNSAFE_ENTITY  # type: ignore[union-attr]
        else:
            assert result.error is not None and result.error["code"] == ErrorCode.XML_UNSAFE_ENTITY  # type: ignore[union-attr]


class CountingStream:
    """A file-like object producing ``size`` bytes on demand, counting what was read; never holds them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.read_bytes
        n = left if n < 0 else min(n, left)
        self.read_bytes += n
        return b"<" * n


@pytest.mark.parametrize("size_factor", ["max+1", "10x"])
def test_oversize_xml_rejected_before_parsing(size_factor: str) -> None:
    from validation import validate

    size = MAX_XML_BYTES + 1 if size_factor == "max+1" else MAX_XML_BYTES * 10
    data = b"<a>" + b" " * (size - 7) + b"</a>"
    assert len(data) == size
    with pytest.raises(TooLarge) as info:
        parse_xml(data)
    assert info.value.code is ErrorCode.XML_TOO_LARGE
    assert detect(data).code is ErrorCode.XML_TOO_LARGE
    report = validate(data)
    assert report.error is not None and report.error["code"] == ErrorCode.XML_TOO_LARGE


def test_a_fifty_megabyte_xml_is_refused_by_size() -> None:
    data = h.cii_xml().replace(
        b"</rsm:CrossIndustryInvoice>", b"<!--" + b"x" * (50 << 20) + b"--></rsm:CrossIndustryInvoice>"
    )
    start = time.perf_counter()
    det = detect(data)
    assert det.code is ErrorCode.XML_TOO_LARGE
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("chunk", [1024, 64 * 1024, 1024 * 1024])
def test_a_one_gigabyte_stream_is_read_only_to_the_bound(chunk: int) -> None:
    stream = CountingStream(1 << 30)
    with pytest.raises(TooLarge):
        read_bounded(stream, MAX_XML_BYTES, chunk=chunk)
    assert MAX_XML_BYTES < stream.read_bytes <= MAX_XML_BYTES + chunk


def test_read_bounded_returns_what_fits() -> None:
    assert read_bounded(io.BytesIO(b"x" * 10), 10, chunk=3) == b"x" * 10
    stream = CountingStream(11)
    with pytest.raises(TooLarge):
        read_bounded(stream, 10, chunk=4)
    assert stream.read_bytes == 11


def _corpus_seeds(corpus: Path) -> list[bytes]:
    files = (
        sorted((corpus / "cii-xml").rglob("*.xml"))[::12] + sorted((corpus / "ubl-xml").rglob("*.xml"))[::8]
    )
    return [f.read_bytes() for f in files if f.stat().st_size < 200_000]


@pytest.mark.corpus
def test_property_fuzz_of_the_xml_front_door(corpus: Path) -> None:
    """1,000 seeded mutations of corpus CII/UBL (read in place): a report or InputRejected, nothing else."""
    from ingest.parse import parse_invoice
    from validation import validate

    seeds = _corpus_seeds(corpus)
    assert len(seeds) >= 30
    rng = random.Random(4)
    outcomes = {"invoice": 0, "rejected": 0, "valid": 0, "invalid": 0}
    failures: list[str] = []
    for i in range(1000):
        data = seeds[i % len(seeds)]
        for _ in range(rng.randint(1, 3)):
            data = h.mutate_text(data, rng) if i % 2 else h.mutate(data, rng)
        try:
            det = detect(data)
            if det.is_structured and det.xml is not None:
                try:
                    parse_invoice(det.xml, det.syntax)
                    outcomes["invoice"] += 1
                except InputRejected:
                    outcomes["rejected"] += 1
            if i % 4 == 0:  # the full validation of a quarter of them keeps the test under a minute
                report = validate(data)
                assert report.error is not None or report.layers, "a report with neither error nor layers"
                outcomes["valid" if report.valid else "invalid"] += 1
        except InputRejected:
            failures.append(f"mutant {i}: detect/validate raised instead of reporting")
        except Exception as exc:
            failures.append(f"mutant {i}: {type(exc).__name__}: {exc}")
    assert failures == []
    assert (
        outcomes["rejected"] + outcomes["invoice"] > 300
    )  # the mutations reach the parser, not just the door
    assert outcomes["invalid"] > 0


@pytest.mark.corpus
def test_conformance_replay_runs_in_process_and_fails_closed(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sample of the golden verdicts replays in-process; a missing rule engine is an error, never a pass.

    (The full replay of every path is tests/validation/test_conformance.py.)
    """
    import subprocess

    from schemas.errors import RuleEngineError
    from tests.conftest import read_jsonl
    from validation import schematron, validate

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation started a process: the schematron must run in-process")

    rows = [
        r for r in read_jsonl(corpus / "reference-results-facturx.jsonl") if r["path"].startswith("cii-xml")
    ]
    with monkeypatch.context() as m:
        m.setattr(subprocess, "Popen", no_subprocess)
        for row in rows[:15]:
            report = validate((corpus / row["path"]).read_bytes())
            ran = {lr.layer for lr in report.layers if lr.status != "skipped"}
            assert "schematron" in ran, row["path"]
            ids = {f.rule_id for f in report.findings if f.severity == "fatal" and f.layer == "schematron"}
            assert {schematron.reference_id(i) for i in ids} == set(row["fatal_ids"]), row["path"]

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuleEngineError("the Saxon engine is not available")

    monkeypatch.setattr(schematron, "run_svrl", broken)
    with pytest.raises(RuleEngineError):
        validate((corpus / rows[0]["path"]).read_bytes())
