"""Residues as ids for the convolutional models: the alphabet's letters, IUPAC codes as
fractional one-hot rows, windows of long sequences and their reverse complements. A CNN on text
reads the tokeniser's token ids instead (:func:`reads_residues`).

Ids: 0 is padding, then the alphabet's letters in its order, then one gap (every gap character
encodes as it). DNA/RNA ids map to fixed one-hot rows (:func:`one_hot_table`); protein ids feed a
learned embedding (genomeflow.models.cnn).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from genomeflow.errors import AlphabetError
from genomeflow.models.transformer import CNN  # torch-free, as this module is
from genomeflow.sequence.alphabet import GAPS, Alphabet, describe_char
from genomeflow.sequence.chunking import chunk_spans
from genomeflow.sequence.complement import reverse_complement

PAD, PAD_ID = "<pad>", 0
GAP = GAPS[0]  # every gap character ("-", ".") encodes as "-"
# Bases each IUPAC nucleotide code stands for, written for DNA (RNA reads U for T).
IUPAC_BASES = {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
               "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}  # fmt: skip


def reads_residues(architecture: str, alphabet: Alphabet | str | None) -> bool:
    """Whether a model reads residue ids (a cnn on DNA, RNA or protein) rather than the
    tokeniser's token windows (every transformer, and a cnn on text: words have no fixed
    letters to number)."""
    return architecture == CNN and not (alphabet and Alphabet.parse(alphabet).is_text)


def residue_vocabulary(alphabet: Alphabet | str) -> tuple[str, ...]:
    """Residue of each id: ``<pad>`` (0), the alphabet's letters in its order, one gap."""
    letters = Alphabet.parse(alphabet).letters
    return (PAD, *(c for c in letters if c not in GAPS), GAP)


def _lookup(alphabet: Alphabet) -> np.ndarray:
    """A 256-entry byte -> id table (both cases; 255 marks a byte outside the alphabet)."""
    table = np.full(256, 255, dtype=np.uint8)
    for index, residue in enumerate(residue_vocabulary(alphabet)[1:], start=1):
        for char in {residue, residue.lower()}:
            table[ord(char)] = index
    for char in GAPS:
        table[ord(char)] = table[ord(GAP)]
    return table


_LOOKUPS = {alphabet: _lookup(alphabet) for alphabet in Alphabet if not alphabet.is_text}


def encode_sequence(sequence: str, alphabet: Alphabet | str) -> np.ndarray:
    """A sequence's residue ids, int32, one per residue (lowercase reads as uppercase); an
    AlphabetError names the first character outside the alphabet."""
    alphabet = Alphabet.parse(alphabet)
    bad = alphabet.first_invalid(sequence)
    if bad is not None:
        raise AlphabetError(
            f"{describe_char(sequence[bad])} at position {bad + 1} is not a valid "
            f"{alphabet.value} character (IUPAC letters {alphabet.letters}, either case)"
        )
    raw = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    return _LOOKUPS[alphabet][raw].astype(np.int32)


