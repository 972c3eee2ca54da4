"""RELIABILITY 6-9: untrusted PDFs (mutations, bombs, recursive structures, Factur-X container rules)."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from ingest import detect
from ingest.kinds import Detection, DocumentKind
from ingest.limits import open_zip_bounded
from schemas.errors import ErrorCode, InputRejected
from schemas.findings import Layer, Severity
from tests.reliability import hostile as h

ROOT = Path(__file__).resolve().parents[2]


def _outcome(det: Detection) -> str:
    """'accepted' or 'rejected:<code>'; anything else is a broken contract."""
    if det.kind is DocumentKind.NOT_INVOICE:
        assert det.code is not None and det.reason, det
        return f"rejected:{det.code}"
    return "accepted"


# -- 6. malformed PDF mutations -----------------------------------------------------------------


def _pdf_bases() -> list[bytes]:
    import pikepdf

    compressed = h.facturx_pdf(xmp=h.xmp_packet())
    with pikepdf.open(io.BytesIO(compressed)) as pdf:
        plain = io.BytesIO()
        pdf.save(plain, compress_streams=False, object_stream_mode=pikepdf.ObjectStreamMode.disable)
        streams = io.BytesIO()
        pdf.save(streams, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return [compressed, plain.getvalue(), streams.getvalue()]


def test_malformed_pdf_mutations_50_seeds_x_40() -> None:
    from validation import validate

    bases = _pdf_bases()
    outcomes: dict[str, int] = {}
    failures: list[str] = []
    start = time.perf_counter()
    for seed in range(50):
        rng = random.Random(seed)
        base = bases[seed % len(bases)]
        for k in range(40):
            if k % 2 == 0:
                data = base[: rng.randrange(len(base))]
            else:
                b = bytearray(base)
                for _ in range(rng.randint(1, 4)):
                    i = rng.randrange(len(b))
                    b[i] ^= 1 << rng.randrange(8)
                data = bytes(b)
            try:
                outcome = _outcome(detect(data))
                if k % 8 == 1:  # the whole pipeline on a share of them
                    report = validate(data)
                    assert report.error is not None or report.layers
            except Exception as exc:
                failures.append(f"seed {seed} mutation {k}: {type(exc).__name__}: {exc}")
                continue
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert failures == []
    assert sum(outcomes.values()) == 2000
    assert outcomes.get("accepted", 0) > 0 and any(k.startswith("rejected:") for k in outcomes)
    assert time.perf_counter() - start < 90


# -- 7. decompression bombs ---------------------------------------------------------------------


def test_zeros_deflated_is_honest() -> None:
    import zlib

    data = h.zeros_deflated(8 << 20)
    assert zlib.decompress(data) == bytes(8 << 20)


_BOMB_SCRIPT = r"""
import json, sys, time, io, zipfile
from ingest import detect
from ingest.limits import open_zip_bounded
from schemas.errors import InputRejected
from tests.reliability import hostile as h
from validation import validate
out = {}
for name, build in [("attachment-1GiB", lambda: h.bomb_attachment_pdf(1 << 30)),
                    ("content-1GiB", lambda: h.bomb_content_pdf(1 << 30)),
                    ("image-30000", lambda: h.huge_image_pdf(30_000))]:
    data = build()
    t = time.perf_counter()
    det = detect(data)
    report = validate(data)
    out[name] = {"code": det.code, "report_code": (report.error or {}).get("code"),
                 "seconds": time.perf_counter() - t}
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
    with z.open("big.xml", "w", force_zip64=True) as f:
        chunk = bytes(1 << 20)
        for _ in range(256):
            f.write(chunk)
try:
    open_zip_bounded(buf.getvalue(), max_entries=100, max_total=64 << 20)
    out["zip-256MiB"] = {"code": None}
except InputRejected as exc:
    out["zip-256MiB"] = {"code": exc.code}
