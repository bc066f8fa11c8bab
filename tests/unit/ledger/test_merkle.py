"""Tests for vallum.ledger.merkle: RFC 9162 Merkle tree hashing, proofs and the frontier.

The expected values come from three independent places:

* the RFC 6962 test vectors (8 entries, their roots, and the inclusion and
  consistency proofs over them) as published with the Certificate Transparency
  reference code and kept in transparency-dev/merkle ``proof/verify_test.go``;
* the proof layouts published in transparency-dev/merkle ``proof/proof_test.go``
  (which subtrees each proof holds), transcribed here as leaf ranges;
* a naive recursive implementation written straight from the RFC definitions
  below, compared with the module by hypothesis.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vallum.ledger.merkle import (
    EMPTY_ROOT,
    MAX_TREE_SIZE,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# --------------------------------------------------------------------------- reference


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """Largest power of two strictly smaller than n (n > 1), by the RFC's words."""
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 2.1.1, over leaf hashes, recursively."""
    if len(d) == 0:
        return _sha(b"")
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return _sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    return ref_subproof(m, d, True)


def _leaves(n: int, salt: bytes = b"") -> list[bytes]:
    """n distinct leaf hashes."""
    return [_sha(b"\x00" + salt + i.to_bytes(8, "big")) for i in range(n)]


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --------------------------------------------------------------------------- published vectors

# RFC 6962 test entries and the roots of their first 0..8 entries.
ENTRIES = [
    bytes.fromhex(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
LEAF_HASHES = [leaf_hash(e) for e in ENTRIES]
ROOTS = [
    bytes.fromhex(x)
    for x in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def _hashes(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# (leaf index, tree size, proof).  The source numbers leaves from 1; these are 0-based.
INCLUSION_VECTORS = [
    (
        0,
        8,
        _hashes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _hashes(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        3,
        _hashes("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    ),
    (
        1,
        5,
        _hashes(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

# (first size, second size, proof).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        _hashes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _hashes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _hashes(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _hashes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

# Proof layouts from transparency-dev/merkle proof/proof_test.go.  Each element is
# the leaf range [lo, hi) whose MTH it is; a node "rehashed" there from several
# stored nodes is written as the single range they cover.
INCLUSION_LAYOUTS: list[tuple[int, int, list[tuple[int, int]]]] = [
    (0, 1, []),
    (0, 2, [(1, 2)]),
    (1, 2, [(0, 1)]),
    (1, 3, [(0, 1), (2, 3)]),
    (0, 7, [(1, 2), (2, 4), (4, 7)]),
    (1, 7, [(0, 1), (2, 4), (4, 7)]),
    (2, 7, [(3, 4), (0, 2), (4, 7)]),
    (3, 7, [(2, 3), (0, 2), (4, 7)]),
    (4, 7, [(5, 6), (6, 7), (0, 4)]),
    (5, 7, [(4, 5), (6, 7), (0, 4)]),
    (6, 7, [(4, 6), (0, 4)]),
    (2, 4, [(3, 4), (0, 2)]),
    (3, 5, [(2, 3), (0, 2), (4, 5)]),
    (3, 6, [(2, 3), (0, 2), (4, 6)]),
    (4, 6, [(5, 6), (0, 4)]),
    (10, 15, [(11, 12), (8, 10), (12, 15), (0, 8)]),
    (24, 31, [(25, 26), (26, 28), (28, 31), (16, 24), (0, 16)]),
    (81, 95, [(80, 81), (82, 84), (84, 88), (88, 95), (64, 80), (0, 64)]),
]
CONSISTENCY_LAYOUTS: list[tuple[int, int, list[tuple[int, int]]]] = [
    (1, 2, [(1, 2)]),
    (1, 4, [(1, 2), (2, 4)]),
    (1, 6, [(1, 2), (2, 4), (4, 6)]),
    (2, 3, [(2, 3)]),
    (2, 8, [(2, 4), (4, 8)]),
    (3, 7, [(2, 3), (3, 4), (0, 2), (4, 7)]),
    (4, 7, [(4, 7)]),
    (5, 7, [(4, 5), (5, 6), (6, 7), (0, 4)]),
    (6, 7, [(4, 6), (6, 7), (0, 4)]),
    (7, 8, [(6, 7), (7, 8), (4, 6), (0, 4)]),
    (2, 4, [(2, 4)]),
    (3, 5, [(2, 3), (3, 4), (0, 2), (4, 5)]),
    (3, 6, [(2, 3), (3, 4), (0, 2), (4, 6)]),
    (4, 6, [(4, 6)]),
    (1, 7, [(1, 2), (2, 4), (4, 7)]),
    (10, 15, [(8, 10), (10, 12), (12, 15), (0, 8)]),
    (24, 31, [(16, 24), (24, 31), (0, 16)]),
    (81, 95, [(80, 81), (81, 82), (82, 84), (84, 88), (88, 95), (64, 80), (0, 64)]),
    *((n, n, []) for n in (1, 2, 3, 4, 5, 7, 8)),
]


# --------------------------------------------------------------------------- hashing


def test_empty_root_is_sha256_of_nothing() -> None:
    assert ROOTS[0] == EMPTY_ROOT
    assert root_of([]) == EMPTY_ROOT
    assert Frontier().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == ROOTS[1] == _sha(b"\x00")
    assert node_hash(LEAF_HASHES[0], LEAF_HASHES[1]) == ROOTS[2]
    assert node_hash(b"a" * 32, b"b" * 32) == _sha(b"\x01" + b"a" * 32 + b"b" * 32)
    assert leaf_hash(b"\x01" + b"a" * 32 + b"b" * 32) != node_hash(b"a" * 32, b"b" * 32)


@pytest.mark.parametrize("size", range(9))
def test_published_roots(size: int) -> None:
    assert root_of(LEAF_HASHES[:size]) == ROOTS[size]
    assert root_of(tuple(LEAF_HASHES[:size])) == ROOTS[size]
    assert ref_mth(LEAF_HASHES[:size]) == ROOTS[size]


def test_frontier_matches_published_roots_after_each_append() -> None:
    frontier = Frontier()
    for size, h in enumerate(LEAF_HASHES, start=1):
        frontier.append(h)
        assert frontier.size == size
        assert frontier.root() == ROOTS[size]
        assert len(frontier.hashes) == size.bit_count()


@given(st.integers(0, 300), st.binary(max_size=8))
@settings(max_examples=60, deadline=None)
def test_root_of_matches_reference(n: int, salt: bytes) -> None:
    leaves = _leaves(n, salt)
    assert root_of(leaves) == ref_mth(leaves)


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=80))
@settings(max_examples=60, deadline=None)
def test_frontier_root_matches_reference_after_each_append(leaves: list[bytes]) -> None:
    frontier = Frontier()
    assert frontier.root() == ref_mth([])
    for size, h in enumerate(leaves, start=1):
        frontier.append(h)
        assert frontier.size == size
        assert frontier.root() == ref_mth(leaves[:size])


def test_root_of_rejects_malformed_leaf_hashes() -> None:
    good = _leaves(3)
    bad_leaves: list[Any] = [b"", b"x" * 31, b"x" * 33, "a" * 32, bytearray(32), None]
    for bad in bad_leaves:
        with pytest.raises(ValueError, match="32 bytes"):
            root_of([*good, bad])
        with pytest.raises(ValueError, match="32 bytes"):
            root_of([bad])


def test_large_tree_is_handled_without_recursion() -> None:
    n = (1 << 16) + 5
    leaves = _leaves(n)
    root = root_of(leaves)
    frontier = Frontier()
    for h in leaves:
        frontier.append(h)
    assert frontier.root() == root
    for index in (0, 1, 1 << 15, (1 << 16) - 1, 1 << 16, n - 1):
        proof = inclusion_proof(index, leaves)
        if index < 1 << 16:  # in the perfect left subtree: 16 levels, then its right sibling
            assert len(proof) == 17
        assert verify_inclusion(leaves[index], index, n, proof, root)
    for first in (1, 1 << 15, (1 << 16) + 1):
        proof = consistency_proof(first, leaves)
        assert verify_consistency(first, n, root_of(leaves[:first]), root, proof)


# --------------------------------------------------------------------------- inclusion


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_VECTORS)
def test_published_inclusion_proofs(index: int, size: int, expected: list[bytes]) -> None:
    assert inclusion_proof(index, LEAF_HASHES[:size]) == expected
    assert verify_inclusion(LEAF_HASHES[index], index, size, expected, ROOTS[size])
    assert verify_inclusion(LEAF_HASHES[index], index, size, tuple(expected), ROOTS[size])


@pytest.mark.parametrize(("index", "size", "layout"), INCLUSION_LAYOUTS)
def test_published_inclusion_layouts(index: int, size: int, layout: list[tuple[int, int]]) -> None:
    leaves = _leaves(size)
    assert inclusion_proof(index, leaves) == [ref_mth(leaves[lo:hi]) for lo, hi in layout]


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> dict[str, tuple[bytes, int, int, list[bytes], bytes]]:
    """Corruptions of a valid inclusion claim (after the transparency-dev/merkle test suite)."""
    probes = {
        "index - 1": (leaf, index - 1, size, proof, root),
        "index + 1": (leaf, index + 1, size, proof, root),
        "index ^ 2": (leaf, index ^ 2, size, proof, root),
        "size * 2": (leaf, index, size * 2, proof, root),
        "size // 2": (leaf, index, size // 2, proof, root),
        "wrong leaf": (leaf_hash(b"WrongLeaf"), index, size, proof, root),
        "empty root": (leaf, index, size, proof, EMPTY_ROOT),
        "some root": (leaf, index, size, proof, SOME_HASH),
        "trailing empty": (leaf, index, size, [*proof, b""], root),
        "trailing root": (leaf, index, size, [*proof, root], root),
        "preceding empty": (leaf, index, size, [b"", *proof], root),
        "preceding root": (leaf, index, size, [root, *proof], root),
    }
    if proof:
        probes["removed component"] = (leaf, index, size, proof[:-1], root)
    if len(proof) > 1:
        probes["inserted component"] = (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root)
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_corrupted_published_inclusion_claims_fail(
    index: int, size: int, proof: list[bytes]
) -> None:
    probes = _inclusion_probes(index, size, proof, ROOTS[size], LEAF_HASHES[index])
    accepted = [name for name, args in probes.items() if verify_inclusion(*args)]
    assert accepted == []


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_every_bit_flip_breaks_published_inclusion_proofs(
    index: int, size: int, proof: list[bytes]
) -> None:
    leaf, root = LEAF_HASHES[index], ROOTS[size]
    for bit in range(256):
        assert not verify_inclusion(_flip(leaf, bit), index, size, proof, root)
        assert not verify_inclusion(leaf, index, size, proof, _flip(root, bit))
        for i in range(len(proof)):
            bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
            assert not verify_inclusion(leaf, index, size, bad, root)


def test_single_leaf_tree() -> None:
    h = leaf_hash(b"data")
    assert inclusion_proof(0, [h]) == []
    assert verify_inclusion(h, 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], h)
    for index, size in ((0, 0), (1, 0), (1, 1), (2, 1)):
        assert not verify_inclusion(h, index, size, [], h)
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


@st.composite
def _tree_and_index(draw: st.DrawFn, max_size: int = 150) -> tuple[list[bytes], int]:
    n = draw(st.integers(1, max_size))
    salt = draw(st.binary(max_size=4))
    return _leaves(n, salt), draw(st.integers(0, n - 1))


@given(_tree_and_index())
@settings(max_examples=150, deadline=None)
def test_inclusion_proof_matches_reference_and_verifies(case: tuple[list[bytes], int]) -> None:
    leaves, index = case
    proof = inclusion_proof(index, leaves)
    assert proof == ref_path(index, leaves)
    assert verify_inclusion(leaves[index], index, len(leaves), proof, ref_mth(leaves))


@given(_tree_and_index(), st.data())
@settings(max_examples=150, deadline=None)
def test_any_single_change_breaks_an_inclusion_claim(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, index = case
    n = len(leaves)
    proof = inclusion_proof(index, leaves)
    root = root_of(leaves)
    leaf = leaves[index]
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_inclusion(_flip(leaf, bit), index, n, proof, root)
    assert not verify_inclusion(leaf, index, n, proof, _flip(root, bit))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify_inclusion(leaf, index, n, bad, root)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda j: j != index), label="other")
        assert not verify_inclusion(leaf, other, n, proof, root)
        # The leaf really at the other index, with this proof, fails too.
        assert not verify_inclusion(leaves[other], other, n, proof, root)


def test_inclusion_claims_only_verify_for_their_own_index_and_size() -> None:
    """With honest roots, a proof verifies only for the (index, size) it was made for."""
    leaves = _leaves(13)
    roots = [ref_mth(leaves[:n]) for n in range(len(leaves) + 1)]
    proofs = {(i, n): ref_path(i, leaves[:n]) for n in range(1, len(leaves) + 1) for i in range(n)}
    for (i, n), proof in proofs.items():
        for j, m in proofs:
            claimed = verify_inclusion(leaves[i], j, m, proof, roots[m])
            legitimately_same = i == j and proofs[(j, m)] == proof
            assert claimed == ((i, n) == (j, m) or legitimately_same), (i, n, j, m)
            # A wrong index with the right size and root never verifies.
            if m == n and j != i:
                assert not verify_inclusion(leaves[i], j, n, proof, roots[n])


def test_tree_size_is_not_pinned_by_a_proof() -> None:
    """RFC 9162 subtlety: the size comes from the signed tree head, not from the proof.

    Leaf 0 has the same audit path shape in trees of 3 and 4 leaves, so the
    size-3 proof and root also pass as a claim about a 4-leaf tree.  Only the
    signature binding size and root together rules that out.
    """
    leaves = _leaves(3)
    proof = inclusion_proof(0, leaves)
    assert verify_inclusion(leaves[0], 0, 4, proof, root_of(leaves))
    assert not verify_inclusion(leaves[0], 0, 4, proof, root_of(_leaves(4)))
    # The same holds for the second size of a consistency proof.
    proof = consistency_proof(2, LEAF_HASHES[:5])
    assert verify_consistency(2, 6, ROOTS[2], ROOTS[5], proof)
    assert not verify_consistency(2, 6, ROOTS[2], ROOTS[6], proof)


def test_inclusion_proof_rejects_bad_arguments() -> None:
    leaves = _leaves(5)
    bad_indices: list[Any] = [-1, 5, 6, 2**64, True, 1.0, None, "1"]
    for index in bad_indices:
        with pytest.raises(ValueError, match="leaf index"):
            inclusion_proof(index, leaves)
    with pytest.raises(ValueError, match="leaf index"):
        inclusion_proof(0, [])
    with pytest.raises(ValueError, match="32 bytes"):
        inclusion_proof(0, [b"short"])


_N = 5
_I = 3
_GOOD_LEAVES = _leaves(_N)
_GOOD_ROOT = root_of(_GOOD_LEAVES)
_GOOD_PROOF = inclusion_proof(_I, _GOOD_LEAVES)
_GOOD_LEAF = _GOOD_LEAVES[_I]

_MALFORMED_INCLUSION: list[tuple[str, Any, Any, Any, Any, Any]] = [
    ("empty leaf", b"", _I, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("short leaf", _GOOD_LEAF[:31], _I, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("long leaf", _GOOD_LEAF + b"\x00", _I, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("str leaf", _GOOD_LEAF.hex(), _I, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("bytearray leaf", bytearray(_GOOD_LEAF), _I, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("None leaf", None, _I, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("negative index", _GOOD_LEAF, -1, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("index == size", _GOOD_LEAF, _N, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("index > size", _GOOD_LEAF, _N + 7, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("index 2**64", _GOOD_LEAF, 2**64, _N, _GOOD_PROOF, _GOOD_ROOT),
    ("float index", _GOOD_LEAF, float(_I), _N, _GOOD_PROOF, _GOOD_ROOT),
    ("str index", _GOOD_LEAF, str(_I), _N, _GOOD_PROOF, _GOOD_ROOT),
    ("None index", _GOOD_LEAF, None, _N, _GOOD_PROOF, _GOOD_ROOT),
    (
        "bool index",
        leaf_hash(b"x"),
        True,
        2,
        [leaf_hash(b"w")],
        root_of([leaf_hash(b"w"), leaf_hash(b"x")]),
    ),
    ("size 0", _GOOD_LEAF, _I, 0, _GOOD_PROOF, _GOOD_ROOT),
    ("negative size", _GOOD_LEAF, _I, -_N, _GOOD_PROOF, _GOOD_ROOT),
    ("size 2**64", _GOOD_LEAF, _I, 2**64, _GOOD_PROOF, _GOOD_ROOT),
    ("size 2**1000", _GOOD_LEAF, _I, 2**1000, _GOOD_PROOF, _GOOD_ROOT),
    ("float size", _GOOD_LEAF, _I, float(_N), _GOOD_PROOF, _GOOD_ROOT),
    ("None proof", _GOOD_LEAF, _I, _N, None, _GOOD_ROOT),
    ("int proof", _GOOD_LEAF, _I, _N, 7, _GOOD_ROOT),
    ("bytes proof", _GOOD_LEAF, _I, _N, b"".join(_GOOD_PROOF), _GOOD_ROOT),
    ("str proof", _GOOD_LEAF, _I, _N, "".join(p.hex() for p in _GOOD_PROOF), _GOOD_ROOT),
    ("set proof", _GOOD_LEAF, _I, _N, set(_GOOD_PROOF), _GOOD_ROOT),
    ("short element", _GOOD_LEAF, _I, _N, [_GOOD_PROOF[0][:31], *_GOOD_PROOF[1:]], _GOOD_ROOT),
    (
        "long element",
        _GOOD_LEAF,
        _I,
        _N,
        [*_GOOD_PROOF[:-1], _GOOD_PROOF[-1] + b"\x00"],
        _GOOD_ROOT,
    ),
    ("empty element", _GOOD_LEAF, _I, _N, [*_GOOD_PROOF, b""], _GOOD_ROOT),
    ("None element", _GOOD_LEAF, _I, _N, [*_GOOD_PROOF, None], _GOOD_ROOT),
    ("str element", _GOOD_LEAF, _I, _N, [p.hex() for p in _GOOD_PROOF], _GOOD_ROOT),
    ("int elements", _GOOD_LEAF, _I, _N, [1, 2, 3], _GOOD_ROOT),
    ("huge proof", _GOOD_LEAF, _I, _N, _GOOD_PROOF * 1000, _GOOD_ROOT),
    ("65-element proof", _GOOD_LEAF, 2**64 - 2, 2**64 - 1, [SOME_HASH] * 65, _GOOD_ROOT),
    ("short root", _GOOD_LEAF, _I, _N, _GOOD_PROOF, _GOOD_ROOT[:31]),
    ("long root", _GOOD_LEAF, _I, _N, _GOOD_PROOF, _GOOD_ROOT + b"\x00"),
    ("str root", _GOOD_LEAF, _I, _N, _GOOD_PROOF, _GOOD_ROOT.hex()),
    ("None root", _GOOD_LEAF, _I, _N, _GOOD_PROOF, None),
]


def test_malformed_inclusion_baseline_is_valid() -> None:
    assert verify_inclusion(_GOOD_LEAF, _I, _N, _GOOD_PROOF, _GOOD_ROOT)
    w, x = leaf_hash(b"w"), leaf_hash(b"x")
    assert verify_inclusion(x, 1, 2, [w], root_of([w, x]))


@pytest.mark.parametrize(
    ("leaf", "index", "size", "proof", "root"),
    [case[1:] for case in _MALFORMED_INCLUSION],
    ids=[case[0] for case in _MALFORMED_INCLUSION],
)
def test_malformed_inclusion_input_returns_false(
    leaf: Any, index: Any, size: Any, proof: Any, root: Any
) -> None:
    assert verify_inclusion(leaf, index, size, proof, root) is False


@given(
    st.integers(-(2**70), 2**70),
    st.integers(-(2**70), 2**70),
    st.lists(st.binary(min_size=30, max_size=34), max_size=70),
    st.binary(min_size=31, max_size=33),
)
@settings(max_examples=200, deadline=None)
def test_random_inclusion_input_never_raises(
    index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    result = verify_inclusion(SOME_HASH, index, size, proof, root)
    assert result is False


def test_largest_tree_size_is_accepted() -> None:
    """Sizes up to 2**64 - 1 go through the RFC algorithm without special cases."""
    size = MAX_TREE_SIZE  # = 2**63 + 2**62 + ... + 2 + 1
    siblings = [_sha(i.to_bytes(1, "big")) for i in range(64)]
    # Leaf 0: 63 right siblings inside the perfect left subtree of 2**63 leaves,
    # then the rest of the tree on the right: the longest possible path.
    root = SOME_HASH
    for p in siblings:
        root = node_hash(root, p)
    assert verify_inclusion(SOME_HASH, 0, size, siblings, root)
    assert not verify_inclusion(SOME_HASH, 0, size, [*siblings, SOME_HASH], root)
    assert not verify_inclusion(SOME_HASH, 0, size + 1, siblings, root)
    # The last leaf: its left siblings are the perfect subtrees of 2, 4, ..., 2**63 leaves.
    root = SOME_HASH
    for p in siblings[:63]:
        root = node_hash(p, root)
    assert verify_inclusion(SOME_HASH, size - 1, size, siblings[:63], root)
    assert not verify_inclusion(SOME_HASH, size - 1, size, siblings, root)
    assert not verify_inclusion(SOME_HASH, size - 2, size, siblings[:63], root)


# --------------------------------------------------------------------------- consistency


@pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(first: int, second: int, expected: list[bytes]) -> None:
    assert consistency_proof(first, LEAF_HASHES[:second]) == expected
    assert verify_consistency(first, second, ROOTS[first], ROOTS[second], expected)
    assert verify_consistency(first, second, ROOTS[first], ROOTS[second], tuple(expected))


@pytest.mark.parametrize(("first", "second", "layout"), CONSISTENCY_LAYOUTS)
def test_published_consistency_layouts(
    first: int, second: int, layout: list[tuple[int, int]]
) -> None:
    leaves = _leaves(second)
    expected = [ref_mth(leaves[lo:hi]) for lo, hi in layout]
    assert consistency_proof(first, leaves) == expected
    assert verify_consistency(first, second, root_of(leaves[:first]), root_of(leaves), expected)


def _consistency_probes(
    first: int, second: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> dict[str, tuple[int, int, bytes, bytes, list[bytes]]]:
    """Corruptions of a valid consistency claim (after the transparency-dev/merkle test suite)."""
    probes = {
        "first - 1": (first - 1, second, root1, root2, proof),
        "first + 1": (first + 1, second, root1, root2, proof),
        "first ^ 2": (first ^ 2, second, root1, root2, proof),
        "second * 2": (first, second * 2, root1, root2, proof),
        "second // 2": (first, second // 2, root1, root2, proof),
        "wrong root1": (first, second, b"WrongRoot", root2, proof),
        "wrong root2": (first, second, root1, b"WrongRoot", proof),
        "some root1": (first, second, SOME_HASH, root2, proof),
        "some root2": (first, second, root1, SOME_HASH, proof),
        "swapped roots": (first, second, root2, root1, proof),
        "empty proof": (first, second, root1, root2, []),
        "trailing empty": (first, second, root1, root2, [*proof, b""]),
        "trailing root1": (first, second, root1, root2, [*proof, root1]),
        "trailing root2": (first, second, root1, root2, [*proof, root2]),
        "preceding empty": (first, second, root1, root2, [b"", *proof]),
        "preceding root1": (first, second, root1, root2, [root1, *proof]),
        "preceding root2": (first, second, root1, root2, [root2, *proof]),
        "preceding proof[0]": (first, second, root1, root2, [proof[0], *proof]),
        "truncated": (first, second, root1, root2, proof[:-1]),
    }
    if len(proof) > 1:
        probes["inserted component"] = (
            first,
            second,
            root1,
            root2,
            [proof[0], SOME_HASH, *proof[1:]],
        )
    return probes


@pytest.mark.parametrize(("first", "second", "proof"), [v for v in CONSISTENCY_VECTORS if v[2]])
def test_corrupted_published_consistency_claims_fail(
    first: int, second: int, proof: list[bytes]
) -> None:
    probes = _consistency_probes(first, second, ROOTS[first], ROOTS[second], proof)
    accepted = [name for name, args in probes.items() if verify_consistency(*args)]
    assert accepted == []


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY_VECTORS)
def test_every_bit_flip_breaks_published_consistency_proofs(
    first: int, second: int, proof: list[bytes]
) -> None:
    root1, root2 = ROOTS[first], ROOTS[second]
    for bit in range(256):
        assert not verify_consistency(first, second, _flip(root1, bit), root2, proof)
        assert not verify_consistency(first, second, root1, _flip(root2, bit), proof)
        for i in range(len(proof)):
            bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
            assert not verify_consistency(first, second, root1, root2, bad)


@st.composite
def _tree_and_prefix(draw: st.DrawFn, max_size: int = 150) -> tuple[list[bytes], int]:
    n = draw(st.integers(1, max_size))
    salt = draw(st.binary(max_size=4))
    return _leaves(n, salt), draw(st.integers(0, n))


@given(_tree_and_prefix())
@settings(max_examples=150, deadline=None)
def test_consistency_proof_matches_reference_and_verifies(case: tuple[list[bytes], int]) -> None:
    leaves, first = case
    proof = consistency_proof(first, leaves)
    assert proof == (ref_proof(first, leaves) if first else [])
    assert verify_consistency(first, len(leaves), ref_mth(leaves[:first]), ref_mth(leaves), proof)


@given(_tree_and_prefix(), st.data())
@settings(max_examples=150, deadline=None)
def test_any_single_change_breaks_a_consistency_claim(
    case: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, first = case
    second = len(leaves)
    proof = consistency_proof(first, leaves)
    root1, root2 = root_of(leaves[:first]), root_of(leaves)
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_consistency(first, second, _flip(root1, bit), root2, proof)
    if first != 0:  # nothing in a claim about the empty tree pins the second root
        assert not verify_consistency(first, second, root1, _flip(root2, bit), proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify_consistency(first, second, root1, root2, bad)
        assert not verify_consistency(first, second, root1, root2, proof[:-1])
        assert not verify_consistency(first, second, root1, root2, [*proof, SOME_HASH])
    if 0 < first < second:
        other = data.draw(
            st.integers(1, second).filter(lambda m: m != first), label="other first size"
        )
        assert not verify_consistency(other, second, root1, root2, proof)
        assert not verify_consistency(other, second, root_of(leaves[:other]), root2, proof)


def test_consistency_claims_only_verify_for_their_own_sizes() -> None:
    """With honest roots, a proof verifies only for the (first, second) it was made for."""
    leaves = _leaves(11)
    roots = [ref_mth(leaves[:n]) for n in range(len(leaves) + 1)]
    sizes = [(m, n) for n in range(len(leaves) + 1) for m in range(n + 1)]
    proofs = {(m, n): consistency_proof(m, leaves[:n]) for m, n in sizes}
    for (m, n), proof in proofs.items():
        if not proof:
            continue
        for m2, n2 in sizes:
            claimed = verify_consistency(m2, n2, roots[m2], roots[n2], proof)
            assert claimed == ((m, n) == (m2, n2) or proofs[(m2, n2)] == proof), (m, n, m2, n2)


def test_consistency_edge_cases() -> None:
    leaves = _leaves(6)
    root3, root6 = root_of(leaves[:3]), root_of(leaves)
    # Equal sizes: empty proof and equal roots.
    assert verify_consistency(3, 3, root3, root3, [])
    assert not verify_consistency(3, 3, root3, root6, [])
    assert not verify_consistency(3, 3, root3, root3, [root3])
    # Size 0: the empty tree is a prefix of every tree, with an empty proof only.
    assert verify_consistency(0, 6, EMPTY_ROOT, root6, [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, root6, [])
    assert not verify_consistency(0, 6, root3, root6, [])
    assert not verify_consistency(0, 6, EMPTY_ROOT, root6, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    # Going back in time.
    assert not verify_consistency(6, 3, root6, root3, consistency_proof(3, leaves))
    assert not verify_consistency(1, 0, leaves[0], EMPTY_ROOT, [])
    # A proof is needed between different non-zero sizes.
    assert not verify_consistency(1, 2, leaves[0], root_of(leaves[:2]), [])
    assert consistency_proof(0, leaves) == []
    assert consistency_proof(6, leaves) == []


def test_consistency_proof_rejects_bad_arguments() -> None:
    leaves = _leaves(5)
    bad_sizes: list[Any] = [-1, 6, 2**64, True, 2.0, None, "2"]
    for first in bad_sizes:
        with pytest.raises(ValueError, match="first size"):
            consistency_proof(first, leaves)
    with pytest.raises(ValueError, match="32 bytes"):
        consistency_proof(1, [b"short"])


_M = 3
_CN = 7
_C_LEAVES = _leaves(_CN)
_R1 = root_of(_C_LEAVES[:_M])
_R2 = root_of(_C_LEAVES)
_CP = consistency_proof(_M, _C_LEAVES)

_MALFORMED_CONSISTENCY: list[tuple[str, Any, Any, Any, Any, Any]] = [
    ("negative first", -1, _CN, _R1, _R2, _CP),
    ("negative second", _M, -1, _R1, _R2, _CP),
    ("first > second", _CN, _M, _R2, _R1, _CP),
    ("first 2**64", 2**64, 2**64, _R1, _R1, []),
    ("second 2**64", _M, 2**64, _R1, _R2, _CP),
    ("second 2**1000", _M, 2**1000, _R1, _R2, _CP),
    ("bool first", True, 2, _C_LEAVES[0], root_of(_C_LEAVES[:2]), [_C_LEAVES[1]]),
    ("float first", float(_M), _CN, _R1, _R2, _CP),
    ("str second", _M, str(_CN), _R1, _R2, _CP),
    ("None first", None, _CN, _R1, _R2, _CP),
    ("short root1", _M, _CN, _R1[:31], _R2, _CP),
    ("long root2", _M, _CN, _R1, _R2 + b"\x00", _CP),
    ("str root1", _M, _CN, _R1.hex(), _R2, _CP),
    ("None root2", _M, _CN, _R1, None, _CP),
    ("bytearray root1", _M, _CN, bytearray(_R1), _R2, _CP),
    ("None proof", _M, _CN, _R1, _R2, None),
    ("bytes proof", _M, _CN, _R1, _R2, b"".join(_CP)),
    ("str proof", _M, _CN, _R1, _R2, "".join(p.hex() for p in _CP)),
    ("short element", _M, _CN, _R1, _R2, [_CP[0][:31], *_CP[1:]]),
    ("long element", _M, _CN, _R1, _R2, [*_CP[:-1], _CP[-1] + b"\x00"]),
    ("None element", _M, _CN, _R1, _R2, [*_CP, None]),
    ("int elements", _M, _CN, _R1, _R2, [1, 2, 3, 4]),
    ("huge proof", _M, _CN, _R1, _R2, _CP * 1000),
    ("bytes proof for equal sizes", _M, _M, _R1, _R1, b""),
    ("size 0 with bad root", 0, 0, b"", b"", []),
]


def test_malformed_consistency_baseline_is_valid() -> None:
    assert verify_consistency(_M, _CN, _R1, _R2, _CP)
    assert verify_consistency(1, 2, _C_LEAVES[0], root_of(_C_LEAVES[:2]), [_C_LEAVES[1]])


@pytest.mark.parametrize(
    ("first", "second", "root1", "root2", "proof"),
    [case[1:] for case in _MALFORMED_CONSISTENCY],
    ids=[case[0] for case in _MALFORMED_CONSISTENCY],
)
def test_malformed_consistency_input_returns_false(
    first: Any, second: Any, root1: Any, root2: Any, proof: Any
) -> None:
    assert verify_consistency(first, second, root1, root2, proof) is False


@given(
    st.integers(-(2**70), 2**70),
    st.integers(-(2**70), 2**70),
    st.binary(min_size=31, max_size=33),
    st.lists(st.binary(min_size=30, max_size=34), max_size=140),
)
@settings(max_examples=200, deadline=None)
def test_random_consistency_input_never_raises(
    first: int, second: int, root1: bytes, proof: list[bytes]
) -> None:
    assert verify_consistency(first, second, root1, SOME_HASH, proof) is False


# --------------------------------------------------------------------------- frontier JSON


def _frontier_of(leaves: Sequence[bytes]) -> Frontier:
    frontier = Frontier()
    for h in leaves:
        frontier.append(h)
    return frontier


@given(st.integers(0, 300), st.integers(0, 20))
@settings(max_examples=60, deadline=None)
def test_frontier_json_round_trip(n: int, more: int) -> None:
    leaves = _leaves(n + more)
    frontier = _frontier_of(leaves[:n])
    document = frontier.to_json()
    assert document["size"] == n
    assert len(document["hashes"]) == n.bit_count()
    restored = Frontier.from_json(json.loads(json.dumps(document)))
    assert restored == frontier
    assert restored.size == n
    assert restored.root() == frontier.root() == root_of(leaves[:n])
    # A writer that resumes from the JSON keeps producing the right roots.
    for size in range(n, n + more):
        restored.append(leaves[size])
        assert restored.root() == root_of(leaves[: size + 1])
    assert restored == _frontier_of(leaves)


def test_frontier_json_shape() -> None:
    frontier = _frontier_of(LEAF_HASHES[:7])
    document = frontier.to_json()
    assert document == {
        "size": 7,
        "hashes": [ROOTS[4].hex(), root_of(LEAF_HASHES[4:6]).hex(), LEAF_HASHES[6].hex()],
    }
    assert Frontier().to_json() == {"size": 0, "hashes": []}
    assert Frontier.from_json({"size": 0, "hashes": []}) == Frontier()
    assert repr(frontier) == f"Frontier(size=7, root={ROOTS[7].hex()})"
    assert frontier != Frontier()
    assert frontier != "Frontier"


_H = SOME_HASH.hex()
_BAD_FRONTIER_JSON: list[tuple[str, Any]] = [
    ("list", [3, [_H, _H]]),
    ("string", "{}"),
    ("None", None),
    ("missing size", {"hashes": []}),
    ("missing hashes", {"size": 0}),
    ("extra key", {"size": 0, "hashes": [], "root": _H}),
    ("negative size", {"size": -1, "hashes": []}),
    ("bool size", {"size": True, "hashes": [_H]}),
    ("str size", {"size": "1", "hashes": [_H]}),
    ("float size", {"size": 1.0, "hashes": [_H]}),
    ("size 2**64", {"size": 2**64, "hashes": [_H]}),
    ("too few hashes", {"size": 3, "hashes": [_H]}),
    ("too many hashes", {"size": 4, "hashes": [_H, _H]}),
    ("hashes for size 0", {"size": 0, "hashes": [_H]}),
    ("hashes not a list", {"size": 1, "hashes": _H}),
    ("hashes a tuple", {"size": 1, "hashes": (_H,)}),
    ("hashes a dict", {"size": 1, "hashes": {_H: 1}}),
    ("non-str hash", {"size": 1, "hashes": [SOME_HASH]}),
    ("int hash", {"size": 1, "hashes": [1]}),
    ("short hash", {"size": 1, "hashes": [_H[:62]]}),
    ("long hash", {"size": 1, "hashes": [_H + "00"]}),
    ("odd-length hash", {"size": 1, "hashes": [_H + "0"]}),
    ("uppercase hash", {"size": 1, "hashes": [_H.upper()]}),
    ("non-hex hash", {"size": 1, "hashes": ["zz" + _H[2:]]}),
    ("spaced hash", {"size": 1, "hashes": [_H[:30] + " " + _H[31:]]}),
    ("0x hash", {"size": 1, "hashes": ["0x" + _H[2:]]}),
]


@pytest.mark.parametrize(
    "document",
    [case[1] for case in _BAD_FRONTIER_JSON],
    ids=[case[0] for case in _BAD_FRONTIER_JSON],
)
def test_frontier_from_json_rejects_bad_documents(document: Any) -> None:
    with pytest.raises(ValueError, match="frontier"):
        Frontier.from_json(document)


def test_frontier_append_rejects_bad_leaf_hashes() -> None:
    frontier = Frontier()
    bad_leaves: list[Any] = [b"", b"x" * 31, b"x" * 33, "a" * 32, bytearray(32), None]
    for bad in bad_leaves:
        with pytest.raises(ValueError, match="32 bytes"):
            frontier.append(bad)
    assert frontier.size == 0
    assert frontier.root() == EMPTY_ROOT


def test_frontier_refuses_to_grow_past_uint64() -> None:
    full = Frontier.from_json({"size": MAX_TREE_SIZE, "hashes": [_H] * 64})
    assert full.size == MAX_TREE_SIZE
    with pytest.raises(ValueError, match="full"):
        full.append(SOME_HASH)


def test_frontier_hashes_are_the_right_edge_subtrees() -> None:
    leaves = _leaves(13)
    frontier = _frontier_of(leaves)
    # 13 = 8 + 4 + 1
    assert frontier.hashes == (ref_mth(leaves[:8]), ref_mth(leaves[8:12]), leaves[12])


def test_frontier_copy_is_independent() -> None:
    leaves = _leaves(6)
    frontier = _frontier_of(leaves[:5])
    twin = frontier.copy()
    assert twin == frontier
    assert twin is not frontier
    twin.append(leaves[5])
    assert frontier.size == 5
    assert frontier.root() == root_of(leaves[:5])
    assert twin.size == 6
    assert twin.root() == root_of(leaves)
