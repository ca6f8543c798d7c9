"""The training corpus of a tokeniser: records cut into segments, sampled to a residue budget.

One record is never one training sentence: a chromosome-sized sentence makes the Unigram
trainer run out of stack and memory (measured with HF tokenizers 0.23.3 on 2 cores: a single
5 Mbp record overflowed the stack at ~7.5 GiB; cut into 1 kbp records it took 0.5 GiB).
Records are cut into ``segment_length`` pieces and, when the corpus exceeds ``sample_bp``, a
seeded reservoir sample of segments is kept, so training time and memory are bounded whatever
the genome size.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tqdm import tqdm

from genomeflow.io.sequences import SequenceRecord


@dataclass(frozen=True)
class Corpus:
    """Segments to train on, and what they were drawn from."""

    segments: list[str]
    records: int  # records read
    residues: int  # residues read
    segments_seen: int  # segments the records were cut into, before sampling

    @property
    def sampled_residues(self) -> int:
        return sum(map(len, self.segments))


def cut(sequence: str, segment_length: int, at_spaces: bool = False) -> Iterator[str]:
    """``sequence`` in consecutive pieces of ``segment_length`` residues (the last shorter);
    ``at_spaces`` (text): each piece ends at the last space within the length, so words stay
    whole unless one is longer than a piece."""
    start = 0
    while start < len(sequence):
        end = start + segment_length
        if at_spaces and end < len(sequence):
            space = sequence.rfind(" ", start + 1, end + 1)
            end = space if space > start else end
        yield sequence[start:end]
        start = end


def build_corpus(
    records: Iterable[SequenceRecord],
    segment_length: int,
    sample_bp: int,
    seed: int,
    uppercase: bool,
    at_spaces: bool = False,
) -> Corpus:
    """Cut records into segments and keep a seeded uniform sample of about ``sample_bp`` residues.

    Segments are kept whole until the budget is reached; from then on a reservoir of that many
    segments is a uniform sample of all segments seen.

    Args:
        records: validated records (streamed; only the sample is kept).
        segment_length: residues per training segment; the last segment of a record is shorter.
        sample_bp: residue budget of the sample; 0 keeps every segment.
        seed: seed of the reservoir sample (Algorithm R).
        uppercase: fold residues to upper case first.
        at_spaces: cut at spaces (a text corpus: see :func:`cut`).
    """
    rng = random.Random(seed)
    kept: list[str] = []
    kept_residues = seen = records_read = residues = 0
    capacity = 0  # set when the budget is first reached; then Algorithm R keeps that many
    with tqdm(desc="reading corpus", unit="bp", unit_scale=True, disable=None) as progress:
        for record in records:
            sequence = record.sequence.upper() if uppercase else record.sequence
            records_read += 1
            residues += len(sequence)
            for segment in cut(sequence, segment_length, at_spaces):
                seen += 1
                if not capacity:
                    fits = not sample_bp or kept_residues + len(segment) <= sample_bp
                    if fits or not kept:
                        kept.append(segment)
                        kept_residues += len(segment)
                        continue
                    capacity = len(kept)
                slot = rng.randrange(seen)
                if slot < capacity:
                    kept[slot] = segment
            progress.update(len(sequence))
    return Corpus(kept, records_read, residues, seen)