def encode(
    sequences: Sequence[str], alphabet: Alphabet | str, max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)``, int32 (sequences, width): each sequence's first
    ``max_length`` residues, padded with id 0 at the end to the longest kept one."""
    rows = [encode_sequence(s, alphabet)[:max_length] for s in sequences]
    width = max((len(r) for r in rows), default=0)
    ids = np.zeros((len(rows), width), dtype=np.int32)
    mask = np.zeros((len(rows), width), dtype=np.int32)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    return ids, mask


def residue_stride(max_length: int, stride: int) -> int:
    """Residues between window starts: ``stride``, or half a window when 0."""
    return min(stride, max_length) if stride else max(1, max_length // 2)


def residue_window_spans(length: int, max_length: int, stride: int) -> list[tuple[int, int]]:
    """``(start, end)`` of a sequence's windows: full windows of ``max_length`` residues, the
    last one ending at the sequence end; one (short) window when the sequence fits."""
    step = residue_stride(max_length, stride)
    return chunk_spans(length, max_length, step, min_length=max_length) or [(0, length)]


def residue_windows(
    sequences: Sequence[str], alphabet: Alphabet | str, max_length: int, stride: int = 0
) -> Any:
    """Sequences as :class:`genomeflow.models.windows.Windows` (no CLS/SEP; see
    :func:`residue_window_spans`), each window an int32 id array."""
    from genomeflow.models.windows import Windows

    windows, owner = [], []
    for index, sequence in enumerate(sequences):
        ids = encode_sequence(sequence, alphabet)
        for begin, end in residue_window_spans(len(ids), max_length, stride):
            windows.append(ids[begin:end])
            owner.append(index)
    return Windows(windows, np.asarray(owner, dtype=np.int64), len(sequences))


def reverse_windows(windows: Any, alphabet: Alphabet | str) -> Any:
    """The reverse complement of every residue window (``complement_ids[w[::-1]]``), in the same
    order and with the same owners: the other strand's windows, for strand averaging."""
    from genomeflow.models.windows import Windows

    table = complement_ids(alphabet).astype(np.int32)
    flipped = [table[np.asarray(w)[::-1]] for w in windows.input_ids]
    return Windows(flipped, windows.owner, windows.sequences)


def one_hot_table(alphabet: Alphabet | str) -> np.ndarray:
    """Float32 (vocabulary, 4): canonical bases one-hot, IUPAC codes split evenly over their
    bases (N = 0.25 each), gap and pad all zeros."""
    alphabet = Alphabet.parse(alphabet)
    if not alphabet.is_nucleic:
        raise AlphabetError("a one-hot residue table is for DNA and RNA, not protein")
    table = np.zeros((len(residue_vocabulary(alphabet)), 4), dtype=np.float32)
    for index, residue in enumerate(residue_vocabulary(alphabet)):
        if len(residue) == 1 and residue in alphabet.canonical:  # U takes T's column
            bases = "ACGT"[alphabet.canonical.index(residue)]
        else:
            bases = IUPAC_BASES.get(residue, "")  # gap and pad: no base
        for base in bases:
            table[index, "ACGT".index(base)] = 1 / len(bases)
    return table


def complement_ids(alphabet: Alphabet | str) -> np.ndarray:
    """id -> id of the complementary code (pad stays pad), from genomeflow's complement."""
    vocabulary = residue_vocabulary(alphabet)
    partners = reverse_complement("".join(vocabulary[1:]), alphabet)[::-1]
    return np.asarray([PAD_ID] + [vocabulary.index(c) for c in partners], dtype=np.int64)


def reverse_complement_ids(input_ids: Any, attention_mask: Any, alphabet: Alphabet | str) -> Any:
    """Encoded reverse complements of encoded rows (numpy array or torch tensor, same type back).

    Each row's first ``attention_mask.sum()`` ids (all non-pad ids when the mask is None) are
    complemented and reversed; the padding stays at the end, so the mask still fits.
    """
    import torch  # here only: the rest of this module needs numpy alone

    is_torch = isinstance(input_ids, torch.Tensor)
    ids = input_ids if is_torch else torch.as_tensor(np.asarray(input_ids))
    if attention_mask is None:
        mask = ids != PAD_ID
    elif isinstance(attention_mask, torch.Tensor):
        mask = attention_mask.to(ids.device)
    else:
        mask = torch.as_tensor(np.asarray(attention_mask), device=ids.device)
    lengths = mask.to(torch.long).sum(dim=-1, keepdim=True)
    source = lengths - 1 - torch.arange(ids.shape[-1], device=ids.device)
    flipped = ids.gather(-1, source.clamp(min=0).expand_as(ids).contiguous())
    table = torch.as_tensor(complement_ids(alphabet), device=ids.device)
    out = torch.where(source >= 0, table[flipped.long()], PAD_ID).to(ids.dtype)
    return out if is_torch else out.numpy()
