"""Seals: a signed, optionally time-stamped statement that closes a period of the journal.

A seal's body is canonical JSON: its ``number``, the period ``from_seq``..``to_seq``,
the Merkle root of the period's entry hashes (:mod:`archive.merkle`), the chain
head (hash of entry ``to_seq``), the previous seal's hash (``prev_seal``, 64 zeros
for the first), ``created_at`` and the signing key's id. The seal's hash is the
SHA-256 of the body; the Ed25519 signature is over the body bytes; the RFC 3161
token, when a TSA is configured, is over the same bytes (imprint = seal hash).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.canonical import GENESIS, canonical_json, sha256_hex, utc_text
from archive.failpoints import failpoint
from archive.journal import JournalBackend, JournalError, SealRecord
from archive.merkle import merkle_root
from archive.signing import key_id
from archive.timestamp import Timestamper

SEAL_VERSION = 1


def seal_body(
    *,
    number: int,
    from_seq: int,
    to_seq: int,
    entry_hashes: list[str],
    prev_seal: str,
    created_at: dt.datetime,
    signer_key_id: str,
) -> dict[str, Any]:
    """The fields of a seal over ``entry_hashes`` (entries ``from_seq``..``to_seq``, in order).

    >>> body = seal_body(number=1, from_seq=1, to_seq=1, entry_hashes=["ab" * 32], prev_seal=GENESIS,
    ...                  created_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC), signer_key_id="k")
    >>> body["chain_head"] == "ab" * 32, body["entries"]
    (True, 1)
    """
    if to_seq < from_seq or len(entry_hashes) != to_seq - from_seq + 1:
        raise JournalError(f"a seal over entries {from_seq}..{to_seq} needs {to_seq - from_seq + 1} hashes")
    return {
        "version": SEAL_VERSION,
        "number": number,
        "from_seq": from_seq,
        "to_seq": to_seq,
        "entries": len(entry_hashes),
        "merkle_root": merkle_root(entry_hashes),
        "chain_head": entry_hashes[-1],
        "prev_seal": prev_seal,
        "created_at": utc_text(created_at),
        "signature_algorithm": "Ed25519",
        "key_id": signer_key_id,
        "hash_algorithm": "sha256",
        "merkle": "RFC 6962: leaf = sha256(0x00 || entry_hash), node = sha256(0x01 || left || right)",
    }


def make_seal(
    body: dict[str, Any], *, key: Ed25519PrivateKey, timestamper: Timestamper | None = None
) -> SealRecord:
    """Sign (and time-stamp) a seal body."""
    raw = canonical_json(body)
    token = timestamper.stamp(raw) if timestamper is not None else None
    return SealRecord(body=raw, hash=sha256_hex(raw), signature=key.sign(raw), timestamp=token)


def seal_period(
    journal: JournalBackend,
    *,
    key: Ed25519PrivateKey,
    timestamper: Timestamper | None = None,
    to_seq: int | None = None,
    now: dt.datetime | None = None,
) -> SealRecord | None:
    """Close the period after the last seal up to ``to_seq`` (default: the head); None when nothing is new.

    The daily job and the on-demand command both call this; seals never overlap.
    """
    existing = journal.seals()
    last = existing[-1] if existing else None
    from_seq = int(last.fields["to_seq"]) + 1 if last else 1
    head = journal.head()
    if head is None:
        return None
    to_seq = head.seq if to_seq is None else min(to_seq, head.seq)
    if to_seq < from_seq:
        return None
    hashes = [e.hash for e in journal.iter(from_seq, to_seq)]
    if len(hashes) != to_seq - from_seq + 1:
        raise JournalError(
            f"entries {from_seq}..{to_seq} are not all there: verify the archive before sealing"
        )
    body = seal_body(
        number=(last.number + 1) if last else 1,
        from_seq=from_seq,
        to_seq=to_seq,
        entry_hashes=hashes,
        prev_seal=last.hash if last else GENESIS,
        created_at=now or dt.datetime.now(dt.UTC),
        signer_key_id=key_id(key),
    )
    record = make_seal(body, key=key, timestamper=timestamper)
    failpoint("seal.signed")
    journal.add_seal(record)
    failpoint("seal.stored")
    return record
