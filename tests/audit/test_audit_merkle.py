"""broker.audit.merkle against the RFC 6962 reference vectors of transparency-dev/merkle."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from broker.audit import merkle
from broker.errors import VerificationError
from tests.audit.audit_helpers import load_vector

V = load_vector("rfc6962_merkle.json")
LEAVES = [merkle.leaf_hash(bytes.fromhex(data)) for data in V["leaves"]]
ROOTS = [bytes.fromhex(h) for h in V["roots_by_size"]]
NODES = [[bytes.fromhex(h) for h in level] for level in V["node_hashes"]]


def _hashes(hexes: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hexes]


def test_leaf_and_node_hashes_use_the_domain_prefixes() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert NODES[0] == LEAVES


@pytest.mark.parametrize("size", range(9))
def test_root_of_every_prefix(size: int) -> None:
    assert merkle.root(LEAVES[:size]) == ROOTS[size]


def test_interior_nodes_match_the_vectors() -> None:
    for level in range(1, len(NODES)):
        width = 1 << level
        for index, expected in enumerate(NODES[level]):
            assert merkle.root(LEAVES[index * width : (index + 1) * width]) == expected


def test_accumulator_roots_and_compact_ranges() -> None:
    accumulator = merkle.MerkleAccumulator()
    assert accumulator.root() == ROOTS[0] == merkle.EMPTY_ROOT
    for size in range(1, 9):
        accumulator.append(LEAVES[size - 1])
        assert accumulator.size == size
        assert accumulator.root() == ROOTS[size]
        expected = tuple(NODES[level][index] for level, index in V["compact_trees"][size])
        assert accumulator.frontier == expected


def test_accumulator_agrees_with_the_recursive_definition_beyond_the_vectors() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(70)]
    accumulator = merkle.MerkleAccumulator()
    for size, leaf in enumerate(leaves, start=1):
        accumulator.append(leaf)
        assert accumulator.root() == merkle.root(leaves[:size])
    copy = accumulator.copy()
    copy.append(leaves[0])
    assert accumulator.size == 70
    assert copy.size == 71


def test_accumulator_refuses_a_raw_leaf() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        merkle.MerkleAccumulator().append(b"not hashed")


@pytest.mark.parametrize(
    "case", V["inclusion_proofs"], ids=lambda c: f"leaf{c['leaf']}-of-{c['size']}"
)
def test_inclusion_proof_vectors(case: dict[str, Any]) -> None:
    index, size, proof = case["leaf"] - 1, case["size"], _hashes(case["proof"])
    assert merkle.inclusion_proof(LEAVES[:size], index) == proof
    merkle.verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


def _inclusion_probes(index: int, size: int, proof: list[bytes]) -> list[tuple[Any, ...]]:
    """Corruptions in the spirit of transparency-dev/merkle's corruptInclusionProof."""
    leaf, root = LEAVES[index], ROOTS[size]
    probes = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (merkle.leaf_hash(b"WrongLeaf"), index, size, proof, root),
        (leaf, index, size, proof, merkle.EMPTY_ROOT),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [root, *proof], root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        probes.append((leaf, index, size, flipped, root))
    if proof:
        probes.append((leaf, index, size, proof[:-1], root))
    return probes


@pytest.mark.parametrize(
    "case", V["inclusion_proofs"], ids=lambda c: f"leaf{c['leaf']}-of-{c['size']}"
)
def test_corrupted_inclusion_proofs_fail(case: dict[str, Any]) -> None:
    for probe in _inclusion_probes(case["leaf"] - 1, case["size"], _hashes(case["proof"])):
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(*probe)


@pytest.mark.parametrize(
    "case", V["consistency_proofs"], ids=lambda c: f"{c['size1']}-to-{c['size2']}"
)
def test_consistency_proof_vectors(case: dict[str, Any]) -> None:
    m, n, proof = case["size1"], case["size2"], _hashes(case["proof"])
    assert merkle.consistency_proof(LEAVES[:n], m) == proof
    merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