# VmHWM is this process's own peak: ru_maxrss would also count the parent's peak before
# exec (Linux folds the old address space's high-water mark into it), here a test worker's
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
out["maxrss_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(out))
"""


def test_decompression_bombs_rejected_at_the_cap_under_512_mb() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BOMB_SCRIPT],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for name in ("attachment-1GiB", "content-1GiB", "image-30000"):
        assert out[name]["code"] == ErrorCode.PDF_BOMB, (name, out[name])
        assert out[name]["report_code"] == ErrorCode.PDF_BOMB, (name, out[name])
        assert out[name]["seconds"] < 10, (name, out[name])
    assert out["zip-256MiB"]["code"] == ErrorCode.ZIP_BOMB
    assert out["maxrss_mb"] < 512, out


def test_a_zip_of_10000_entries_is_refused_at_the_entry_cap() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i in range(10_000):
            z.writestr(f"f{i}.xml", b"<a/>")
    data = buf.getvalue()
    with pytest.raises(InputRejected) as info:
        open_zip_bounded(data, max_entries=1000, max_total=64 << 20)
    assert info.value.code is ErrorCode.ZIP_BOMB
    assert "10000 entries" in info.value.message
    entries = open_zip_bounded(data, max_entries=10_000, max_total=64 << 20)
    assert len(entries) == 10_000 and entries[0] == ("f0.xml", b"<a/>")


def test_a_zip_lying_about_its_sizes_is_stopped_while_extracting() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.xml", bytes(4 << 20))
    data = bytearray(buf.getvalue())
    # rewrite the declared uncompressed size (local header and central directory) to 10 bytes
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = data.find(sig)
        data[pos + offset : pos + offset + 4] = (10).to_bytes(4, "little")
    with pytest.raises(InputRejected) as info:
        open_zip_bounded(bytes(data), max_entries=10, max_total=1 << 20)
    assert info.value.code in (ErrorCode.ZIP_BOMB, ErrorCode.NOT_AN_INVOICE)


def test_not_a_zip() -> None:
    with pytest.raises(InputRejected) as info:
        open_zip_bounded(b"PK\x03\x04garbage", max_entries=10, max_total=100)
    assert info.value.code is ErrorCode.NOT_AN_INVOICE


# -- 8. recursive structures --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "codes"),
    [
        pytest.param(h.circular_pages_pdf, {ErrorCode.PDF_RECURSIVE}, id="circular-pages"),
        pytest.param(h.circular_kids_pdf, {ErrorCode.PDF_RECURSIVE}, id="circular-kids"),
        pytest.param(h.deep_pages_pdf, {ErrorCode.PDF_RECURSIVE}, id="deep-pages-5000"),
        pytest.param(h.circular_xobject_pdf, {ErrorCode.PDF_RECURSIVE}, id="circular-xobjects"),
        pytest.param(
            lambda: h.circular_xobject_pdf(self_loop=True), {ErrorCode.PDF_RECURSIVE}, id="self-xobject"
        ),
        pytest.param(h.deep_xobject_pdf, {ErrorCode.PDF_RECURSIVE}, id="deep-xobjects-2000"),
        pytest.param(
            h.deep_array_pdf, {ErrorCode.PDF_RECURSIVE, ErrorCode.PDF_MALFORMED}, id="deep-array-100000"
        ),
    ],
)
def test_recursive_structures_rejected_quickly(build, codes) -> None:  # type: ignore[no-untyped-def]
    from validation import validate

    data = build()
    start = time.perf_counter()
    det = detect(data)
    report = validate(data)
    assert time.perf_counter() - start < 10
    assert det.kind is DocumentKind.NOT_INVOICE and det.code in codes, det
    assert report.error is not None and report.error["code"] in codes
    assert not report.valid


# -- 9. Factur-X container rules ----------------------------------------------------------------


def _codes(det: Detection) -> set[str]:
    out = {f.rule_id for f in det.findings if f.severity is Severity.FATAL and f.layer is Layer.CONTAINER}
    if det.code:
        out.add(det.code)
    return out


def test_container_rules_each_rejected_with_a_distinct_code() -> None:
    from validation import validate

    cii, ubl = h.cii_xml(), h.ubl_xml()
    cases = {
        "two-xml": h.facturx_pdf(
            [("factur-x.xml", cii, "Data"), ("zugferd-invoice.xml", h.cii_xml(number="X"), "Data")],
            xmp=h.xmp_packet(file_name=None),
        ),
        "wrong-afrelationship": h.facturx_pdf([("factur-x.xml", cii, "Unspecified")], xmp=h.xmp_packet()),
        "xmp-disagrees": h.facturx_pdf([("factur-x.xml", cii, "Data")], xmp=h.xmp_packet("EXTENDED")),
        "not-cii": h.facturx_pdf([("factur-x.xml", ubl, "Data")], xmp=h.xmp_packet()),
    }
    expected = {
        "two-xml": ErrorCode.PDF_SEVERAL_XML,
        "wrong-afrelationship": ErrorCode.PDF_WRONG_AFRELATIONSHIP,
        "xmp-disagrees": ErrorCode.PDF_PROFILE_MISMATCH,
        "not-cii": ErrorCode.PDF_ATTACHMENT_NOT_CII,
    }
    seen = {}
    for name, data in cases.items():
        det = detect(data)
        assert _codes(det) == {expected[name]}, (name, det)
        report = validate(data)
        assert not report.valid, name
        fatal = set(report.rule_ids(Severity.FATAL)) | ({report.error["code"]} if report.error else set())
        assert expected[name] in fatal, (name, fatal)
        seen[name] = expected[name]
    assert len(set(seen.values())) == 4
    control = h.facturx_pdf([("factur-x.xml", cii, "Data")], xmp=h.xmp_packet())
    assert _codes(detect(control)) == set()


def test_several_xml_is_never_first_match_wins() -> None:
    a, b = h.cii_xml(number="A"), h.cii_xml(number="B")
    one = detect(h.facturx_pdf([("factur-x.xml", a, "Data"), ("xrechnung.xml", b, "Data")]))
    other = detect(h.facturx_pdf([("xrechnung.xml", b, "Data"), ("factur-x.xml", a, "Data")]))
    for det in (one, other):
        assert det.code is ErrorCode.PDF_SEVERAL_XML
        assert "factur-x.xml" in (det.reason or "") and "xrechnung.xml" in (det.reason or "")
        assert det.xml is None
    # an invoice XML under an unexpected name next to factur-x.xml counts too
    stray = detect(h.facturx_pdf([("factur-x.xml", a, "Data"), ("copy.xml", b, "Data")]))
    assert stray.code is ErrorCode.PDF_SEVERAL_XML and "copy.xml" in (stray.reason or "")


def test_the_xmp_document_file_name_settles_several_xml_with_a_warning() -> None:
    a, b = h.cii_xml(number="A"), h.cii_xml(number="B")
    det = detect(
        h.facturx_pdf(
            [("zugferd-invoice.xml", b, "Alternative"), ("factur-x.xml", a, "Data")],
            xmp=h.xmp_packet(file_name="factur-x.xml"),
        )
    )
    assert det.kind is DocumentKind.FACTURX_PDF and det.attachment_name == "factur-x.xml"
    assert det.xml == a
    warnings = [f for f in det.findings if f.rule_id == ErrorCode.PDF_SEVERAL_XML]
    assert len(warnings) == 1 and warnings[0].severity is Severity.WARNING


def test_missing_afrelationship_is_fatal() -> None:
    det = detect(h.facturx_pdf([("factur-x.xml", h.cii_xml(), None)], xmp=h.xmp_packet()))
    assert _codes(det) == {ErrorCode.PDF_WRONG_AFRELATIONSHIP}
    assert "missing" in det.findings[0].message
