"""Synthetic control sequences: exact k-let shuffles, Markov sampling, block bootstrap.

All three treat residues as opaque symbols, so they work for DNA, RNA and protein alike, and
take a seed (or a ``random.Random``) so the same inputs give the same controls.
"""

from __future__ import annotations

import random
from itertools import pairwise

from genomeflow.errors import ConfigError

Seed = int | str | random.Random


def as_rng(seed: Seed) -> random.Random:
    """Return ``seed`` if it is a generator already, else a generator seeded with it."""
    return seed if isinstance(seed, random.Random) else random.Random(seed)


def _sample_length(source_length: int, length: int | None) -> int:
    """The residues to sample: ``length``, or as many as the source when None."""
    if length is None:
        return source_length
    if length < 0:
        raise ConfigError(f"sample length must be 0 or more, got {length}")
    return length


def kmer_shuffle(sequence: str, k: int, seed: Seed) -> str:
    """Shuffle a sequence while keeping the count of every k-mer exactly (a k-let shuffle).

    The sequence is an Eulerian path through the multigraph whose vertices are its (k-1)-mers and
    whose edges are its k-mers; every other Eulerian path from the same first to the same last
    vertex spells a sequence with the same k-mer counts. A path is drawn uniformly: a random
    arborescence of "last exit" edges towards the final vertex (Wilson's loop-erased random
    walk), then a random order of each vertex's other exits (Altschul & Erikson 1985 for k=2;
    Kandel et al. 1996 and Jiang et al. 2008, uShuffle, for any k). Time and memory O(n).

    Args:
        sequence: the residues; case is significant (``a`` and ``A`` are different symbols).
        k: the k-mer size to preserve (1 = plain permutation of the residues).
        seed: seed or generator.

    Returns:
        The shuffled sequence; the sequence itself when it has ``k`` residues or fewer, which
        admit no other arrangement with the same k-mers.
    """
    if k < 1:
        raise ConfigError(f"k-let size k must be at least 1, got {k}")
    rng = as_rng(seed)
    n = len(sequence)
    if n <= k:
        return sequence
    if k == 1:
        residues = list(sequence)
        rng.shuffle(residues)
        return "".join(residues)
    m = k - 1
    ids: dict[str, int] = {}
    path = [ids.setdefault(sequence[i : i + m], len(ids)) for i in range(n - m + 1)]
    exits: list[list[int]] = [[] for _ in ids]
    for here, there in pairwise(path):
        exits[here].append(there)
    last_residue = [kmer[-1] for kmer in ids]
    first, final = path[0], path[-1]

    # Wilson's algorithm: a uniform arborescence of last exits pointing towards `final`.
    in_tree = [False] * len(ids)
    in_tree[final] = True
    last_exit = [-1] * len(ids)
    for vertex in range(len(ids)):
        here = vertex
        while not in_tree[here]:
            last_exit[here] = rng.randrange(len(exits[here]))
            here = exits[here][last_exit[here]]
        here = vertex
        while not in_tree[here]:
            in_tree[here] = True
            here = exits[here][last_exit[here]]

    for vertex, out in enumerate(exits):
        last = out.pop(last_exit[vertex]) if vertex != final else None
        rng.shuffle(out)
        if last is not None:
            out.append(last)

    used = [0] * len(ids)
    spelled = [sequence[:m]]
    here = first
    for _ in range(n - m):
        there = exits[here][used[here]]
        used[here] += 1
        spelled.append(last_residue[there])
        here = there
    return "".join(spelled)


def markov_sample(sequence: str, order: int, seed: Seed, length: int | None = None) -> str:
    """Sample a sequence from an order-``order`` Markov chain fitted to ``sequence``.

    The chain is fitted on the sequence read as a circle, so every context has a successor and
    sampling never dead-ends; the first ``order`` residues are a context drawn from the
    sequence. Order 0 samples residues independently from the composition.

    Args:
        sequence: the residues to fit (at least ``order + 1``).
        order: the context length m (the chain keeps (m+1)-mer frequencies in expectation).
        seed: seed or generator.
        length: residues to sample; defaults to ``len(sequence)``.
    """
    if order < 0:
        raise ConfigError(f"Markov order must be 0 or more, got {order}")
    n = len(sequence)
    length = _sample_length(n, length)
    if n <= order:
        raise ConfigError(
            f"a sequence of {n} residues is too short for a Markov chain of order {order}: "
            f"it needs at least {order + 1}; lower the order"
        )
    rng = as_rng(seed)
    circular = sequence + sequence[:order]
    followers: dict[str, list[str]] = {}
    for i in range(n):
        followers.setdefault(circular[i : i + order], []).append(circular[i + order])
    start = rng.randrange(n)
    sampled = list(circular[start : start + order])
    while len(sampled) < length:
        context = "".join(sampled[len(sampled) - order :]) if order else ""
        sampled.append(rng.choice(followers[context]))
    return "".join(sampled[:length])


def block_bootstrap(sequence: str, block: int, seed: Seed, length: int | None = None) -> str:
    """Resample a sequence as a concatenation of randomly placed blocks (circular block bootstrap).

    Blocks of ``block`` residues start at uniformly drawn positions of the sequence read as a
    circle, so local structure up to the block size is kept and every position is equally
    likely to be drawn.

    Args:
        sequence: the residues to resample (not empty).
        block: residues per block.
        seed: seed or generator.
        length: residues in the result; defaults to ``len(sequence)``.
    """
    if block < 1:
        raise ConfigError(f"bootstrap block size must be at least 1, got {block}")
    n = len(sequence)
    length = _sample_length(n, length)
    if n == 0:
        raise ConfigError("cannot bootstrap an empty sequence")
    rng = as_rng(seed)
    repeats = -(-block // n) + 1  # enough copies that any block read from any start fits
    circle = sequence * repeats
    pieces = []
    total = 0
    while total < length:
        start = rng.randrange(n)
        pieces.append(circle[start : start + block])
        total += block
    return "".join(pieces)[:length]