@pytest.mark.parametrize(
    "case",
    [c for c in V["consistency_proofs"] if c["proof"]],
    ids=lambda c: f"{c['size1']}-to-{c['size2']}",
)
def test_corrupted_consistency_proofs_fail(case: dict[str, Any]) -> None:
    m, n, proof = case["size1"], case["size2"], _hashes(case["proof"])
    r1, r2 = ROOTS[m], ROOTS[n]
    probes = [
        (m - 1, n, r1, r2, proof),
        (m + 1, n, r1, r2, proof),
        (m ^ 2, n, r1, r2, proof),
        (m, n * 2, r1, r2, proof),
        (m, n // 2, r1, r2, proof),
        (m, n, merkle.EMPTY_ROOT, r2, proof),
        (m, n, r1, merkle.EMPTY_ROOT, proof),
        (m, n, r2, r1, proof),
        (m, n, r1, r2, []),
        (m, n, r1, r2, [*proof, r1]),
        (m, n, r1, r2, [r2, *proof]),
        (m, n, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        probes.append((m, n, r1, r2, flipped))
    for probe in probes:
        if probe[0] == probe[1] and probe[2] == probe[3] and not probe[4]:
            continue  # (m, m) with equal roots and no proof is genuinely consistent
        with pytest.raises(VerificationError):
            merkle.verify_consistency(*probe)


def test_every_proof_of_small_trees_verifies() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(33)]
    roots = [merkle.root(leaves[:n]) for n in range(34)]
    for n in range(1, 34):
        for index in range(n):
            proof = merkle.inclusion_proof(leaves[:n], index)
            merkle.verify_inclusion(leaves[index], index, n, proof, roots[n])
        for m in range(n + 1):
            proof = merkle.consistency_proof(leaves[:n], m)
            merkle.verify_consistency(m, n, roots[m], roots[n], proof)


def test_trivial_and_invalid_arguments() -> None:
    merkle.verify_consistency(0, 5, ROOTS[0], ROOTS[5], [])
    with pytest.raises(VerificationError):
        merkle.verify_consistency(0, 5, ROOTS[0], ROOTS[5], [ROOTS[1]])
    with pytest.raises(VerificationError, match="cannot precede"):
        merkle.verify_consistency(5, 4, ROOTS[5], ROOTS[4], [])
    with pytest.raises(VerificationError, match="32 bytes"):
        merkle.verify_inclusion(b"short", 0, 1, [], ROOTS[1])
    with pytest.raises(VerificationError, match="outside"):
        merkle.verify_inclusion(LEAVES[0], 0, 0, [], ROOTS[0])
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_proof(LEAVES[:3], 3)
    with pytest.raises(ValueError, match="outside"):
        merkle.consistency_proof(LEAVES[:3], 4)


def _tree(leaves: list[bytes]) -> merkle.MerkleTree:
    tree = merkle.MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    return tree


def test_stored_tree_roots_match_the_vectors_at_every_size() -> None:
    tree = _tree(LEAVES)
    assert tree.size == 8
    for size in range(9):
        assert tree.root(size) == ROOTS[size]
    assert [tree.leaf(i) for i in range(8)] == LEAVES


@pytest.mark.parametrize(
    "case", V["inclusion_proofs"], ids=lambda c: f"leaf{c['leaf']}-of-{c['size']}"
)
def test_stored_tree_inclusion_proof_vectors(case: dict[str, Any]) -> None:
    tree = _tree(LEAVES)  # the full tree: proofs at an older size come from the same nodes
    assert tree.inclusion_proof(case["leaf"] - 1, case["size"]) == _hashes(case["proof"])


@pytest.mark.parametrize(
    "case", V["consistency_proofs"], ids=lambda c: f"{c['size1']}-to-{c['size2']}"
)
def test_stored_tree_consistency_proof_vectors(case: dict[str, Any]) -> None:
    tree = _tree(LEAVES)
    assert tree.consistency_proof(case["size1"], case["size2"]) == _hashes(case["proof"])


def test_stored_tree_agrees_with_the_recursive_definition_beyond_the_vectors() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(70)]
    tree = _tree(leaves)
    for n in range(71):
        assert tree.root(n) == merkle.root(leaves[:n])
        for index in range(n):
            assert tree.inclusion_proof(index, n) == merkle.inclusion_proof(leaves[:n], index)
        for m in range(n + 1):
            assert tree.consistency_proof(m, n) == merkle.consistency_proof(leaves[:n], m)


def test_stored_tree_refuses_sizes_it_does_not_hold() -> None:
    tree = _tree(LEAVES[:5])
    with pytest.raises(ValueError, match="outside a tree of 5"):
        tree.root(6)
    with pytest.raises(ValueError, match="outside a tree of size 3"):
        tree.inclusion_proof(3, 3)
    with pytest.raises(ValueError, match="outside a tree of 5"):
        tree.consistency_proof(2, 6)
    with pytest.raises(ValueError, match="outside a tree of size 3"):
        tree.consistency_proof(4, 3)
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append(b"raw")
    with pytest.raises(ValueError, match="outside"):
        tree.leaf(5)


def test_consistency_from_the_empty_tree_needs_the_empty_root() -> None:
    merkle.verify_consistency(0, 3, merkle.EMPTY_ROOT, ROOTS[3], [])
    with pytest.raises(VerificationError, match="empty root"):
        merkle.verify_consistency(0, 3, ROOTS[1], ROOTS[3], [])
