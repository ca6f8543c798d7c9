"""The ``synthetic`` stage: control sequences made from real ones (shuffles, Markov, bootstrap)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from genomeflow.config import SyntheticConfig
from genomeflow.errors import ConfigError, InputError
from genomeflow.io.sequences import SequenceFile, SequenceRecord, read_sequence_files, write_fasta
from genomeflow.sequence.complement import reverse_complement
from genomeflow.sequence.controls import block_bootstrap, kmer_shuffle, markov_sample
from genomeflow.storage import open_text_output


@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`make_controls` wrote."""

    output: str
    inputs: int  # input records
    controls: int  # records written (reverse complements included)
    residues: int  # residues written

    def metrics(self) -> dict[str, float]:
        return {"controls": self.controls, "residues": self.residues}


def control_maker(config: SyntheticConfig) -> tuple[Callable[[str, random.Random], str], str]:
    """Return the function that makes one control from a sequence, and a label of its settings."""
    if config.method == "shuffle":
        return (lambda s, rng: kmer_shuffle(s, config.k, rng)), f"shuffle k={config.k}"
    if config.method == "markov":
        return (lambda s, rng: markov_sample(s, config.order, rng)), f"markov order={config.order}"
    return (lambda s, rng: block_bootstrap(s, config.block, rng)), f"bootstrap block={config.block}"


def make_controls(config: SyntheticConfig) -> SyntheticSummary:
    """Write ``config.per_sequence`` controls of every input record to ``config.output``.

    Each control is seeded by (seed, record id, replicate), so a record's controls do not depend
    on the records around it. Output ids are ``<id>_ctrl<n>`` (``<id>_ctrl<n>_rc`` for reverse
    complements). The output appears only when complete.
    """
    alphabet = SequenceFile(config.inputs[0], config.alphabet).alphabet
    if config.reverse_complement and not alphabet.is_nucleic:
        raise ConfigError(
            f"{config.inputs[0]}: holds protein; --reverse-complement applies to DNA/RNA only"
        )
    make, settings = control_maker(config)
    records = read_sequence_files(config.inputs, config.alphabet, config.allow_duplicate_ids)
    counts = {"inputs": 0, "controls": 0, "residues": 0}

    def controls() -> Iterator[SequenceRecord]:
        with tqdm(desc="controls", unit="bp", unit_scale=True, disable=None) as progress:
            for index, record in records:
                counts["inputs"] += 1
                for replicate in range(1, config.per_sequence + 1):
                    rng = random.Random(f"{config.seed}:{record.id}:{replicate}")
                    try:
                        sequence = make(record.sequence, rng)
                    except ConfigError as error:
                        path = config.inputs[index]
                        raise InputError(f"{path}: record {record.id!r}: {error}") from error
                    name = f"{record.id}_ctrl{replicate}"
                    note = f"control of {record.id}: {settings} seed={config.seed}"
                    yield SequenceRecord(name, sequence, note)
                    if config.reverse_complement:
                        yield SequenceRecord(
                            f"{name}_rc", reverse_complement(sequence, alphabet), f"{note} rc"
                        )
                    counts["residues"] += len(sequence) * (2 if config.reverse_complement else 1)
                progress.update(len(record.sequence))

    with open_text_output(config.output) as handle:
        counts["controls"] = write_fasta(controls(), handle)
    return SyntheticSummary(str(Path(config.output)), **counts)
