"""RELIABILITY 23: modifying, deleting, reordering or inserting any entry, or editing a seal, fails
verification at exactly the first bad entry; an inclusion proof verifies without the other entries;
seals carry an RFC 3161 token that verifies against a test time-stamping authority."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, update

from archive.canonical import dumps_plain, loads, sha256_hex
from archive.journal import EntryKind, Event, FileJournal, make_entry
from archive.journal_sql import SqlJournal
from archive.merkle import inclusion_proof, verify_inclusion
from archive.seal import seal_period
from archive.tables import journal_entries
from archive.timestamp import HttpTimestamper, verify_timestamp
from archive.verify import Problem, chain_hashes, verify_seals

N = 30
DOC = "ab" * 32


def _fill(journal, key, timestamper=None) -> None:
    for period in range(3):
        journal.append_many(
            [Event(EntryKind.STATUS_CHANGED, DOC, "system", {"n": period * 10 + i}) for i in range(10)]
        )
        seal_period(journal, key=key, timestamper=timestamper)


def _problems(journal, key, roots=None) -> list[Problem]:
    hashes, chain_problem = chain_hashes(journal)
    problems = [chain_problem] if chain_problem else []
    return problems + verify_seals(journal.seals(), hashes, public_key=key.public_key(), tsa_roots=roots)


@pytest.fixture(scope="module")
def sealed(tmp_path_factory, seal_key, tsa):
    root = tmp_path_factory.mktemp("sealed")
    journal = FileJournal(root, fsync=False)
    _fill(journal, seal_key, HttpTimestamper(tsa.url))
    return journal.entries_path.read_bytes().splitlines(keepends=True), journal.seals_path.read_bytes()


def _journal_with(tmp_path: Path, lines: list[bytes], seals: bytes) -> FileJournal:
    journal = FileJournal(tmp_path, fsync=False)
    tmp_path.mkdir(exist_ok=True)
    journal.entries_path.write_bytes(b"".join(lines))
    journal.seals_path.write_bytes(seals)
    return journal


def _split(line: bytes) -> tuple[str, dict[str, Any]]:
    h, _, body = line.rstrip(b"\n").partition(b" ")
    return h.decode(), loads(body)


def _line(fields: dict[str, Any], rehash: bool, old_hash: str) -> bytes:
    body = dumps_plain(fields)
    return (sha256_hex(body) if rehash else old_hash).encode() + b" " + body + b"\n"


def test_clean_journal_verifies(tmp_path, sealed, seal_key, tsa) -> None:
    lines, seals = sealed
    assert _problems(_journal_with(tmp_path, lines, seals), seal_key, [tsa.ca_cert]) == []


@pytest.mark.parametrize("k", range(1, N))
@pytest.mark.parametrize("mutation", ["modify", "modify+rehash", "delete", "swap", "insert", "duplicate"])
def test_any_entry_tampering_fails_at_exactly_that_entry(
    tmp_path, sealed, seal_key, tsa, mutation, k
) -> None:
    lines, seals = list(sealed[0]), sealed[1]
    i = k - 1
    old_hash, fields = _split(lines[i])
    if mutation.startswith("modify"):
        fields["data"]["n"] = 999
        lines[i] = _line(fields, mutation.endswith("rehash"), old_hash)
    elif mutation == "delete":
        del lines[i]
    elif mutation == "swap":
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif mutation == "insert":  # a well-formed forged entry linked to the one before, with seq k
        prev = _split(lines[i - 1])[0] if i else "0" * 64
        forged = make_entry(
            Event(EntryKind.PAYMENT_RECEIVED, DOC, "forger", {"amount": "1.00"}), seq=k, prev=prev
        )
        lines.insert(i, forged.hash.encode() + b" " + forged.body + b"\n")
    elif mutation == "duplicate":
        lines.insert(i + 1, lines[i])
        k += 1
    problems = _problems(_journal_with(tmp_path, lines, seals), seal_key, [tsa.ca_cert])
    assert problems, "tampering went unnoticed"
    assert problems[0].seq == k, problems[0]
    assert problems[0].where == f"journal entry {k}"


@pytest.mark.parametrize("mutation", ["modify+rehash", "delete"])
def test_tampering_with_the_last_entry_is_caught_by_its_seal(
    tmp_path, sealed, seal_key, tsa, mutation
) -> None:
    lines, seals = list(sealed[0]), sealed[1]
    old_hash, fields = _split(lines[-1])
    if mutation == "delete":
        lines.pop()
    else:
        fields["data"]["n"] = 999
        lines[-1] = _line(fields, True, old_hash)
    problems = _problems(_journal_with(tmp_path, lines, seals), seal_key, [tsa.ca_cert])
    assert problems and problems[0].seal == 3 and problems[0].seq is None, problems


@pytest.mark.parametrize("number", [1, 2, 3])
@pytest.mark.parametrize("edit", ["field", "field+rehash", "signature", "timestamp", "prev_seal"])
def test_editing_a_seal_fails_at_that_seal(tmp_path, sealed, seal_key, tsa, number, edit) -> None:
    lines, seals = sealed
    records = [json.loads(r) for r in seals.splitlines()]
    record = records[number - 1]
    body = loads(record["body"].encode())
    if edit.startswith("field"):
        body["to_seq"] = body["to_seq"]  # same value, then a real change:
        body["created_at"] = "2020-01-01T00:00:00Z"
        record["body"] = dumps_plain(body).decode()
        if edit.endswith("rehash"):
            record["hash"] = sha256_hex(record["body"].encode())
    elif edit == "signature":
        record["signature"] = base64.b64encode(
            Ed25519PrivateKey.generate().sign(record["body"].encode())
        ).decode()
    elif edit == "timestamp":
        token = bytearray(base64.b64decode(record["timestamp"]))
        token[-10] ^= 0x01
        record["timestamp"] = base64.b64encode(bytes(token)).decode()
    elif edit == "prev_seal":
        body["prev_seal"] = "11" * 32
        record["body"] = dumps_plain(body).decode()
        record["hash"] = sha256_hex(record["body"].encode())
    edited = b"".join(dumps_plain(r) + b"\n" for r in records)
    problems = _problems(_journal_with(tmp_path, list(lines), edited), seal_key, [tsa.ca_cert])
    assert problems, "seal tampering went unnoticed"
    assert problems[0].seal == number, problems
    assert problems[0].where == f"seal {number}"


def test_an_inclusion_proof_verifies_without_the_other_entries(sealed) -> None:
    lines, seals = sealed
    seal = loads(json.loads(seals.splitlines()[1])["body"].encode())  # seal 2: entries 11..20
    period = [_split(line)[0] for line in lines[10:20]]
    proof = inclusion_proof(period, 4)
    # what a verifier holds: one entry's bytes, the proof, the seal. Nothing else.
    entry_body = lines[14].rstrip(b"\n").partition(b" ")[2]
    assert verify_inclusion(sha256_hex(entry_body), 4, 10, proof, seal["merkle_root"])
    assert not verify_inclusion(sha256_hex(entry_body + b" "), 4, 10, proof, seal["merkle_root"])


def test_seals_carry_an_rfc3161_token_from_the_test_tsa(tmp_path, sealed, tsa) -> None:
    _, seals = sealed
    record = json.loads(seals.splitlines()[0])
    body, token = record["body"].encode(), base64.b64decode(record["timestamp"])
    when = verify_timestamp(token, body, [tsa.ca_cert])
    assert when.tzinfo is not None
    (tmp_path / "seal.json").write_bytes(body)
    (tmp_path / "seal.tsr").write_bytes(token)
    (tmp_path / "ca.pem").write_bytes(tsa.ca_pem)
    out = subprocess.run(
        ["openssl", "ts", "-verify", "-in", "seal.tsr", "-data", "seal.json", "-CAfile", "ca.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "Verification: OK" in out.stdout, out.stderr
    (tmp_path / "seal.json").write_bytes(body + b" ")
    out = subprocess.run(
        ["openssl", "ts", "-verify", "-in", "seal.tsr", "-data", "seal.json", "-CAfile", "ca.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0


def test_sql_journal_tampering_is_found(sql_journal: SqlJournal, seal_key) -> None:
    _fill(sql_journal, seal_key)
    assert _problems(sql_journal, seal_key) == []
    engine = sql_journal.engine
    with engine.begin() as conn:
        body = conn.execute(journal_entries.select().where(journal_entries.c.seq == 7)).one().body
        conn.execute(
            update(journal_entries)
            .where(journal_entries.c.seq == 7)
            .values(body=body.replace('"n":6', '"n":60'))
        )
    assert _problems(sql_journal, seal_key)[0].seq == 7
    with engine.begin() as conn:
        conn.execute(update(journal_entries).where(journal_entries.c.seq == 7).values(body=body))
        conn.execute(delete(journal_entries).where(journal_entries.c.seq == 12))
    first = _problems(sql_journal, seal_key)[0]
    assert (first.seq, first.problem) == (12, "missing")


@pytest.mark.parametrize(
    ("column", "value"),
    [("prev", "ab" * 32), ("seq", 1000), ("hash", "cd" * 32)],
    ids=["prev", "seq", "hash"],
)
def test_sql_columns_that_disagree_with_the_body_are_found(
    sql_journal: SqlJournal, seal_key, column: str, value: object
) -> None:
    """The verifier's fast path reads the columns too: any disagreement falls to the exact check."""
    _fill(sql_journal, seal_key)
    with sql_journal.engine.begin() as conn:
        conn.execute(update(journal_entries).where(journal_entries.c.seq == 9).values({column: value}))
    first = _problems(sql_journal, seal_key)[0]
    assert first.problem in ("changed", "missing") and first.where.startswith("journal entry")
    assert first.seq in (8, 9)
