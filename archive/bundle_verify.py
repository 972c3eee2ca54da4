"""Offline verification of an evidence bundle: no database, no settings, only the zip.

It proves, in order: the manifest covers every file and each hash matches; each
seal is canonical, chained to the one before, signed by the bundle's public key
and (when time-stamped) carries an RFC 3161 token that verifies against the
bundled TSA root; each journal entry is canonical, has an inclusion proof that
leads to its seal's Merkle root; the original, the XML and the report are the
objects the journal recorded. Any failure names the file and the reason.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.canonical import GENESIS, NotCanonical, is_canonical, loads
from archive.merkle import verify_inclusion
from archive.signing import SealKeyError, key_id, load_public_pem, signature_valid
from archive.timestamp import TimestampError, load_certificates, verify_timestamp

MAX_MEMBER_BYTES = 200 * 1024 * 1024
_MANIFEST_LINE = re.compile(r"([0-9a-f]{64})  ([^\x00-\x1f]+)")


@dataclass
class VerificationResult:
    """What was proven, and every failure as ``(file, reason)``."""

    proven: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed and something was proven."""
        return not self.failures and bool(self.proven)

    def fail(self, name: str, reason: str) -> None:
        """Record a failure."""
        self.failures.append((name, reason))

    def failed_files(self) -> set[str]:
        """Names of the files that failed."""
        return {name for name, _ in self.failures}

    def report(self) -> str:
        """Human-readable lines for ``encaisse verify-bundle``: what was proven, or what fails and why.

        >>> r = VerificationResult(proven=["all 3 files match manifest-sha256.txt"])
        >>> print(r.report())
        VERIFIED
          proven: all 3 files match manifest-sha256.txt
        >>> r.fail("seals/000001.sig", "bad signature")
        >>> print(r.report().splitlines()[0])
        FAILED: 1 problem
        """
        count = len(self.failures)
        head = "VERIFIED" if self.ok else f"FAILED: {count} problem{'s' if count != 1 else ''}"
        lines = [head]
        lines += [f"  FAIL {name}: {reason}" for name, reason in self.failures]
        lines += [f"  proven: {p}" for p in self.proven]
        return "\n".join(lines)


def _read(path: Path, result: VerificationResult) -> dict[str, bytes] | None:
    try:
        with zipfile.ZipFile(path) as archive:
            files: dict[str, bytes] = {}
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = info.filename
                if name.startswith("/") or ".." in name.split("/") or name in files:
                    result.fail(name, "unsafe or repeated file name in the zip")
                    continue
                if info.file_size > MAX_MEMBER_BYTES:
                    result.fail(name, "larger than any bundle file should be")
                    continue
                files[name] = archive.read(info)
            return files
    except (OSError, zipfile.BadZipFile) as exc:
        result.fail(str(path), f"not a readable zip: {exc}")
        return None


def _json(name: str, data: bytes, result: VerificationResult) -> dict[str, Any] | None:
    if not is_canonical(data):
        result.fail(name, "not canonical JSON (it was rewritten)")
        return None
    value = loads(data)
    if not isinstance(value, dict):
        result.fail(name, "not a JSON object")
        return None
    return value


def _check_manifest(files: dict[str, bytes], result: VerificationResult) -> None:
    manifest = files.get("manifest-sha256.txt")
    if manifest is None:
        result.fail("manifest-sha256.txt", "missing")
        return
    listed: dict[str, str] = {}
    lines = manifest.decode("utf-8", "replace").split("\n")
    if lines[-1] != "":
        result.fail("manifest-sha256.txt", "does not end with a newline: it was changed")
    for line in lines[:-1]:
        match = _MANIFEST_LINE.fullmatch(line)
        if match is None or match.group(2) in listed:
            result.fail("manifest-sha256.txt", f"malformed or repeated line {line[:80]!r}")
            continue
        listed[match.group(2)] = match.group(1)
    for name, digest in listed.items():
        if name not in files:
            result.fail(name, "listed in the manifest but missing from the bundle")
        elif hashlib.sha256(files[name]).hexdigest() != digest:
            result.fail(name, "its SHA-256 differs from the manifest: the file was changed")
    for name in files:
        if name != "manifest-sha256.txt" and name not in listed:
            result.fail(name, "not listed in the manifest: the file was added")
    if not result.failures:
        result.proven.append(f"all {len(listed)} files match manifest-sha256.txt")


