"""Motif files and naming without a model: MEME/JASPAR reading and writing, JASPAR CORE from
pyjaspar's SQLite, q-values, the "nothing matches" verdict, the k-mer table's support and
ranking, TF-MoDISco's trimming and one-hot inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genomeflow.errors import ConfigError, InputError
from genomeflow.interpret.attributions import SequenceAttribution
from genomeflow.interpret.discovery import one_hot, trim_span
from genomeflow.interpret.jaspar import check_selection, jaspar_core, releases
from genomeflow.interpret.meme import Motif, read_motif_file, write_meme
from genomeflow.interpret.motifs import SHRINK_OCCURRENCES, motif_table
from genomeflow.interpret.naming import (
    Match,
    MotifDatabase,
    benjamini_hochberg,
    load_database,
    name_motifs,
    verdict,
)

SIGMA70 = Path(__file__).resolve().parents[1] / "examples" / "motifs" / "ecoli_sigma70.meme"


def random_motifs(count: int, seed: int) -> list[Motif]:
    rng = np.random.default_rng(seed)
    return [
        Motif(f"m{i}", rng.dirichlet(np.ones(4), size=int(rng.integers(5, 12))), alt=f"TF{i}")
        for i in range(count)
    ]


def test_meme_round_trip_and_memelite_reads_it(tmp_path):
    from memelite.io import read_meme

    motifs = random_motifs(3, 1)
    path = tmp_path / "m.meme"
    write_meme(path, motifs)
    again = read_motif_file(path)
    assert [m.name for m in again] == ["m0", "m1", "m2"] and again[1].alt == "TF1"
    for original, read in zip(motifs, again, strict=True):
        np.testing.assert_allclose(read.matrix, original.matrix, atol=1e-6)
    theirs = read_meme(str(path))  # the MEME Suite format as memelite parses it
    np.testing.assert_allclose(theirs["m2 TF2"].T, motifs[2].matrix, atol=1e-6)


def test_jaspar_files_are_read_as_frequencies(tmp_path):
    text = ">MA0001.1 AGL3\nA [ 0 3 79 ]\nC [ 94 75 4 ]\nG [ 1 0 3 ]\nT [ 2 19 11 ]\n"
    path = tmp_path / "m.jaspar"
    path.write_text(text + ">X1 two words\nT [1 1]\nG [1 1]\nC [1 1]\nA [1 1]\n")
    first, second = read_motif_file(path)
    assert (first.name, first.alt, first.sites, first.width) == ("MA0001.1", "AGL3", 97, 3)
    np.testing.assert_allclose(first.matrix[0], [0, 94 / 97, 1 / 97, 2 / 97])
    assert first.consensus() == "CCA" and second.alt == "two words"


def test_the_sigma70_example_file_holds_both_boxes():
    boxes = {m.name: m.consensus() for m in read_motif_file(SIGMA70)}
    assert boxes == {"sigma70_minus35": "TTGACA", "sigma70_minus10": "TATAAT"}
    assert "Harley" in SIGMA70.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such motif file"),
        ("hello\n", "neither a MEME file"),
        ("MEME version 5\n\nALPHABET= ACGT\n", "holds no motif"),
        ("MEME version 5\nMOTIF a\nletter-probability matrix: w= 2\n0.5 0.5\n", "line 4: 2 values"),
        ("MEME version 5\nMOTIF a\nletter-probability matrix: w= 2\n1 0 0 0\n", "has 1 rows"),
        ("MEME version 5\nMOTIF a\nletter-probability matrix: w= 1\n1 x 0 0\n", "expected numbers"),
        ("MEME version 5\nMOTIF a\nletter-probability matrix: w= 1\n9 1 0 0\n", "sums to 10"),
        ("MEME version 5\nletter-probability matrix: w= 1\n1 0 0 0\n", "before any MOTIF"),
        (">M1 x\nA [ 1 2 ]\nC [ 1 ]\nG [ 1 2 ]\nT [ 1 2 ]\n", "equal length"),
        (">M1 x\nA 1 2\n", "expected a row"),
        (b"MEME version 5\n\xff\xfe\n", "not a text file"),
    ],
)
def test_bad_motif_files_are_one_line_input_errors(tmp_path, content, message):
    path = tmp_path / "bad.meme"
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError, match=message) as raised:
        read_motif_file(path)
    assert "bad.meme" in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.slow
def test_jaspar_core_matches_pyjaspar_and_bad_choices_name_the_fix():
    from pyjaspar import jaspardb

    known, newest = releases()
    assert newest in known and check_selection(None, None) == newest
    ours = {m.name: m for m in jaspar_core(newest, "nematodes")}
    theirs = jaspardb(release=newest).fetch_motifs(collection="CORE", tax_group=["nematodes"])
    assert set(ours) == {m.matrix_id for m in theirs} and ours
    for motif in theirs[:5]:
        counts = np.asarray([motif.counts[b] for b in "ACGT"], dtype=float).T
        np.testing.assert_allclose(ours[motif.matrix_id].matrix, counts / counts.sum(1)[:, None])
        assert ours[motif.matrix_id].alt == motif.name
    with pytest.raises(ConfigError, match=f"JASPAR1999.*choose one of .*{newest}"):
        check_selection("JASPAR1999", None)
    with pytest.raises(ConfigError, match=r"'mammals' is not a taxonomic group.*vertebrates"):
        check_selection(None, "mammals")


def test_q_values_and_the_nothing_matches_verdict():
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))
    np.testing.assert_allclose(q, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    target = Motif("MA1", np.full((4, 4), 0.25), alt="TF")
    good = Match("q1", target, 1e-6, 0.001, "+", 0, 4)
    poor = Match("q1", target, 0.2, 0.3, "-", 1, 3)
    assert verdict([good], "db") == "matches MA1 TF (q = 0.001)"
    assert verdict([poor], "db") == "no match in db at q < 0.05 (closest: MA1 TF, q = 0.3)"


@pytest.mark.slow
def test_tomtom_names_a_box_and_says_when_nothing_matches():
    database = load_database(str(SIGMA70), None, None)
    assert database.source == str(SIGMA70) and len(database.background) > 100  # JASPAR CORE
    box = np.full((6, 4), 0.02)
    box[np.arange(6), ["ACGT".index(b) for b in "TATAAT"]] = 0.94
    rng = np.random.default_rng(3)
    flat = rng.dirichlet(np.ones(4) * 50, size=8)  # near-uniform columns: no motif at all
    named = name_motifs([Motif("box", box), Motif("flat", flat)], database)
    assert named["box"][0].target.name == "sigma70_minus10" and named["box"][0].q_value < 0.05
    assert named["flat"][0].q_value >= 0.05
    assert verdict(named["flat"], database.source).startswith("no match in")
    only = MotifDatabase("two", database.motifs, [])
    assert set(name_motifs([Motif("box", box)], only)) == {"box"}


def _item(index: int, sequence: str, scores: list[float]) -> SequenceAttribution:
    values = np.asarray(scores, dtype=float)
    return SequenceAttribution(
        f"s{index}", sequence, "p", "p", 0.9, np.array([0.9, 0.1]), list(sequence), values,
        values, 0.0, False,
    )  # fmt: skip


def test_kmer_table_needs_support_and_ranks_by_the_shrunken_mean():
    items = []
    for i in range(12):  # AAC: in 12 sequences, +0.3 an occurrence (total 3.6)
        items.append(_item(i, "GGAACGG", [0, 0, 0.1, 0.1, 0.1, 0, 0]))
    for i in range(3):  # TTT: +3 an occurrence, but in 3 sequences only
        items.append(_item(12 + i, "CCTTTCC", [0, 0, 1, 1, 1, 0, 0]))
    table = motif_table(items, k=3, top=50, min_support=5)
    assert "TTT" not in set(table["kmer"]) and table.loc[0, "kmer"] == "AAC"
    assert table.loc[0, "sequences"] == 12
    assert table.loc[0, "shrunken_mean"] == pytest.approx(3.6 / (12 + SHRINK_OCCURRENCES))
    loose = motif_table(items, k=3, top=50, min_support=3)
    ranks = list(loose["kmer"])  # 9 / (3 + 20) = 0.39 > 3.6 / 32 = 0.11: mass counts too
    assert ranks.index("TTT") < ranks.index("AAC")


def test_trim_span_and_one_hot():
    cwm = np.zeros((10, 4))
    cwm[3, 0], cwm[4, 1], cwm[6, 2], cwm[8, 3] = 1.0, 0.5, 0.35, 0.1
    assert trim_span(cwm) == (3, 7)  # position 8 carries under 0.3 of the largest
    encoded = one_hot(["ACGTN", "ac"], "ACGT")
    assert encoded.shape == (2, 5, 4) and encoded.dtype == np.float32
    assert encoded[0, 4].sum() == 0 and encoded[1, 2:].sum() == 0  # N and padding: empty
    np.testing.assert_array_equal(encoded[1, :2].argmax(1), [0, 1])


def test_seqlets_map_back_to_their_sequences_on_both_strands():
    from genomeflow.interpret.discovery import Pattern, _motif

    cwm = np.zeros((8, 4))
    cwm[2:5] = 0.5  # positions 2-4 carry the motif: the trimmed span
    pfm = np.full((8, 4), 0.25)
    seqlets = ((0, 10, 18, False), (1, 10, 18, True), (2, 0, 8, True))
    sequences = ["A" * 30, "C" * 30, "G" * 5]
    found = _motif(Pattern(1, pfm, cwm, seqlets), "m", "p", "ACGT", sequences)
    places = [(o.index, o.start, o.end, o.strand) for o in found.occurrences]
    # forward: 10 + [2, 5); reverse: pattern position i is 17 - i, so [18 - 5, 18 - 2); the third
    # lies at [3, 6) of a 5 bp sequence and is clipped to [3, 5)
    assert places == [(0, 12, 15, "+"), (1, 13, 16, "-"), (2, 3, 5, "-")]
    assert found.motif.width == 3 and found.seqlets == 3 and found.sign == "positive"
    assert found.contribution == pytest.approx(0.5 * 4 * 3)


def test_protein_models_skip_discovery_and_say_why():
    from genomeflow.config import InterpretConfig
    from genomeflow.interpret.motif_report import PROTEIN_NOTE, find_motifs
    from genomeflow.sequence.alphabet import Alphabet

    config = InterpretConfig(model="m", output="o", sequences=["MKT"])
    results = find_motifs([], Alphabet.PROTEIN, {"p": [0]}, config)
    assert results.motifs == [] and results.notes == [PROTEIN_NOTE]
    assert "no meaning for amino acids" in PROTEIN_NOTE


@pytest.mark.slow
def test_modisco_in_its_own_process_finds_a_planted_site_where_it_is():
    from genomeflow.interpret.discovery import discover_motifs

    site, length = "GATTACAGGC", 80
    rng = np.random.default_rng(5)
    items, planted_at = [], []
    for i in range(150):
        bases = list(rng.choice(list("ACGT"), length))
        at = int(rng.integers(0, length - len(site)))
        bases[at : at + len(site)] = site
        scores = rng.normal(0, 0.005, length)
        scores[at : at + len(site)] += 0.1  # the model's credit: on the site only
        items.append(_item(i, "".join(bases), list(scores)))
        planted_at.append(at)
    (found,) = [m for m in discover_motifs(items, "p", "ACGT") if m.sign == "positive"]
    assert site[2:8] in found.motif.consensus() and found.seqlets >= 20
    inside = [
        planted_at[o.index] - 3 <= o.start and o.end <= planted_at[o.index] + len(site) + 3
        for o in found.occurrences
    ]
    assert np.mean(inside) > 0.9  # the seqlets map back onto the planted sites
