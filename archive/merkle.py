"""Merkle trees over journal entry hashes, as RFC 6962 / RFC 9162 (Certificate Transparency) defines them.

A leaf is ``SHA-256(0x00 || entry_hash_bytes)``, an inner node
``SHA-256(0x01 || left || right)``; a tree of ``n`` leaves splits at the largest
power of two below ``n``. An inclusion proof is the list of sibling hashes from
the leaf up; checking it needs only the entry hash, its index, the tree size
and the root — not the other entries.

>>> hashes = [sha256(bytes([i])).hexdigest() for i in range(5)]
>>> root = merkle_root(hashes)
>>> proof = inclusion_proof(hashes, 3)
>>> verify_inclusion(hashes[3], 3, 5, proof, root)
True
>>> verify_inclusion(hashes[2], 3, 5, proof, root)
False
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

EMPTY_ROOT = sha256(b"").hexdigest()


def leaf_hash(entry_hash: str) -> bytes:
    """The leaf for an entry hash (hex).

    >>> leaf_hash("00" * 32).hex()[:16]
    '7f9c9e31ac8256ca'
    """
    return sha256(b"\x00" + bytes.fromhex(entry_hash)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An inner node."""
    return sha256(b"\x01" + left + right).digest()


def _levels(entry_hashes: Sequence[str]) -> list[list[bytes]]:
    """Every level of the tree, leaves first; a lone last node moves up unchanged (same as RFC 6962)."""
    h, fromhex = sha256, bytes.fromhex
    return _levels_from_leaves([h(b"\x00" + fromhex(x)).digest() for x in entry_hashes])


def _levels_from_leaves(level: list[bytes]) -> list[list[bytes]]:
    h = sha256
    levels = [level]
    while len(level) > 1:
        nxt = [h(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        levels.append(nxt)
        level = nxt
    return levels


def merkle_root(entry_hashes: Sequence[str]) -> str:
    """The root (hex) over ``entry_hashes`` in order; SHA-256 of nothing for none.

    >>> merkle_root([]) == EMPTY_ROOT
    True
    >>> merkle_root(["00" * 32]) == leaf_hash("00" * 32).hex()
    True
    """
    if not entry_hashes:
        return EMPTY_ROOT
    return _levels(entry_hashes)[-1][0].hex()


def root_of_leaves(leaves: list[bytes]) -> str:
    """The root (hex) over leaf hashes already computed (:func:`leaf_hash` of each entry hash)."""
    if not leaves:
        return EMPTY_ROOT
    return _levels_from_leaves(leaves)[-1][0].hex()


def inclusion_proof(entry_hashes: Sequence[str], index: int) -> list[str]:
    """The audit path (hex, leaf side first) for the entry at 0-based ``index``."""
    return inclusion_proofs(entry_hashes, [index])[index]


def inclusion_proofs(entry_hashes: Sequence[str], indexes: Sequence[int]) -> dict[int, list[str]]:
    """Audit paths for several entries, building the tree once."""
    n = len(entry_hashes)
    for index in indexes:
        if not 0 <= index < n:
            raise IndexError(f"leaf {index} is outside a tree of {n}")
    levels = _levels(entry_hashes)
    out: dict[int, list[str]] = {}
    for index in indexes:
        path: list[str] = []
        i = index
        for level in levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):
                path.append(level[sibling].hex())
            i //= 2
        out[index] = path
    return out


def root_from_proof(entry_hash: str, index: int, tree_size: int, proof: Sequence[str]) -> str | None:
    """The root an inclusion proof leads to (RFC 9162 section 2.1.3.2), or None if it cannot fit the tree."""
    if not 0 <= index < tree_size:
        return None
    fn, sn = index, tree_size - 1
    r = leaf_hash(entry_hash)
    for p_hex in proof:
        p = bytes.fromhex(p_hex)
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r.hex() if sn == 0 else None


def verify_inclusion(entry_hash: str, index: int, tree_size: int, proof: Sequence[str], root: str) -> bool:
    """True when ``proof`` shows the entry at ``index`` belongs to the tree of ``tree_size`` with ``root``."""
    try:
        return root_from_proof(entry_hash, index, tree_size, proof) == root
    except ValueError:  # a proof element that is not hex
        return False