def _check_seals(files: dict[str, bytes], result: VerificationResult) -> dict[int, dict[str, Any]]:
    seals: dict[int, dict[str, Any]] = {}
    pem = files.get("keys/seal-public.pem")
    if pem is None:
        result.fail("keys/seal-public.pem", "missing: seals cannot be checked")
        return seals
    try:
        public = load_public_pem(pem)
    except SealKeyError as exc:
        result.fail("keys/seal-public.pem", exc.message)
        return seals
    roots = []
    if "keys/tsa-ca.pem" in files:
        try:
            roots = load_certificates(files["keys/tsa-ca.pem"])
        except TimestampError as exc:
            result.fail("keys/tsa-ca.pem", exc.message)
    prev = GENESIS
    names = sorted(n for n in files if n.startswith("seals/") and n.endswith(".json"))
    stamped = 0
    for expected_number, name in enumerate(names, start=1):
        body = files[name]
        fields = _json(name, body, result)
        stem = name[: -len(".json")]
        if fields is None:
            prev = hashlib.sha256(body).hexdigest()
            continue
        if fields.get("number") != expected_number or fields.get("prev_seal") != prev:
            result.fail(name, f"does not link to seal {expected_number - 1} (seals must chain from seal 1)")
        if fields.get("key_id") != key_id(public):
            result.fail(name, "names another signing key than keys/seal-public.pem")
        signature = files.get(stem + ".sig")
        if signature is None:
            result.fail(stem + ".sig", "missing")
        elif not signature_valid(public, signature, body):
            result.fail(name, f"its Ed25519 signature ({stem}.sig) does not verify: the seal was changed")
            result.fail(stem + ".sig", f"is not a valid Ed25519 signature of {name}")
        token = files.get(stem + ".tsr")
        if token is not None:
            try:
                when = verify_timestamp(token, body, roots)
                stamped += 1
                fields["_timestamp"] = when.isoformat()
            except TimestampError as exc:
                result.fail(stem + ".tsr", exc.message)
        seals[int(fields.get("number", expected_number))] = fields
        prev = hashlib.sha256(body).hexdigest()
    if names and not result.failures:
        result.proven.append(
            f"{len(names)} seals chained and signed by key {key_id(public)[:16]}…, "
            f"{stamped} RFC 3161 time-stamped"
        )
    return seals


def _check_entries(
    files: dict[str, bytes], seals: dict[int, dict[str, Any]], result: VerificationResult
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    names = sorted(n for n in files if n.startswith("journal/") and n.endswith(".json"))
    before = len(result.failures)
    for name in names:
        body = files[name]
        fields = _json(name, body, result)
        if fields is None:
            continue
        entry_hash = hashlib.sha256(body).hexdigest()
        proof_name = "proofs/" + name.split("/", 1)[1]
        proof_data = files.get(proof_name)
        if proof_data is None:
            result.fail(proof_name, f"missing: {name} is not proven")
            continue
        proof = _json(proof_name, proof_data, result)
        if proof is None:
            continue
        seal = seals.get(proof.get("seal", -1))
        if proof.get("entry_hash") != entry_hash or proof.get("seq") != fields.get("seq"):
            result.fail(name, f"its hash is not the one {proof_name} proves: the entry was changed")
            continue
        if seal is None:
            result.fail(proof_name, f"names seal {proof.get('seal')}, which is not in the bundle")
            continue
        size = int(seal["to_seq"]) - int(seal["from_seq"]) + 1
        index = int(fields["seq"]) - int(seal["from_seq"])
        if proof.get("tree_size") != size or proof.get("leaf_index") != index:
            result.fail(proof_name, "its position does not match the sealed period")
            continue
        path = proof.get("path")
        if not isinstance(path, list) or not verify_inclusion(
            entry_hash, index, size, [str(p) for p in path], str(seal["merkle_root"])
        ):
            result.fail(proof_name, f"does not lead {name} to the Merkle root of seal {proof.get('seal')}")
            continue
        fields["_hash"] = entry_hash
        entries.append(fields)
    if names and len(result.failures) == before:
        result.proven.append(f"{len(entries)} journal entries are included in sealed Merkle roots")
    if not names:
        result.fail("journal/", "no journal entry in the bundle")
    return entries


def _check_payload(
    files: dict[str, bytes], entries: list[dict[str, Any]], result: VerificationResult
) -> None:
    meta_raw = files.get("bundle.json")
    if meta_raw is None:
        result.fail("bundle.json", "missing")
        return
    meta = _json("bundle.json", meta_raw, result)
    if meta is None:
        return
    recorded: set[str] = set()
    received: set[str] = set()
    for e in entries:
        data = e.get("data") if isinstance(e.get("data"), dict) else {}
        objects = data.get("objects", []) if isinstance(data, dict) else []
        recorded.update(str(o) for o in objects if isinstance(objects, list))
        if e.get("kind") == "received":
            received.add(str(e.get("subject")))
    original_name = str(meta.get("original", ""))
    original = files.get(original_name)
    document = str(meta.get("document_sha256", ""))
    if original is None:
        result.fail(original_name or "document/", "the original is missing")
    elif hashlib.sha256(original).hexdigest() != document:
        result.fail(original_name, "its SHA-256 is not the document's: the original was changed")
    elif document not in received:
        result.fail(original_name, "no proven 'received' journal entry names this original")
    else:
        result.proven.append(f"the original {original_name} is the document received as {document[:16]}…")
    for name in ("document/invoice.xml", "validation-report.json"):
        data = files.get(name)
        if data is None:
            continue
        if hashlib.sha256(data).hexdigest() in recorded:
            result.proven.append(f"{name} is the object the journal recorded")
        else:
            result.fail(name, "not an object any proven journal entry recorded: it was changed")


def verify_bundle(path: Path) -> VerificationResult:
    """Check an evidence bundle offline; the result says what it proved or which file fails and why."""
    result = VerificationResult()
    files = _read(Path(path), result)
    if files is None:
        return result
    try:
        _check_manifest(files, result)
        seals = _check_seals(files, result)
        entries = _check_entries(files, seals, result)
        _check_payload(files, entries, result)
    except (
        NotCanonical,
        KeyError,
        TypeError,
        ValueError,
    ) as exc:  # malformed content the checks did not expect
        result.fail("bundle", f"malformed content: {exc}")
    return result
