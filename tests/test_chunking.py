import pytest
from hypothesis import given
from hypothesis import strategies as st

from genomeflow.errors import ConfigError
from genomeflow.sequence.chunking import chunk_sequence, chunk_spans


def test_non_overlapping_with_short_tail_kept():
    assert chunk_spans(10, 4) == [(0, 4), (4, 8), (8, 10)]


def test_short_tail_moves_the_last_window_back():
    assert chunk_spans(10, 4, min_length=3) == [(0, 4), (4, 8), (6, 10)]


def test_overlapping_windows():
    assert chunk_spans(10, 4, stride=2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert chunk_spans(11, 4, stride=2) == [(0, 4), (2, 6), (4, 8), (6, 10), (8, 11)]


def test_short_sequences():
    assert chunk_spans(3, 10) == [(0, 3)]
    assert chunk_spans(3, 10, min_length=5) == []
    assert chunk_spans(0, 10) == []


@pytest.mark.parametrize(
    ("size", "stride", "min_length", "message"),
    [(0, None, 1, "size"), (4, 5, 1, "skip residues"), (4, 0, 1, "stride"), (4, 2, 5, "minimum")],
)
def test_bad_settings(size, stride, min_length, message):
    with pytest.raises(ConfigError, match=message):
        chunk_spans(10, size, stride, min_length)


def test_chunks_carry_their_source():
    chunks = chunk_sequence("chr1", "ACGTACGTAC", 4, stride=3)
    assert [c.id for c in chunks] == ["chr1:1-4", "chr1:4-7", "chr1:7-10"]
    assert {c.group for c in chunks} == {"chr1"}
    assert [c.sequence for c in chunks] == ["ACGT", "TACG", "GTAC"]


@given(
    length=st.integers(0, 500),
    size=st.integers(1, 60),
    data=st.data(),
)
def test_chunks_cover_the_sequence(length, size, data):
    stride = data.draw(st.integers(1, size))
    min_length = data.draw(st.integers(1, size))
    spans = chunk_spans(length, size, stride, min_length)
    if length < min_length:
        assert spans == []
        return
    covered = set()
    for start, end in spans:
        assert 0 <= start < end <= length
        assert end - start <= size
        assert end - start >= min(min_length, length)
        covered.update(range(start, end))
    assert covered == set(range(length))
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)
