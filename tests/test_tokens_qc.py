"""Token QC: compare, merge and inspect real tokenisers trained on tiny sequence files."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy
import pytest

from genomeflow.config import TokeniseConfig
from genomeflow.errors import ConfigError, GenomeflowError, InputError
from genomeflow.storage import OUTPUT_MARKER
from genomeflow.tokenise import SPECIAL_TOKENS, GenomeTokenizer, train_tokeniser
from genomeflow.tokenise.qc import (
    compare_tokenisers,
    inspect_tokeniser,
    merge_tokenisers,
    write_comparison,
    write_inspection,
)
from helpers import MOTIF, fasta_text, planted_records, write_text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# k = 3, stride = 2 windows: n1 -> ACG GTN NAC CGT TAC (8 of 11 residues in an N-free window);
# ok -> ACG GTA ACG GTA TAC (the last window ends at the end; 10 of 10); short (< k) -> one <unk>.
N_RECORDS = [("n1", "ACGTNACGTAC"), ("ok", "ACGTACGTAC"), ("short", "AC")]


@pytest.fixture(scope="module")
def toks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny real tokenisers (a few seconds in all) and the files they were built from."""
    root = tmp_path_factory.mktemp("tokens_qc")
    files = {
        "a.fa": fasta_text(planted_records(120, 60, 1, MOTIF)),
        "b.fa": fasta_text(planted_records(120, 60, 2, None)),
        "rna.fa": fasta_text(
            [(name, seq.replace("T", "U")) for name, seq in planted_records(40, 60, 3, None)]
        ),
        "n.fa": fasta_text(N_RECORDS),
    }
    paths = {name: write_text(root / name, text) for name, text in files.items()}
    builds: dict[str, tuple[str, dict[str, Any]]] = {
        "a": ("a.fa", {"method": "unigram", "vocab_size": 40}),
        "b": ("b.fa", {"method": "unigram", "vocab_size": 40}),
        "keep": ("a.fa", {"method": "unigram", "vocab_size": 40, "case": "keep"}),
        "rna": ("rna.fa", {"method": "unigram", "vocab_size": 20}),
        "bpe": ("a.fa", {"method": "bpe", "vocab_size": 30}),
        "kmer": ("a.fa", {"method": "kmer", "k": 3, "stride": 2}),
    }
    folders = {}
    for name, (source, settings) in builds.items():
        folders[name] = root / name
        train_tokeniser(
            TokeniseConfig(inputs=[str(paths[source])], output=str(folders[name]), **settings)
        )
    return {
        **folders,
        **{name.removesuffix(".fa") + "_fasta": path for name, path in paths.items()},
    }


def piece_scores(folder: Path) -> dict[str, float]:
    """Unigram scores read straight from tokenizer.json (specials left out)."""
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    return {piece: score for piece, score in vocab if piece not in SPECIAL_TOKENS}


def vocabulary(folder: Path) -> set[str]:
    return set(GenomeTokenizer.load(folder).vocabulary()) - set(SPECIAL_TOKENS)


def test_a_tokeniser_overlaps_itself_completely(toks: dict[str, Path]) -> None:
    result = compare_tokenisers([toks["a"], toks["a"]])
    assert result.names == ["a#1", "a#2"]
    assert result.jaccard_pct == [[100.0, 100.0], [100.0, 100.0]]
    assert result.contained_pct == [[100.0, 100.0], [100.0, 100.0]]
    assert {row.token for row in result.tokens} == vocabulary(toks["a"])
    scored = [row for row in result.tokens if row.variance is not None]  # added letters: none
    assert scored and all(row.variance == 0.0 and not row.outlier for row in scored)
    assert result.variance_threshold == 0.0
    assert result.notes == []


