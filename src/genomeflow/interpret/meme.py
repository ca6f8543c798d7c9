"""Motif matrices and their files: MEME text format (read and written) and JASPAR matrix files
(read), so a user can bring either as ``--motif-database``.

A motif is a position frequency matrix: one row per position, one column per letter (in the
alphabet's order, ACGT for DNA), each row summing to 1. The MEME format is the MEME Suite's
("MEME version 4" or later: an ALPHABET line, optional strands and background lines, then per
motif a ``MOTIF id [alt]`` line, a ``letter-probability matrix: alength= A w= W ...`` line and W
rows of A numbers). A JASPAR file holds ``>ID NAME`` headers each followed by one row per letter,
``A [ counts ]``, and counts become frequencies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomeflow.errors import InputError

DNA_LETTERS = "ACGT"
# A MEME row may be rounded (3 decimals in JASPAR's own MEME exports): rows summing to within
# this of 1 are renormalised; further off, the file is refused as not a frequency matrix.
ROW_SUM_TOLERANCE = 0.05
FIX = "give a MEME motif file (MEME Suite text format) or a JASPAR .jaspar matrix file"


@dataclass(frozen=True)
class Motif:
    """One motif.

    Attributes:
        name: its identifier (a MEME ``MOTIF`` id or a JASPAR matrix id, e.g. MA0139.2).
        matrix: shape (width, len(letters)): letter frequencies per position, rows summing to 1.
        letters: the alphabet's letters in column order.
        alt: the second name (a JASPAR TF name such as CTCF), or "".
        sites: the number of sites the matrix was built from (0 when unknown).
    """

    name: str
    matrix: np.ndarray
    letters: str = DNA_LETTERS
    alt: str = ""
    sites: int = 0

    @property
    def width(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def label(self) -> str:
        """``name alt`` as reports show it (e.g. ``MA0139.2 CTCF``)."""
        return f"{self.name} {self.alt}".strip()

    def consensus(self) -> str:
        """The most frequent letter of every position."""
        return "".join(self.letters[i] for i in self.matrix.argmax(axis=1))


def frequencies(counts: np.ndarray, where: str) -> np.ndarray:
    """Rows of counts or rounded frequencies as frequencies summing to 1."""
    if counts.ndim != 2 or counts.shape[0] == 0:
        raise InputError(f"{where}: the matrix has no positions; {FIX}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise InputError(f"{where}: the matrix holds a negative or non-numeric value; {FIX}")
    totals = counts.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise InputError(f"{where}: a position of the matrix has no counts; {FIX}")
    return counts / totals


def write_meme(path: Path, motifs: Sequence[Motif], letters: str = DNA_LETTERS) -> None:
    """Write ``motifs`` as one MEME file (uniform background; both strands for nucleotides)."""
    background = " ".join(f"{letter} {1 / len(letters):.4f}" for letter in letters)
    lines = ["MEME version 5", "", f"ALPHABET= {letters}", ""]
    if letters in ("ACGT", "ACGU"):
        lines += ["strands: + -", ""]
    lines += ["Background letter frequencies", background, ""]
    for motif in motifs:
        lines.append(f"MOTIF {motif.name} {motif.alt}".rstrip())
        lines.append(
            f"letter-probability matrix: alength= {len(letters)} w= {motif.width} "
            f"nsites= {motif.sites} E= 0"
        )
        lines += [" ".join(f"{value:.6f}" for value in row) for row in motif.matrix]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def read_motif_file(path: str | Path) -> list[Motif]:
    """Every motif of a MEME or JASPAR file.

    Raises:
        InputError: one line naming the file (and line) when it is missing, unreadable, not one
            of the two formats, or holds a malformed matrix.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such motif file; {FIX}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a motif file; {FIX}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (not UTF-8); {FIX}") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror}); {FIX}") from None
    lines = text.splitlines()
    if any(line.startswith("MEME version") for line in lines[:50]):
        motifs = list(_read_meme(lines, str(path)))
    elif lines and lines[0].startswith(">"):
        motifs = list(_read_jaspar(lines, str(path)))
    else:
        raise InputError(
            f"{path}: neither a MEME file (no 'MEME version' line) nor a JASPAR file (no '>' "
            f"header on line 1); {FIX}"
        )
    if not motifs:
        raise InputError(f"{path}: holds no motif; {FIX}")
    names = [motif.name for motif in motifs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"{path}: motif name {repeated[0]!r} is used twice; rename one")
    return motifs


