"""The RFC 6962 / RFC 9162 Merkle tree over audit entries: hashes, roots, proofs.

Pure functions on 32-byte SHA-256 values; no I/O. The 0x00/0x01 prefixes separate leaves
from interior nodes, so no leaf can be passed off as a subtree (second-preimage defence).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from broker.errors import VerificationError

__all__ = [
    "EMPTY_ROOT",
    "MerkleAccumulator",
    "MerkleTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256() (RFC 6962 section 2.1)


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (RFC 6962 section 2.1)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


class MerkleAccumulator:
    """Appends leaf hashes in O(log n) and yields the root at any size (a compact range).

    It keeps one hash per perfect subtree of the current tree, left to right: exactly the
    subtrees named by the set bits of the size.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        self._frontier: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        """The perfect-subtree hashes, largest (leftmost) first."""
        return tuple(self._frontier)

    def append(self, leaf: bytes) -> None:
        """Adds a leaf hash (already `leaf_hash`ed)."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        node = leaf
        size = self._size
        while size & 1:
            node = node_hash(self._frontier.pop(), node)
            size >>= 1
        self._frontier.append(node)
        self._size += 1

    def root(self) -> bytes:
        if not self._frontier:
            return EMPTY_ROOT
        node = self._frontier[-1]
        for left in reversed(self._frontier[:-1]):
            node = node_hash(left, node)
        return node

    def copy(self) -> MerkleAccumulator:
        other = MerkleAccumulator()
        other._frontier = list(self._frontier)
        other._size = self._size
        return other


class MerkleTree:
    """Every node of an append-only tree, so a root or proof at any size costs O(log² n)
    hashes instead of rehashing all n leaves (the functions below are the O(n) reference).

    Level h holds the hashes of the complete subtrees of 2^h leaves, 32 bytes each in one
    bytearray: about 64 bytes per leaf in all. Not thread-safe; its owner locks.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        """Adds a leaf hash (already `leaf_hash`ed) and every subtree it completes."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        self._levels[0] += leaf
        node, index, level = leaf, self._size, 0
        while index & 1:
            node = node_hash(self._node(level, index - 1), node)
            level += 1
            index >>= 1
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += node
        self._size += 1

    def leaf(self, index: int) -> bytes:
        self._check_size(index + 1)
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (default: all)."""
        size = self._size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._range(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 6962 section 2.1.1, leaf's sibling first."""
        size = self._size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} outside a tree of size {size}")
        path = []
        start, end = 0, size
        while end - start > 1:  # descend from the root; the recursion's last element first
            k = _split(end - start)
            if index < start + k:
                path.append(self._range(start + k, end))
                end = start + k
            else:
                path.append(self._range(start, start + k))
                start += k
        return path[::-1]

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:size]) of RFC 6962 section 2.1.2."""
        size = self._size if size is None else size
        self._check_size(size)
        if not 0 <= old_size <= size:
            raise ValueError(f"old size {old_size} outside a tree of size {size}")
        if old_size in (0, size):
            return []
        path = []
        start, end, m, complete = 0, size, old_size, True
        while end - start != m:  # SUBPROOF(m, D[start:end], complete), top level first
            k = _split(end - start)
            if m <= k:
                path.append(self._range(start + k, end))
                end = start + k
            else:
                path.append(self._range(start, start + k))
                start += k
                m -= k
                complete = False
        if not complete:
            path.append(self._range(start, end))
        return path[::-1]

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} outside a tree of {self._size} leaves")

    def _node(self, level: int, index: int) -> bytes:
        start = index * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def _range(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the ranges RFC 6962's recursion visits: a complete subtree
        is stored (those ranges are always aligned to their size), the rest is split."""
        n = end - start
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            return self._node(level, start >> level)
        k = _split(n)
        return node_hash(self._range(start, start + k), self._range(start + k, end))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1: the audit path of leaf `index`."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(leaf_hashes[:k], index), root(leaf_hashes[k:])]
    return [*inclusion_proof(leaf_hashes[k:], index - k), root(leaf_hashes[:k])]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 section 2.1.2, from size `old_size` to len(leaf_hashes)."""
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} outside a tree of size {n}")
    if old_size in (0, n):
        return []
    return _subproof(old_size, leaf_hashes, complete=True)


def _subproof(m: int, leaves: Sequence[bytes], *, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete=complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], complete=False), root(leaves[:k])]


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{name}: a hash is 32 bytes, not {len(value)}")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """RFC 9162 section 2.1.3.2; returns only if `leaf` is at `index` in the tree `root`."""
    _check_hash("leaf", leaf)
    _check_hash("root", expected_root)
    for position, node in enumerate(proof):
        _check_hash(f"proof[{position}]", node)
    if not 0 <= index < size:
        raise VerificationError(f"inclusion: index {index} outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for node in proof:
        if sn == 0:
            raise VerificationError("inclusion: proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(node, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion: proof is too short")
    if r != expected_root:
        raise VerificationError("inclusion: proof does not lead to the root")


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """RFC 9162 section 2.1.4.2; returns only if tree `old_root` is a prefix of `new_root`."""
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    for position, node in enumerate(proof):
        _check_hash(f"proof[{position}]", node)
    if not 0 <= old_size <= new_size:
        raise VerificationError(f"consistency: size {old_size} cannot precede {new_size}")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise VerificationError("consistency: equal sizes need equal roots and no proof")
        return
    if old_size == 0:
        if proof or old_root != EMPTY_ROOT:
            raise VerificationError("consistency: the empty tree has the empty root, no proof")
        return
    if not proof:
        raise VerificationError("consistency: proof is empty")
    fr, sr = _consistency_roots(old_size, new_size, old_root, list(proof))
    if fr != old_root or sr != new_root:
        raise VerificationError("consistency: proof does not match the roots")


def _consistency_roots(
    old_size: int, new_size: int, old_root: bytes, path: list[bytes]
) -> tuple[bytes, bytes]:
    """Steps 2-6 of RFC 9162 section 2.1.4.2: the two roots the proof leads to."""
    if old_size & (old_size - 1) == 0:  # old tree is a perfect subtree: its root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            raise VerificationError("consistency: proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency: proof is too short")
    return fr, sr