def test_different_tokenisers_overlap_partly_and_write_a_report(
    toks: dict[str, Path], tmp_path: Path
) -> None:
    result = compare_tokenisers([toks["a"], toks["b"], toks["kmer"]], names=["A", "B", "K"])
    a, b = vocabulary(toks["a"]), vocabulary(toks["b"])
    assert result.shared[0][1] == len(a & b) and result.union[0][1] == len(a | b)
    assert 0 < result.jaccard_pct[0][1] == result.jaccard_pct[1][0] < 100
    assert result.contained_pct[0][1] == pytest.approx(100 * len(a & b) / len(a))
    assert any("K (kmer)" in note for note in result.notes)

    # Scores: mean and sample variance of the two Unigram scores; the k-mer one has none.
    sa, sb = piece_scores(toks["a"]), piece_scores(toks["b"])
    token = max(a & b, key=lambda t: abs(sa[t] - sb[t]))
    stats = next(row for row in result.tokens if row.token == token)
    assert stats.scores[:2] == (sa[token], sb[token]) and stats.scores[2] is None
    assert stats.mean == pytest.approx((sa[token] + sb[token]) / 2)
    assert stats.variance == pytest.approx((sa[token] - sb[token]) ** 2 / 2)
    variances = [row.variance for row in result.tokens if row.variance is not None]
    q1, q3 = numpy.percentile(variances, [25, 75])
    fence = q3 + 1.5 * (q3 - q1)
    assert result.variance_threshold == pytest.approx(fence)
    assert [row.outlier for row in result.tokens] == [
        row.variance is not None and row.variance > fence for row in result.tokens
    ]

    written = write_comparison(result, tmp_path / "report")
    names = ["tokens.tsv", "overlap.tsv", "comparison.json", "scores.png"]
    assert [path.name for path in written] == names
    assert sorted(path.name for path in (tmp_path / "report").iterdir()) == sorted(
        [*names, OUTPUT_MARKER]
    )  # the report folder is marked as genomeflow's output
    png = (tmp_path / "report" / "scores.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    with open(tmp_path / "report" / "tokens.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == len(result.tokens)
    line = next(row for row in rows if row["token"] == token)
    assert float(line["score_A"]) == sa[token] and line["score_K"] == ""
    assert line["outlier"] == str(stats.outlier).lower() and int(line["length"]) == len(token)
    with open(tmp_path / "report" / "overlap.tsv", newline="") as handle:
        pairs = list(csv.DictReader(handle, delimiter="\t"))
    assert len(pairs) == 9 and pairs[1]["shared"] == str(len(a & b))
    summary = json.loads((tmp_path / "report" / "comparison.json").read_text())
    assert summary["names"] == ["A", "B", "K"] and summary["jaccard_pct"] == result.jaccard_pct


def test_outlier_is_the_token_whose_score_moved(toks: dict[str, Path], tmp_path: Path) -> None:
    """A copy of a tokeniser with one score lowered: only that token varies, so only it is out."""
    copy = shutil.copytree(toks["a"], tmp_path / "moved")
    document = json.loads((copy / "tokenizer.json").read_text())
    moved = document["model"]["vocab"][len(SPECIAL_TOKENS)]
    moved[1] -= 2.0
    (copy / "tokenizer.json").write_text(json.dumps(document))
    result = compare_tokenisers([toks["a"], copy])
    assert result.variance_threshold == 0.0
    assert [row.token for row in result.outliers] == [moved[0]]
    assert result.outliers[0].variance == pytest.approx(2.0)  # (2 ** 2) / (2 - 1) / 2


def test_tokenisers_without_scores_count_in_overlap_only(
    toks: dict[str, Path], tmp_path: Path
) -> None:
    result = compare_tokenisers([toks["kmer"], toks["bpe"]])
    assert result.variance_threshold is None
    assert all(row.mean is None and not row.outlier for row in result.tokens)
    assert any("no score variance" in note for note in result.notes)
    png = (write_comparison(result, tmp_path)[-1]).read_bytes()
    assert png.startswith(PNG_SIGNATURE)


def test_merge_inner_outer_and_pooling(toks: dict[str, Path], tmp_path: Path) -> None:
    inputs = [toks["a"], toks["b"]]
    inner = merge_tokenisers(inputs, tmp_path / "inner", how="inner")
    outer = merge_tokenisers(inputs, tmp_path / "outer", how="outer", pooling="mean")
    highest = merge_tokenisers(inputs, tmp_path / "max", pooling="max")
    sa, sb = piece_scores(toks["a"]), piece_scores(toks["b"])
    si, so, sm = piece_scores(inner), piece_scores(outer), piece_scores(highest)
    assert set(si) == set(sa) & set(sb)
    assert set(so) == set(sm) == set(sa) | set(sb)
    assert set(si) < set(so)

    token = max(set(sa) & set(sb), key=lambda t: abs(sa[t] - sb[t]))
    assert so[token] == pytest.approx((sa[token] + sb[token]) / 2, abs=1e-6)
    assert si[token] == so[token]
    assert sm[token] == max(sa[token], sb[token])
    only_a = min(set(sa) - set(sb))
    assert so[only_a] == sm[only_a] == sa[only_a]  # pooled over the one tokeniser that has it

    vocab = json.loads((outer / "tokenizer.json").read_text())["model"]["vocab"]
    assert [piece for piece, _ in vocab[:5]] == SPECIAL_TOKENS
    assert vocab[5:] == sorted(vocab[5:], key=lambda item: (-item[1], item[0]))

    from transformers import AutoTokenizer

    sequence = "ACGTTATAATGCCGTA"
    hf = AutoTokenizer.from_pretrained(str(outer))
    ids = hf(sequence)["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and hf.unk_token_id == 3 and 3 not in ids[1:-1]
    merged = GenomeTokenizer.load(outer)
    assert merged.method == "unigram" and merged.alphabet.value == "dna"
    assert "".join(merged.tokens(sequence)) == sequence
    assert "".join(merged.tokens(sequence.lower())) == sequence  # the kept normalizer folds case
    assert merged.metadata["how"] == "outer" and merged.metadata["pooling"] == "mean"
    assert [item["path"] for item in merged.metadata["merged_from"]] == list(map(str, inputs))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_inspect_unigram_covers_acgt(toks: dict[str, Path], tmp_path: Path) -> None:
    result = inspect_tokeniser(toks["a"], [toks["a_fasta"]])
    assert sum(result.length_counts.values()) == result.vocab_size - len(SPECIAL_TOKENS)
    coverage = result.coverage
    assert coverage is not None
    assert (coverage.records, coverage.residues) == (120, 120 * 60)
    assert coverage.residue_coverage == 1.0 and coverage.unknown_tokens == 0
    assert coverage.tokens_per_sequence == coverage.tokens / 120
    assert coverage.residues_per_token == 7200 / coverage.tokens > 1

    written = write_inspection(result, tmp_path / "inspect")
    assert [path.name for path in written] == [
        "inspection.json",
        "token_lengths.tsv",
        "token_lengths.png",
    ]
    assert written[2].read_bytes().startswith(PNG_SIGNATURE)
    summary = json.loads(written[0].read_text())
    assert summary["coverage"]["residue_coverage"] == 1.0
    assert inspect_tokeniser(toks["a"]).coverage is None


def test_inspect_kmer_coverage_with_n(toks: dict[str, Path]) -> None:
    coverage = inspect_tokeniser(toks["kmer"], [toks["n_fasta"]]).coverage
    assert coverage is not None
    # n1: 8 of 11 covered, 5 tokens (2 <unk>); ok: 10 of 10, 5 tokens; short: 0 of 2, one <unk>.
    assert (coverage.residues, coverage.covered_residues) == (23, 18)
    assert (coverage.tokens, coverage.unknown_tokens) == (11, 3)
    assert coverage.residue_coverage == pytest.approx(18 / 23)
    # N is an IUPAC letter in every Unigram vocabulary, so the Unigram tokeniser covers it.
    unigram = inspect_tokeniser(toks["a"], [toks["n_fasta"]]).coverage
    assert unigram is not None and unigram.residue_coverage == 1.0


ERRORS: dict[str, tuple[Callable[[dict[str, Path], Path], object], type[GenomeflowError], str]] = {
    "missing folder": (
        lambda t, p: compare_tokenisers([p / "nope", t["a"]]),
        InputError,
        "nope: no such tokeniser folder",
    ),
    "not a tokeniser": (
        lambda t, p: compare_tokenisers([t["a"], p]),
        InputError,
        "not a genomeflow tokeniser",
    ),
    "one tokeniser": (
        lambda t, p: compare_tokenisers([t["a"]]),
        InputError,
        "comparing needs at least two tokeniser folders, got 1",
    ),
    "lone path": (
        lambda t, p: merge_tokenisers(t["a"], p / "out"),
        InputError,
        "merging needs at least two tokeniser folders, got 1",
    ),
    "names mismatch": (
        lambda t, p: compare_tokenisers([t["a"], t["b"]], names=["x"]),
        ConfigError,
        "got 1 names for 2 tokeniser folders",
    ),
    "repeated name": (
        lambda t, p: compare_tokenisers([t["a"], t["b"]], names=["x", "x"]),
        ConfigError,
        "tokeniser name 'x' is given twice",
    ),
    "bad how": (
        lambda t, p: merge_tokenisers([t["a"], t["b"]], p / "out", how="sideways"),
        ConfigError,
        "unknown merge mode (how) 'sideways': choose inner or outer",
    ),
    "bad pooling": (
        lambda t, p: merge_tokenisers([t["a"], t["b"]], p / "out", pooling="avg"),
        ConfigError,
        "unknown pooling 'avg': choose mean, median, min or max",
    ),
    "alphabet mismatch": (
        lambda t, p: merge_tokenisers([t["a"], t["rna"]], p / "out"),
        InputError,
        "rna has alphabet rna but {a} has dna; merge tokenisers of one alphabet",
    ),
    "case mismatch": (
        lambda t, p: merge_tokenisers([t["a"], t["keep"]], p / "out"),
        InputError,
        "keep has case handling keep but {a} has upper",
    ),
    "not unigram": (
        lambda t, p: merge_tokenisers([t["a"], t["bpe"]], p / "out"),
        InputError,
        "bpe: is a bpe tokeniser; merging needs unigram tokenisers",
    ),
    "missing fasta": (
        lambda t, p: inspect_tokeniser(t["a"], [p / "nope.fa"]),
        InputError,
        "nope.fa",
    ),
    "report into a file": (
        lambda t, p: write_inspection(inspect_tokeniser(t["a"]), t["a_fasta"]),
        InputError,
        "exists and is not a folder",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_user_errors_say_what_and_write_nothing(
    case: str, toks: dict[str, Path], tmp_path: Path
) -> None:
    call, kind, message = ERRORS[case]
    with pytest.raises(kind, match=re.escape(message.format(a=toks["a"]))) as error:
        call(toks, tmp_path)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []  # no output, not even a partial one
