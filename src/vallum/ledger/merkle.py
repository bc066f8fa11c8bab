"""Merkle tree hashing of RFC 9162 (Certificate Transparency v2, section 2.1).

This module is the hashing core of Vallum's tamper-evident audit ledger.  It
implements, with SHA-256 and nothing but the standard library:

* the Merkle Tree Hash ``MTH`` of section 2.1.1 (:func:`root_of`), with the
  domain-separated leaf and interior-node hashes (:func:`leaf_hash`,
  :func:`node_hash`) and the empty-tree hash (:data:`EMPTY_ROOT`);
* a *compact range* (:class:`Frontier`): the right edge of a tree that grows
  one leaf at a time, enough to know the current root without rereading the
  leaves, and small enough to persist as JSON;
* inclusion proofs, section 2.1.3 (:func:`inclusion_proof`,
  :func:`verify_inclusion`);
* consistency proofs, section 2.1.4 (:func:`consistency_proof`,
  :func:`verify_consistency`).

Every function that builds or reads a tree works on *leaf hashes* (32-byte
outputs of :func:`leaf_hash`), never on raw entries.  Proofs are lists of
32-byte hashes in the order of the RFC: the one nearest the leaf comes first.

The two verifiers follow the algorithms of sections 2.1.3.2 and 2.1.4.2 step
by step.  They are meant to be fed untrusted input, so they never raise: any
malformed argument (wrong type, hash of the wrong length, negative or
out-of-range size or index, absurdly long proof) makes them return ``False``.

Points where the RFC leaves a choice, and what this module does:

* Tree sizes and leaf indices are ``uint64`` in the RFC; anything outside
  ``0 .. 2**64 - 1`` (and any ``bool``) is rejected.
* A tree size is *not* authenticated by a proof: an inclusion proof (or the
  second size of a consistency proof) can also pass for another size whose tree
  has the same shape along the path, e.g. leaf 0 in trees of 3 and 4 leaves.  A
  verifier must take each size and its root from the same signed tree head,
  never a size from the party that supplied the proof.
* ``PROOF(m, D[n])`` is defined for ``0 < m < n`` only.  For ``m == n`` the
  proof is empty (``SUBPROOF(n, D[n], true)``) and the two roots must be equal.
  For ``m == 0`` the proof is empty as well: every tree extends the empty one.
  :func:`verify_consistency` then accepts only an empty proof *and* a first root
  equal to :data:`EMPTY_ROOT` (``MTH({})``), so a caller cannot get ``True`` for
  a bogus size-0 root.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Final, TypedDict

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Frontier",
    "FrontierJSON",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

MAX_TREE_SIZE: Final = 2**64 - 1
"""Largest tree size (and leaf index bound) accepted: the RFC's ``uint64``."""

EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()
"""``MTH({})``: the root of the tree with no leaves, SHA-256 of the empty string."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
_HEX_DIGITS: Final = frozenset("0123456789abcdef")
# A valid proof for a tree of at most 2**64 - 1 leaves has at most 65 hashes; the
# RFC algorithms reject longer ones by themselves.  This bound only stops a
# verifier from inspecting a gigantic list before saying no.
_MAX_PROOF_LEN: Final = 128

_sha256 = hashlib.sha256


# --------------------------------------------------------------------------- hashing


def leaf_hash(entry: bytes) -> bytes:
    """Return the leaf hash of one ledger entry: ``SHA-256(0x00 || entry)``."""
    return _sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node: ``SHA-256(0x01 || left || right)``.

    The arguments are hashed as given; callers pass 32-byte hashes.
    """
    return _sha256(_NODE_PREFIX + left + right).digest()


