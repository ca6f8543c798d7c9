import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genomeflow.errors import ConfigError
from genomeflow.sequence.controls import block_bootstrap, kmer_shuffle, markov_sample


def kmers(sequence: str, k: int) -> Counter:
    return Counter(sequence[i : i + k] for i in range(len(sequence) - k + 1))


@settings(max_examples=200)
@given(
    sequence=st.text(alphabet="ACGT", max_size=200)
    | st.text(alphabet="ACDEFGHIKLMNPQRSTVWY", max_size=120)
    | st.text(alphabet="acgtuN", max_size=120),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**32),
)
def test_shuffle_keeps_kmer_counts_exactly(sequence, k, seed):
    shuffled = kmer_shuffle(sequence, k, seed)
    assert len(shuffled) == len(sequence)
    assert kmers(shuffled, k) == kmers(sequence, k)
    if len(sequence) > k > 1:  # an Euler path keeps its first and last vertex
        assert shuffled[: k - 1] == sequence[: k - 1]
        assert shuffled[-(k - 1) :] == sequence[-(k - 1) :]


def test_shuffle_is_seeded():
    rng = random.Random(0)
    sequence = "".join(rng.choice("ACGT") for _ in range(500))
    assert kmer_shuffle(sequence, 2, 7) == kmer_shuffle(sequence, 2, 7)
    assert kmer_shuffle(sequence, 2, 7) != kmer_shuffle(sequence, 2, 8)
    assert kmer_shuffle(sequence, 3, 7) != sequence


def test_shuffle_reaches_every_arrangement_evenly():
    # "AACGTT"-like sequences with k=2 have few Euler paths; each must come up about equally.
    sequence = "ACAGATAC"
    rng = random.Random(3)
    draws = Counter(kmer_shuffle(sequence, 2, rng) for _ in range(6000))
    expected = {
        s
        for s in draws
        if kmers(s, 2) == kmers(sequence, 2) and s[0] == sequence[0] and s[-1] == sequence[-1]
    }
    assert set(draws) == expected
    assert len(draws) == 6  # the A-hub: orders of the loops C, G, T through A, ending ...AC
    share = [count / 6000 for count in draws.values()]
    assert max(share) - min(share) < 0.04


def test_shuffle_short_and_bad_k():
    assert kmer_shuffle("ACG", 3, 0) == "ACG"
    assert kmer_shuffle("", 2, 0) == ""
    with pytest.raises(ConfigError, match="at least 1"):
        kmer_shuffle("ACGT", 0, 0)


@given(
    sequence=st.text(alphabet="ACGT", min_size=5, max_size=200),
    order=st.integers(0, 4),
    seed=st.integers(0, 1000),
)
def test_markov_sample_uses_only_seen_transitions(sequence, order, seed):
    sampled = markov_sample(sequence, order, seed)
    assert len(sampled) == len(sequence)
    circular = sequence + sequence[:order]
    seen = {circular[i : i + order + 1] for i in range(len(sequence))}
    assert all(sampled[i : i + order + 1] in seen for i in range(len(sampled) - order))


def test_markov_order_zero_keeps_composition_on_average():
    sequence = "A" * 700 + "C" * 100 + "G" * 100 + "T" * 100
    sampled = markov_sample(sequence, 0, 1, length=20000)
    assert abs(sampled.count("A") / 20000 - 0.7) < 0.02


def test_markov_length_seed_and_errors():
    assert len(markov_sample("ACGTTGCA", 2, 0, length=50)) == 50
    assert markov_sample("ACGTTGCAAT", 2, 5) == markov_sample("ACGTTGCAAT", 2, 5)
    with pytest.raises(ConfigError, match="too short for a Markov chain of order 3"):
        markov_sample("ACG", 3, 0)
    with pytest.raises(ConfigError, match="order"):
        markov_sample("ACGT", -1, 0)


@given(
    sequence=st.text(alphabet="ACDEFGHIK", min_size=1, max_size=100),
    block=st.integers(1, 30),
    seed=st.integers(0, 1000),
)
def test_bootstrap_is_made_of_circular_blocks(sequence, block, seed):
    sampled = block_bootstrap(sequence, block, seed, length=3 * len(sequence))
    assert len(sampled) == 3 * len(sequence)
    circle = sequence * (block // len(sequence) + 2)
    for start in range(0, len(sampled), block):
        assert sampled[start : start + block] in circle


def test_bootstrap_seed_and_errors():
    assert block_bootstrap("ACGTACGTTT", 3, 1) == block_bootstrap("ACGTACGTTT", 3, 1)
    with pytest.raises(ConfigError, match="block size"):
        block_bootstrap("ACGT", 0, 0)
    with pytest.raises(ConfigError, match="empty"):
        block_bootstrap("", 2, 0)
