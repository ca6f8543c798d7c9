"""Sequence alphabets (IUPAC DNA, RNA and protein), detection and validation, and ``text``: a
human-language corpus, which has no fixed letters and is never detected, only declared.

Validation is case-insensitive: lowercase (soft-masked) residues are valid and kept as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum

from genomeflow.errors import AlphabetError, ConfigError

GAPS = "-."
_NUCLEOTIDE_AMBIGUITY = "RYSWKMBDHVN"
# Share of A, C, G, T/U and N among the non-gap residues above which a sequence set is called
# nucleic acid; a protein is practically never this rich in those five letters.
NUCLEOTIDE_MIN_SHARE = 0.9


class Alphabet(str, Enum):
    """The kind of sequence: ``dna``, ``rna`` or ``protein``; or ``text`` (natural language)."""

    DNA = "dna"
    RNA = "rna"
    PROTEIN = "protein"
    TEXT = "text"

    @property
    def letters(self) -> str:
        """Every valid uppercase character, canonical residues first, then IUPAC codes, gaps
        (none for text, whose characters are not a fixed set)."""
        return _LETTERS.get(self, "")

    @property
    def canonical(self) -> str:
        """The unambiguous residues (ACGT, ACGU or the 20 standard amino acids)."""
        return _CANONICAL.get(self, "")

    @property
    def is_nucleic(self) -> bool:
        return self in (Alphabet.DNA, Alphabet.RNA)

    @property
    def is_text(self) -> bool:
        return self is Alphabet.TEXT

    def first_invalid(self, sequence: str) -> int | None:
        """Return the 0-based index of the first character outside this alphabet, or None."""
        if self is Alphabet.TEXT:  # any character is text; the corpus readers check the rest
            return None
        # Deleting the valid bytes runs at memory speed; the regex only locates a problem.
        if sequence.isascii() and not sequence.encode("ascii").translate(None, _VALID[self]):
            return None
        match = _INVALID[self].search(sequence)
        return None if match is None else match.start()

    @classmethod
    def parse(cls, name: str | Alphabet) -> Alphabet:
        """Turn ``"DNA"``, ``"rna"``, ``Alphabet.PROTEIN``... into an Alphabet."""
        if isinstance(name, Alphabet):
            return name
        try:
            return cls(name.strip().lower())
        except ValueError:
            choices = ", ".join(a.value for a in cls)
            raise ConfigError(f"unknown alphabet {name!r}: choose one of {choices}") from None


_CANONICAL = {
    Alphabet.DNA: "ACGT",
    Alphabet.RNA: "ACGU",
    Alphabet.PROTEIN: "ACDEFGHIKLMNPQRSTVWY",
}
_LETTERS = {
    Alphabet.DNA: "ACGT" + _NUCLEOTIDE_AMBIGUITY + GAPS,
    Alphabet.RNA: "ACGU" + _NUCLEOTIDE_AMBIGUITY + GAPS,
    # B (D/N), Z (E/Q), J (I/L), X (any), U (selenocysteine), O (pyrrolysine), * (stop).
    Alphabet.PROTEIN: "ACDEFGHIKLMNPQRSTVWY" + "BZJXUO" + "*" + GAPS,
}
_INVALID = {
    alphabet: re.compile(f"[^{re.escape(letters + letters.lower())}]")
    for alphabet, letters in _LETTERS.items()
}
_VALID = {
    alphabet: (letters + letters.lower()).encode("ascii") for alphabet, letters in _LETTERS.items()
}
_ANY_LETTERS = frozenset("".join(_LETTERS.values()))


def describe_char(char: str) -> str:
    """Name a character readably in an error message (control characters escaped)."""
    return repr(char) if char.isprintable() else ascii(char)


_KNOWN_BYTES = "".join(sorted(_ANY_LETTERS)).encode("ascii")


def _distinct_characters(text: str) -> set[str]:
    """The set of characters in ``text``; C-speed searches instead of a Python loop per residue."""
    if text.isascii():
        stray = text.encode("ascii").translate(None, _KNOWN_BYTES)
        return {c for c in _ANY_LETTERS if c in text} | set(stray.decode("ascii"))
    return set(text)


def detect_alphabet(sequences: Iterable[str]) -> Alphabet:
    """Decide whether sequences are DNA, RNA or protein (text is declared, never detected).

    Nucleic acid when at least ``NUCLEOTIDE_MIN_SHARE`` of the non-gap residues are A, C, G,
    T/U or N (RNA when U occurs and T does not), protein otherwise. A few stray letters thus do
    not turn a DNA file into protein: validation then reports them as invalid DNA.

    Args:
        sequences: the residues to look at (a sample is enough).

    Raises:
        AlphabetError: no residues at all, T and U mixed, or a character valid in no alphabet
            (the caller locates it with :meth:`Alphabet.first_invalid`).
    """
    seen: set[str] = set()
    residues = 0
    canonical = 0
    for sequence in sequences:
        upper = sequence.upper()
        seen.update(_distinct_characters(upper))
        residues += len(upper) - sum(upper.count(gap) for gap in GAPS)
        canonical += sum(upper.count(base) for base in "ACGTUN")
    if residues == 0:
        raise AlphabetError("no residues to detect the alphabet from")
    stray = seen - _ANY_LETTERS
    if stray:
        chars = ", ".join(describe_char(c) for c in sorted(stray))
        raise AlphabetError(f"characters valid in no alphabet (DNA, RNA, protein): {chars}")
    if canonical / residues >= NUCLEOTIDE_MIN_SHARE:
        if "T" in seen and "U" in seen:
            raise AlphabetError(
                "sequences mix T (DNA) and U (RNA); convert them to one, or declare the alphabet"
            )
        # Any non-nucleotide letter is then reported by validation with its record and position.
        return Alphabet.RNA if "U" in seen else Alphabet.DNA
    # Every letter A-Z is an amino-acid code, so whatever is left is protein.
    return Alphabet.PROTEIN


def check_characters(sequences: Iterable[str], alphabet: Alphabet) -> None:
    """Raise AlphabetError naming the first sequence with a character outside ``alphabet``."""
    for index, sequence in enumerate(sequences):
        at = alphabet.first_invalid(sequence)
        if at is not None:
            raise AlphabetError(
                f"sequence #{index + 1}: {describe_char(sequence[at])} at position {at + 1} is "
                f"not a valid {alphabet.value} character; the model reads {alphabet.value} "
                f"sequences (IUPAC letters {alphabet.letters}, either case)"
            )
