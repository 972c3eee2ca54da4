from __future__ import annotations

from hashlib import sha256

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.merkle import inclusion_proof, leaf_hash, merkle_root, node_hash, verify_inclusion


def _reference_root(d: list[str]) -> bytes:
    """RFC 6962 section 2.1, recursively: split at the largest power of two below n."""
    if len(d) == 1:
        return leaf_hash(d[0])
    k = 1
    while k * 2 < len(d):
        k *= 2
    return node_hash(_reference_root(d[:k]), _reference_root(d[k:]))


def _reference_path(m: int, d: list[str]) -> list[str]:
    if len(d) == 1:
        return []
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m < k:
        return [*_reference_path(m, d[:k]), _reference_root(d[k:]).hex()]
    return [*_reference_path(m - k, d[k:]), _reference_root(d[:k]).hex()]


def _hashes(n: int) -> list[str]:
    return [sha256(str(i).encode()).hexdigest() for i in range(n)]


def test_matches_rfc6962_for_every_size_up_to_70() -> None:
    for n in range(1, 71):
        hashes = _hashes(n)
        root = merkle_root(hashes)
        assert root == _reference_root(hashes).hex()
        for m in range(n):
            proof = inclusion_proof(hashes, m)
            assert proof == _reference_path(m, hashes)
            assert verify_inclusion(hashes[m], m, n, proof, root)


def test_known_vector() -> None:
    """RFC 6962 leaf hashing of the empty leaf, as Certificate Transparency test vectors give it."""
    assert sha256(b"\x00").hexdigest() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@given(st.integers(1, 300), st.data())
def test_a_proof_fails_for_any_other_leaf_index_or_root(n: int, data: st.DataObject) -> None:
    hashes = _hashes(n)
    m = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(hashes, m)
    root = merkle_root(hashes)
    other = data.draw(st.integers(0, n - 1))
    if other != m:
        assert not verify_inclusion(hashes[other], m, n, proof, root)
        assert not verify_inclusion(hashes[m], other, n, proof, root)
    if proof:
        bad = list(proof)
        bad[0] = "00" * 32
        assert not verify_inclusion(hashes[m], m, n, bad, root)
    assert not verify_inclusion(hashes[m], m, n, proof, "11" * 32)


def test_bad_index_is_refused() -> None:
    with pytest.raises(IndexError):
        inclusion_proof(_hashes(3), 3)
    assert not verify_inclusion(_hashes(1)[0], 1, 1, [], merkle_root(_hashes(1)))
