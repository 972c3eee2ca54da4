"""Evidence bundles: verified offline (in a fresh process with no configuration), by the README's
standard-tool steps alone, and any single tampered file is named."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from archive.bundle import (
    BundleError,
    BundleInput,
    NoticeLine,
    PaymentLine,
    StatusLine,
    ViewLine,
    export_bundle,
)
from archive.bundle_verify import verify_bundle
from archive.canonical import sha256_hex
from archive.journal import EntryKind, Event, FileJournal
from archive.seal import seal_period
from archive.signing import public_pem
from archive.timestamp import HttpTimestamper

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _populate(journal: FileJournal, key, timestamper, *, events: int = 12) -> BundleInput:
    original = b"%PDF-1.7 pretend Factur-X invoice F-2026-001"
    xml = b"<rsm:CrossIndustryInvoice>F-2026-001</rsm:CrossIndustryInvoice>"
    report = json.dumps({"valid": True, "layers": ["xsd", "en16931"]}, sort_keys=True).encode()
    doc = sha256_hex(original)
    other = sha256_hex(b"someone else's invoice")
    journal.append(Event(EntryKind.RECEIVED, other, "supplier:9", {"objects": [other]}, at=T0))
    journal.append(
        Event(EntryKind.RECEIVED, doc, "supplier:3", {"objects": [doc], "size": len(original)}, at=T0)
    )
    journal.append(
        Event(EntryKind.DETECTED, doc, "system", {"objects": [sha256_hex(xml)], "profile": "EN16931"})
    )
    seal_period(journal, key=key, timestamper=timestamper)
    journal.append(
        Event(
            EntryKind.VALIDATED,
            doc,
            "system",
            {"objects": [sha256_hex(report)], "rules": {"en16931": "1.3.13"}},
        )
    )
    for i in range(events - 4):
        journal.append(Event(EntryKind.PORTAL_VIEWED, "invoice:17", f"customer:{i}", {"related": [doc]}))
    journal.append(
        Event(EntryKind.PAYMENT_RECEIVED, "invoice:17", "bank", {"related": [doc], "amount": "120.00"})
    )
    seal_period(journal, key=key, timestamper=timestamper)
    return BundleInput(
        document_sha256=doc,
        original=original,
        original_filename="F-2026-001.pdf",
        xml=xml,
        validation_report=report,
        invoice_id="invoice:17",
        invoice={
            "number": "F-2026-001",
            "seller": "ACME SAS",
            "buyer": "Client SA",
            "amount due": "120.00 EUR",
        },
        statuses=[
            StatusLine(at=T0, code="200", label="Déposée"),
            StatusLine(at=T0, code="212", label="Encaissée"),
        ],
        notices=[NoticeLine(at=T0, to="ap@client.example", subject="Invoice F-2026-001")],
        payments=[PaymentLine(at=T0, amount=Decimal("120.00"), method="SEPA", reference="RF18F2026001")],
        portal_views=[ViewLine(at=T0, who="customer:1")],
    )


@pytest.fixture(scope="module")
def _built(tmp_path_factory, seal_key, tsa) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    journal = FileJournal(root / "journal", fsync=False)
    inp = _populate(journal, seal_key, HttpTimestamper(tsa.url))
    return export_bundle(
        inp, journal, root / "bundle.zip", public_key_pem=public_pem(seal_key), tsa_ca_pem=tsa.ca_pem
    )


@pytest.fixture
def bundle(_built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle.zip"
    copy.write_bytes(_built.read_bytes())
    return copy


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _rezip(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


def test_bundle_verifies_and_says_what_it_proved(bundle: Path) -> None:
    files = _members(bundle)
    assert {
        "README.txt",
        "manifest-sha256.txt",
        "summary.pdf",
        "keys/seal-public.pem",
        "keys/tsa-ca.pem",
        "document/F-2026-001.pdf",
        "document/invoice.xml",
        "validation-report.json",
        "bundle.json",
    } <= set(files)
    assert files["summary.pdf"].startswith(b"%PDF")
    assert len([n for n in files if n.startswith("journal/")]) == 12  # not the other document's entry
    assert len([n for n in files if n.endswith(".tsr")]) == 2
    result = verify_bundle(bundle)
    assert result.ok, result.failures
    assert any("2 RFC 3161 time-stamped" in p for p in result.proven)
    assert any("12 journal entries" in p for p in result.proven)


def test_verify_bundle_in_a_fresh_process_without_database_or_configuration(
    bundle: Path, tmp_path: Path
) -> None:
    """`encaisse verify-bundle` in a new process, in an empty folder, with no settings at all."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "cli", "verify-bundle"]
    out = subprocess.run(
        [*command, str(bundle)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "original" in out.stdout
    assert not list(tmp_path.glob("*.db")) and not (tmp_path / "var").exists()

    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data + b" " if info.filename == "validation-report.json" else data)
    out = subprocess.run(
        [*command, str(broken)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "validation-report.json" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def _tamper(data: bytes) -> bytes:
    if data.startswith(b"{"):  # keep JSON files JSON: change one character inside
        return data.replace(b"0", b"1", 1) if b"0" in data else data + b" "
    return data[:-1] + bytes([data[-1] ^ 1])


def test_tampering_with_any_single_file_fails_naming_that_file(bundle: Path, tmp_path: Path) -> None:
    files = _members(bundle)
    for name in files:
        tampered = dict(files)
        tampered[name] = _tamper(files[name])
        path = tmp_path / "t.zip"
        _rezip(path, tampered)
        result = verify_bundle(path)
        assert not result.ok, name
        assert name in result.failed_files(), (name, result.failures)


def test_tampering_that_also_fixes_the_manifest_is_still_named(bundle: Path, tmp_path: Path) -> None:
    files = _members(bundle)
    targets = [
        "document/F-2026-001.pdf",
        "document/invoice.xml",
        "validation-report.json",
        next(n for n in files if n.startswith("journal/")),
        "seals/000001.json",
        "seals/000002.sig",
        "seals/000001.tsr",
    ]
    for name in targets:
        tampered = dict(files)
        tampered[name] = _tamper(files[name])
        tampered["manifest-sha256.txt"] = "".join(
            f"{sha256_hex(d)}  {n}\n" for n, d in sorted(tampered.items()) if n != "manifest-sha256.txt"
        ).encode()
        path = tmp_path / "t.zip"
        _rezip(path, tampered)
        result = verify_bundle(path)
        assert not result.ok and name in result.failed_files(), (name, result.failures)


def test_a_removed_or_added_file_is_named(bundle: Path, tmp_path: Path) -> None:
    files = _members(bundle)
    path = tmp_path / "t.zip"
    _rezip(path, {n: d for n, d in files.items() if n != "proofs/0000000005.json"})
    assert "proofs/0000000005.json" in verify_bundle(path).failed_files()
    _rezip(path, {**files, "journal/0000000099.json": b"{}"})
    assert "journal/0000000099.json" in verify_bundle(path).failed_files()


def test_readme_steps_with_sha256sum_openssl_and_python_stdlib(bundle: Path, tmp_path: Path) -> None:
    """Follow only README.txt: sha256sum -c, openssl pkeyutl -verify -rawin, openssl ts -verify, check.py."""
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(folder)
    readme = (folder / "README.txt").read_text()
    assert "sha256sum -c manifest-sha256.txt" in readme

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=folder, capture_output=True, text=True, check=False)

    out = run("sha256sum", "-c", "manifest-sha256.txt")
    assert out.returncode == 0 and out.stdout.count(": OK") == len(list(folder.rglob("*.*"))) - 1, out.stdout
    seals = sorted(p.stem for p in (folder / "seals").glob("*.json"))
    assert seals == ["000001", "000002"]
    for n in seals:
        out = run(
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "keys/seal-public.pem",
            "-rawin",
            "-in",
            f"seals/{n}.json",
            "-sigfile",
            f"seals/{n}.sig",
        )
        assert "Signature Verified Successfully" in out.stdout, out.stdout + out.stderr
        out = run(
            "openssl",
            "ts",
            "-verify",
            "-in",
            f"seals/{n}.tsr",
            "-data",
            f"seals/{n}.json",
            "-CAfile",
            "keys/tsa-ca.pem",
        )
        assert "Verification: OK" in out.stdout, out.stdout + out.stderr
    script = re.search(r"----- BEGIN check.py -----\n(.*?)----- END check.py -----", readme, re.S)
    assert script is not None
    (folder / "check.py").write_text(script.group(1))
    out = run(sys.executable, "-I", "check.py")
    assert out.returncode == 0 and out.stdout.startswith("OK: 2 seals chained, 12 entries proven"), out.stdout
    # the same steps catch tampering: one journal entry changed
    entry = sorted((folder / "journal").glob("*.json"))[3]
    entry.write_bytes(entry.read_bytes().replace(b'"kind":"', b'"kind":"x'))
    assert run("sha256sum", "-c", "manifest-sha256.txt").returncode != 0
    out = run(sys.executable, "-I", "check.py")
    assert out.returncode == 1 and "FAIL" in out.stdout


def test_unsealed_entries_are_refused(tmp_path, seal_key) -> None:
    journal = FileJournal(tmp_path / "j", fsync=False)
    original = b"invoice"
    journal.append(
        Event(EntryKind.RECEIVED, sha256_hex(original), "supplier", {"objects": [sha256_hex(original)]})
    )
    with pytest.raises(BundleError, match="not sealed"):
        export_bundle(
            BundleInput(document_sha256=sha256_hex(original), original=original),
            journal,
            tmp_path / "b.zip",
            public_key_pem=public_pem(seal_key),
        )