def _numbers(line: str, where: str) -> list[float]:
    try:
        return [float(value) for value in line.split()]
    except ValueError:
        raise InputError(f"{where}: expected numbers, got {line.strip()[:60]!r}; {FIX}") from None


def _read_meme(lines: list[str], source: str) -> Iterator[Motif]:
    letters = DNA_LETTERS
    name, alt, number = "", "", 0
    for number, line in enumerate(lines, start=1):
        if line.startswith("ALPHABET="):
            letters = line.split("=", 1)[1].strip().upper()
            if not re.fullmatch(r"[A-Z]{2,}", letters):
                raise InputError(
                    f"{source}: line {number}: only a plain ALPHABET= line (e.g. ACGT) is read, "
                    f"not {letters!r}; {FIX}"
                )
        elif line.startswith("MOTIF"):
            fields = line.split()
            if len(fields) < 2:
                raise InputError(f"{source}: line {number}: a MOTIF line without a name; {FIX}")
            name, alt = fields[1], " ".join(fields[2:])
        elif line.startswith("letter-probability matrix"):
            where = f"{source}: line {number}"
            if not name:
                raise InputError(f"{where}: a matrix before any MOTIF line; {FIX}")
            width = re.search(r"\bw=\s*(\d+)", line)
            sites = re.search(r"\bnsites=\s*([0-9.eE+]+)", line)
            if width is None or int(width.group(1)) == 0:
                raise InputError(f"{where}: the matrix line gives no width (w= N); {FIX}")
            rows = _matrix_rows(lines, number, int(width.group(1)), len(letters), source)
            sums = rows.sum(axis=1)
            worst = float(sums[np.abs(sums - 1).argmax()])
            if abs(worst - 1) > ROW_SUM_TOLERANCE:
                raise InputError(
                    f"{where}: a row of motif {name!r} sums to {worst:.3g}, not 1: a "
                    f"letter-probability matrix holds frequencies; {FIX}"
                )
            count = int(float(sites.group(1))) if sites else 0
            yield Motif(name, frequencies(rows, where), letters, alt, count)
            name, alt = "", ""


def _matrix_rows(
    lines: list[str], header: int, width: int, alength: int, source: str
) -> np.ndarray:
    """The ``width`` rows after the matrix line ``header`` (1-based), blank lines skipped."""
    rows: list[list[float]] = []
    for number in range(header + 1, len(lines) + 1):
        if len(rows) == width:
            break
        line = lines[number - 1]
        if not line.strip():
            continue
        values = _numbers(line, f"{source}: line {number}")
        if len(values) != alength:
            raise InputError(
                f"{source}: line {number}: {len(values)} values in a row of an alphabet of "
                f"{alength} letters; {FIX}"
            )
        rows.append(values)
    if len(rows) != width:
        raise InputError(
            f"{source}: line {header}: the matrix says w= {width} but has {len(rows)} rows; {FIX}"
        )
    return np.asarray(rows, dtype=np.float64)


JASPAR_ROW = re.compile(r"^\s*([A-Za-z])\s*\[([^\]]*)\]\s*$")


def _read_jaspar(lines: list[str], source: str) -> Iterator[Motif]:
    blocks: list[tuple[int, str, list[tuple[int, str]]]] = []
    for number, line in enumerate(lines, start=1):
        if line.startswith(">"):
            blocks.append((number, line[1:].strip(), []))
        elif line.strip():
            blocks[-1][2].append((number, line))
    for number, header, rows in blocks:
        fields = header.split()
        if not fields:
            raise InputError(f"{source}: line {number}: a '>' header without a matrix id; {FIX}")
        letters, counts = "", []
        for row_number, line in rows:
            match = JASPAR_ROW.match(line)
            if match is None:
                raise InputError(
                    f"{source}: line {row_number}: expected a row such as 'A [ 3 0 12 ]', got "
                    f"{line.strip()[:60]!r}; {FIX}"
                )
            letters += match.group(1).upper()
            counts.append(_numbers(match.group(2), f"{source}: line {row_number}"))
        where = f"{source}: line {number}"
        if sorted(letters) != sorted(DNA_LETTERS) or len({len(c) for c in counts}) != 1:
            raise InputError(
                f"{where}: motif {fields[0]!r} needs one row of equal length for each of "
                f"A, C, G and T; {FIX}"
            )
        order = [letters.index(letter) for letter in DNA_LETTERS]
        matrix = np.asarray(counts, dtype=np.float64)[order].T  # positions x letters
        sites = round(float(matrix[0].sum()))
        yield Motif(fields[0], frequencies(matrix, where), DNA_LETTERS, " ".join(fields[1:]), sites)