def _mth(level: list[bytes]) -> bytes:
    """Merkle Tree Hash of a list of leaf hashes already checked by the caller.

    The RFC splits ``n`` leaves into the largest power of two ``k < n`` and the
    rest.  Pairing neighbours level by level, and carrying an unpaired last node
    up unchanged, builds exactly that tree: every power-of-two aligned block is
    a perfect subtree, and the ragged right edge is hashed last.  This is about
    ``n`` SHA-256 calls with no recursion.  ``level`` is not modified.
    """
    if not level:
        return EMPTY_ROOT
    sha = _sha256
    prefix = _NODE_PREFIX
    while len(level) > 1:
        paired = [
            sha(prefix + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


def _leaf_list(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Copy ``leaf_hashes`` into a list, raising ValueError unless all are 32-byte hashes."""
    leaves = list(leaf_hashes)
    if not all(type(h) is bytes and len(h) == HASH_SIZE for h in leaves):
        raise ValueError(f"every leaf hash must be {HASH_SIZE} bytes")
    return leaves


def _split(size: int) -> int:
    """Return the largest power of two strictly smaller than ``size`` (``size >= 2``)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash (RFC 9162, 2.1.1) of a list of leaf hashes.

    Iterative and linear: about one SHA-256 call per leaf.  Returns
    :data:`EMPTY_ROOT` for an empty list.  Raises ValueError if an element is not
    a 32-byte ``bytes`` hash.
    """
    return _mth(_leaf_list(leaf_hashes))


# --------------------------------------------------------------------------- frontier


class FrontierJSON(TypedDict):
    """JSON form of a :class:`Frontier`: its size and its subtree roots, in hex."""

    size: int
    hashes: list[str]


class Frontier:
    """Compact range of a tree built leaf by leaf.

    The state is the list of roots of the perfect subtrees along the right edge
    of the tree, largest (leftmost) first: one per set bit of :attr:`size`.
    Appending a leaf merges equal-sized subtrees like a binary counter carries,
    so :meth:`append` costs one SHA-256 call amortised and :meth:`root` costs at
    most ``log2(size)`` calls.  Neither needs the earlier leaves.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        """Create the frontier of the empty tree."""
        self._size = 0
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Roots of the right-edge perfect subtrees, leftmost (largest) first."""
        return tuple(self._stack)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf, given by its leaf hash (32 bytes).

        Raises ValueError if ``leaf_hash`` is not a 32-byte ``bytes`` value or the
        tree already holds :data:`MAX_TREE_SIZE` leaves.
        """
        if not _is_hash(leaf_hash):
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        if self._size >= MAX_TREE_SIZE:
            raise ValueError("the tree is full")
        stack = self._stack
        carry = leaf_hash
        size = self._size
        while size & 1:
            carry = _sha256(_NODE_PREFIX + stack.pop() + carry).digest()
            size >>= 1
        stack.append(carry)
        self._size += 1

    def root(self) -> bytes:
        """Return the Merkle Tree Hash of the leaves appended so far.

        :data:`EMPTY_ROOT` when nothing has been appended.
        """
        if not self._stack:
            return EMPTY_ROOT
        subtrees = reversed(self._stack)
        root = next(subtrees)
        for left in subtrees:
            root = _sha256(_NODE_PREFIX + left + root).digest()
        return root

    def copy(self) -> Frontier:
        """An independent frontier with the same state (appending to it leaves this one)."""
        twin = Frontier()
        twin._size = self._size
        twin._stack = list(self._stack)
        return twin

    def to_json(self) -> FrontierJSON:
        """Return a JSON-ready dict: ``{"size": n, "hashes": [lowercase hex, ...]}``."""
        return {"size": self._size, "hashes": [h.hex() for h in self._stack]}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Frontier:
        """Rebuild a frontier from the output of :meth:`to_json`.

        The input must be a mapping with exactly the keys ``size`` (an int in
        ``0 .. MAX_TREE_SIZE``) and ``hashes`` (a list of exactly
        ``popcount(size)`` strings, each 64 lowercase hex digits).  Anything else
        raises ValueError.
        """
        raw: object = data
        if not isinstance(raw, Mapping):
            raise ValueError("frontier JSON must be an object")
        if set(raw) != {"size", "hashes"}:
            raise ValueError("frontier JSON must have exactly the keys 'size' and 'hashes'")
        size = raw["size"]
        hashes = raw["hashes"]
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_TREE_SIZE:
            raise ValueError(f"frontier size must be an integer in 0..{MAX_TREE_SIZE}")
        if not isinstance(hashes, list):
            raise ValueError("frontier hashes must be a list")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a frontier of size {size} has {size.bit_count()} hashes, not {len(hashes)}"
            )
        stack: list[bytes] = []
        for item in hashes:
            if (
                not isinstance(item, str)
                or len(item) != 2 * HASH_SIZE
                or not _HEX_DIGITS.issuperset(item)
            ):
                raise ValueError(f"frontier hashes must be {2 * HASH_SIZE} lowercase hex digits")
            stack.append(bytes.fromhex(item))
        frontier = cls()
        frontier._size = size
        frontier._stack = stack
        return frontier

    def __eq__(self, other: object) -> bool:
        """Frontiers are equal when they have the same size and subtree roots."""
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._stack == other._stack

    def __repr__(self) -> str:
        """Show the size and the current root."""
        return f"Frontier(size={self._size}, root={self.root().hex()})"


# --------------------------------------------------------------------------- proofs


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the audit path of leaf ``index`` in the tree of ``leaf_hashes`` (RFC 9162, 2.1.3.1).

    The path is ``PATH(index, D[n])``: sibling subtree roots from the leaf up to
    the root.  The sibling subtrees are disjoint, so the work is at most one
    SHA-256 call per leaf and no recursion is involved.  Raises ValueError if
    ``index`` is not in ``0 .. n-1`` or a leaf hash is not 32 bytes.
    """
    leaves = _leaf_list(leaf_hashes)
    if not _is_size(index) or index >= len(leaves):
        raise ValueError(f"leaf index {index!r} is not in a tree of {len(leaves)} leaves")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(_mth(leaves[mid:hi]))
            hi = mid
        else:
            path.append(_mth(leaves[lo:mid]))
            lo = mid
    path.reverse()
    return path


def consistency_proof(first_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return ``PROOF(first_size, D[n])`` for the tree of ``leaf_hashes`` (RFC 9162, 2.1.4.1).

    The proof shows that the tree of the first ``first_size`` leaves is a prefix
    of the tree of all ``n`` leaves.  It is empty when ``first_size`` is ``0`` or
    ``n``.  Linear work, no recursion.  Raises ValueError if ``first_size`` is not
    in ``0 .. n`` or a leaf hash is not 32 bytes.
    """
    leaves = _leaf_list(leaf_hashes)
    if not _is_size(first_size) or first_size > len(leaves):
        raise ValueError(f"first size {first_size!r} is not in 0..{len(leaves)}")
    if first_size == 0:
        return []
    # SUBPROOF(m, D[lo:hi], whole) unrolled: each step keeps one side and records
    # the root of the other; the records are emitted innermost first.
    proof: list[bytes] = []
    m = first_size
    lo, hi = 0, len(leaves)
    whole = True  # b in the RFC: D[lo:hi] still starts at the first leaf of the tree
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_mth(leaves[lo + k : hi]))
            hi = lo + k
        else:
            proof.append(_mth(leaves[lo : lo + k]))
            lo += k
            m -= k
            whole = False
    if not whole:
        proof.append(_mth(leaves[lo:hi]))
    proof.reverse()
    return proof


# --------------------------------------------------------------------------- verifiers


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TREE_SIZE


def _proof_list(proof: object) -> list[bytes] | None:
    """Return ``proof`` as a list of 32-byte hashes, or None if it is not one."""
    if not isinstance(proof, Sequence) or isinstance(proof, str | bytes | bytearray | memoryview):
        return None
    if len(proof) > _MAX_PROOF_LEN:
        return None
    items = list(proof)
    if not all(_is_hash(item) for item in items):
        return None
    return items


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` leaves with ``root``.

    This is the algorithm of RFC 9162, section 2.1.3.2, verbatim.  It returns
    False, never raises, on any malformed input.  ``tree_size`` and ``root``
    must come from the same trusted (signed) tree head: the proof alone does not
    pin the size.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_size(index) and _is_size(tree_size)):
        return False
    path = _proof_list(proof)
    if path is None:
        return False
    # 1. leaf_index >= tree_size fails.
    if index >= tree_size:
        return False
    # 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
    fn, sn = index, tree_size - 1
    r = leaf_hash
    # 4. For each p in the inclusion path:
    for p in path:
        # a. Running out of tree fails.
        if sn == 0:
            return False
        # b. Right child (or last node of its level): p is the left sibling.
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            # ii. Skip the levels where this node had no sibling.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        # c.
        fn >>= 1
        sn >>= 1
    # 5. The path must reach the root exactly, and hash to it.
    return sn == 0 and _same(r, root)


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """Check that tree (``first_size``, ``first_root``) is a prefix of (``second_size``, ...).

    For ``0 < first_size < second_size`` this is the algorithm of RFC 9162,
    section 2.1.4.2, verbatim.  The other cases, which the RFC leaves out:

    * ``first_size == 0``: True only for an empty proof and ``first_root ==
      EMPTY_ROOT`` (and ``second_root == EMPTY_ROOT`` too if ``second_size == 0``);
    * ``first_size == second_size``: True only for an empty proof and equal roots;
    * ``first_size > second_size``: False.

    Returns False, never raises, on any malformed input.
    """
    if not (
        _is_size(first_size)
        and _is_size(second_size)
        and _is_hash(first_root)
        and _is_hash(second_root)
    ):
        return False
    path = _proof_list(proof)
    if path is None or first_size > second_size:
        return False
    if first_size == 0:
        return (
            not path
            and _same(first_root, EMPTY_ROOT)
            and (second_size != 0 or _same(second_root, EMPTY_ROOT))
        )
    if first_size == second_size:
        return not path and _same(first_root, second_root)
    # 1. An empty path fails.
    if not path:
        return False
    # 2. If first is an exact power of 2, prepend first_hash.
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first_size - 1, second_size - 1
    # 4. Climb out of the subtrees where the first tree's last leaf is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of the path.
    fr = sr = path[0]
    # 6. For each subsequent value c:
    for c in path[1:]:
        # a. Running out of tree fails.
        if sn == 0:
            return False
        # b. c is a left sibling: it belongs to both trees.
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            # iii. Skip the levels where this node had no sibling.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        # Otherwise c is a right sibling, only in the second tree.
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        # c.
        fn >>= 1
        sn >>= 1
    # 7. Both roots must match and the path must reach the second root exactly.
    return sn == 0 and _same(fr, first_root) and _same(sr, second_root)
