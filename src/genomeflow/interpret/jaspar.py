"""JASPAR CORE matrices, offline, from the SQLite files the pyjaspar wheel carries.

pyjaspar ships every JASPAR release from 2014 on as an SQLite file. Its ``fetch_motifs`` builds
one Biopython object per matrix with several queries each (about 12 s for the 2,633 CORE motifs
of JASPAR2026 on this machine's 2 cores); reading the three tables it reads, once, takes a
fraction of that. The selection is pyjaspar's default: the CORE collection, the latest version
of each matrix, optionally one taxonomic group (``tax_group`` annotation: vertebrates, plants,
insects, nematodes, fungi, urochordates...). Nothing is downloaded.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing

import numpy as np

from genomeflow.errors import ConfigError
from genomeflow.interpret.meme import DNA_LETTERS, Motif, frequencies

log = logging.getLogger(__name__)

LATEST = """
SELECT m.ID, m.BASE_ID || '.' || m.VERSION, m.NAME FROM MATRIX m
WHERE m.COLLECTION = 'CORE' AND m.VERSION = (
  SELECT MAX(v.VERSION) FROM MATRIX v WHERE v.BASE_ID = m.BASE_ID AND v.COLLECTION = 'CORE')
"""
TAXON = "SELECT ID FROM MATRIX_ANNOTATION WHERE TAG = 'tax_group' AND VAL = ?"
TAXA = "SELECT DISTINCT VAL FROM MATRIX_ANNOTATION WHERE TAG = 'tax_group' ORDER BY VAL"


def releases() -> tuple[list[str], str]:
    """The JASPAR releases the installed pyjaspar carries, and its newest."""
    import pyjaspar

    return sorted(pyjaspar.jaspar_releases), pyjaspar.JASPAR_LATEST_RELEASE


def _connect(release: str | None) -> tuple[sqlite3.Connection, str]:
    import pyjaspar
    from pyjaspar.utils import get_jaspardb_path

    known, newest = releases()
    chosen = release or newest
    if chosen not in known:
        raise ConfigError(
            f"--jaspar-release {chosen!r} is not a JASPAR release the installed pyjaspar "
            f"carries; choose one of {', '.join(known)}"
        )
    path = get_jaspardb_path(pyjaspar.jaspar_releases[chosen])
    # read-only: the wheel's file is never written
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True), chosen


def taxa(release: str | None = None) -> list[str]:
    """The taxonomic groups annotated in a release."""
    connection, _ = _connect(release)
    with closing(connection):
        return [row[0] for row in connection.execute(TAXA)]


def check_selection(release: str | None, taxon: str | None) -> str:
    """The release to use (the newest when None), after checking it and the taxon exist.

    Raises:
        ConfigError: an unknown release or taxon, naming the choices.
    """
    connection, chosen = _connect(release)
    with closing(connection):
        if taxon is not None:
            groups = [row[0] for row in connection.execute(TAXA)]
            if taxon not in groups:
                raise ConfigError(
                    f"--motif-taxon {taxon!r} is not a taxonomic group of {chosen}; choose one "
                    f"of {', '.join(groups)}"
                )
    return chosen


def jaspar_core(release: str | None = None, taxon: str | None = None) -> list[Motif]:
    """The latest version of every JASPAR CORE matrix of ``release`` (of ``taxon`` if given),
    as frequencies; ``alt`` is the TF name (``MA0139.2``, ``CTCF``)."""
    chosen = check_selection(release, taxon)
    connection, _ = _connect(chosen)
    with closing(connection):
        matrices = {row[0]: row[1:] for row in connection.execute(LATEST)}
        if taxon is not None:
            wanted = {row[0] for row in connection.execute(TAXON, (taxon,))}
            matrices = {key: value for key, value in matrices.items() if key in wanted}
        cells: dict[int, dict[str, dict[int, float]]] = {key: {} for key in matrices}
        marks = ",".join("?" * len(matrices))
        query = f"SELECT ID, row, col, val FROM MATRIX_DATA WHERE ID IN ({marks})"
        for key, letter, column, value in connection.execute(query, list(matrices)):
            cells[key].setdefault(letter, {})[int(column)] = float(value)
    motifs = []
    for key, (identifier, name) in sorted(matrices.items(), key=lambda item: item[1][0]):
        rows = cells[key]
        width = max(rows[DNA_LETTERS[0]]) if rows else 0
        columns = range(1, width + 1)  # JASPAR numbers positions from 1
        counts = np.asarray([[rows[x].get(c, 0.0) for x in DNA_LETTERS] for c in columns])
        motifs.append(
            Motif(
                identifier,
                frequencies(counts, f"{chosen} {identifier}"),
                DNA_LETTERS,
                name,
                round(float(counts[0].sum())),
            )
        )
    log.info("JASPAR: %d CORE motifs of %s%s", len(motifs), chosen, f" ({taxon})" if taxon else "")
    return motifs
