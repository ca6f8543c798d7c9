import json

import pytest
from transformers import AutoTokenizer

from genomeflow.cli import main
from genomeflow.config import TokeniseConfig
from genomeflow.errors import ConfigError, InputError
from genomeflow.io import SequenceRecord
from genomeflow.tokenise import (
    SPECIAL_TOKENS,
    GenomeTokenizer,
    build_corpus,
    kmer_words,
    train_tokeniser,
)
from helpers import MOTIF, fasta_text, planted_records, write_text


@pytest.fixture
def corpus(tmp_path):
    records = planted_records(60, 80, 3, MOTIF) + planted_records(60, 80, 4, None)
    return write_text(tmp_path / "corpus.fa", fasta_text(records))


def train(corpus, folder, **settings):
    settings.setdefault("vocab_size", 60)
    train_tokeniser(TokeniseConfig(inputs=[str(corpus)], output=str(folder), **settings))
    return GenomeTokenizer.load(folder)


@pytest.mark.parametrize("method", ["unigram", "bpe", "char", "kmer"])
def test_every_method_saves_a_folder_autotokenizer_loads(tmp_path, corpus, method):
    tokenizer = train(corpus, tmp_path / method, method=method, k=3)
    hf = AutoTokenizer.from_pretrained(str(tmp_path / method))
    assert hf.convert_ids_to_tokens(list(range(5))) == SPECIAL_TOKENS
    assert (hf.cls_token, hf.sep_token, hf.pad_token, hf.mask_token) == (
        "<s>",
        "</s>",
        "<pad>",
        "<mask>",
    )
    encoded = tokenizer.encode(["TATAATGCGC", "acgtac"])
    assert hf(tokenizer.words("TATAATGCGC"))["input_ids"] == encoded["input_ids"][0]
    for ids in encoded["input_ids"]:
        assert ids[0] == hf.cls_token_id and ids[-1] == hf.sep_token_id
        assert hf.unk_token_id not in ids  # ACGT in any case is always known
    metadata = json.loads((tmp_path / method / "genomeflow.json").read_text())
    assert metadata["method"] == method and metadata["alphabet"] == "dna"
    assert metadata["inputs"][0]["digest"].startswith("sha256:")
    assert "".join(tokenizer.tokens("TATAATGCGC")).replace(" ", "") != ""


@pytest.mark.parametrize("method", ["unigram", "bpe"])
def test_same_inputs_and_seed_give_identical_files(tmp_path, corpus, method):
    train(corpus, tmp_path / "a", method=method)
    train(corpus, tmp_path / "b", method=method)
    for name in ("tokenizer.json", "tokenizer_config.json", "genomeflow.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_unigram_learns_the_planted_motif_and_keeps_every_letter(tmp_path, corpus):
    tokenizer = train(corpus, tmp_path / "u", vocab_size=120, max_piece_length=8)
    vocabulary = tokenizer.vocabulary()
    assert any(MOTIF in token or (token in MOTIF and len(token) >= 4) for token in vocabulary)
    assert all(letter in vocabulary for letter in "ACGTNRYKMSWBDHV")
    assert not tokenizer.tokens("TATAAT")[0].startswith("▁")  # no word-boundary symbol
    assert all(len(token) <= 8 for token in vocabulary if token not in SPECIAL_TOKENS)


def test_kmer_vocabulary_is_fixed_and_overlapping(tmp_path, corpus):
    tokenizer = train(corpus, tmp_path / "k", method="kmer", k=3, stride=1)
    vocabulary = tokenizer.vocabulary()
    assert len(vocabulary) == 5 + 4**3
    assert vocabulary["AAA"] == 5 and vocabulary["TTT"] == 5 + 63
    assert tokenizer.tokens("ACGTA") == ["ACG", "CGT", "GTA"]
    assert tokenizer.tokens("acgta") == ["ACG", "CGT", "GTA"]
    assert tokenizer.tokens("ANGTA")[:2] == ["<unk>", "<unk>"]
    other = train(corpus, tmp_path / "k2", method="kmer", k=3, stride=1, seed=7)
    assert other.vocabulary() == vocabulary


def test_kmer_words_cover_the_tail():
    assert kmer_words("ACGTACG", 3, 3) == "ACG TAC ACG"
    assert kmer_words("ACGTAC", 3, 2) == "ACG GTA TAC"
    assert kmer_words("AC", 3, 1) == "AC"


def test_case_keep_makes_lowercase_tokens(tmp_path, corpus):
    tokenizer = train(corpus, tmp_path / "c", method="char", case="keep")
    assert tokenizer.tokens("aC") == ["a", "C"]
    upper = train(corpus, tmp_path / "u", method="char")
    assert upper.tokens("aC") == ["A", "C"]


def test_corpus_segments_and_sample_budget():
    records = [SequenceRecord(f"r{i}", "ACGT" * 250) for i in range(10)]  # 10 x 1000 bp
    whole = build_corpus(records, 300, 0, 1, uppercase=True)
    assert whole.segments_seen == 40 and whole.sampled_residues == 10_000
    sampled = build_corpus(records, 300, 2000, 1, uppercase=True)
    assert sampled.residues == 10_000 and sampled.sampled_residues <= 2000
    assert sampled.segments == build_corpus(records, 300, 2000, 1, uppercase=True).segments
    assert max(map(len, sampled.segments)) <= 300


def test_training_on_one_long_record_is_bounded(tmp_path):
    import random

    rng = random.Random(5)
    genome = "".join(rng.choices("ACGT", k=300_000))
    path = write_text(tmp_path / "chromosome.fa", f">chr\n{genome}\n")
    tokenizer = train(
        path, tmp_path / "t", method="bpe", vocab_size=200, segment_length=1000, sample_bp=50_000
    )
    corpus = tokenizer.metadata["corpus"]
    assert corpus["residues"] == 300_000 and corpus["trained_on_residues"] <= 50_000


def test_cli_prints_the_example_segmentation(tmp_path, corpus, capsys):
    code = main(
        [
            "tokenise",
            str(corpus),
            "-o",
            str(tmp_path / "t"),
            "--method",
            "kmer",
            "-k",
            "2",
            "--stride",
            "2",
            "--example",
            "ACGTAC",
        ]
    )
    assert code == 0
    assert "ACGTAC -> AC GT AC" in capsys.readouterr().out


def test_bad_settings_and_inputs(tmp_path, corpus, capsys):
    with pytest.raises(ConfigError, match="--case keep does not apply to k-mers"):
        TokeniseConfig(inputs=["a"], output="b", method="kmer", case="keep")
    with pytest.raises(ConfigError, match="--stride must be between 1 and k=3"):
        TokeniseConfig(inputs=["a"], output="b", k=3, stride=4)
    protein = write_text(tmp_path / "p.fa", ">p\nMKTAYIAKQRQISFVKSHFSRQ\n")
    with pytest.raises(ConfigError, match="k=6 over protein gives 64,000,000 k-mers"):
        train(protein, tmp_path / "p", method="kmer", k=6)
    with pytest.raises(InputError, match="not a genomeflow tokeniser"):
        GenomeTokenizer.load(tmp_path)
    code = main(["tokenise", str(tmp_path / "missing.fa"), "-o", str(tmp_path / "x")])
    assert code == 2 and "no such file" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_protein_char_vocabulary_with_case_kept(tmp_path):
    path = write_text(tmp_path / "p.faa", ">p1\nMKTAYIAKQR*\n>p2\nmktwyLLVEE\n")
    tokenizer = train(path, tmp_path / "t", method="char", case="keep")
    ids = sorted(tokenizer.vocabulary().values())
    assert ids == list(range(len(ids)))  # no letter twice, no gap in the ids
    assert tokenizer.tokens("mK*") == ["m", "K", "*"]
    assert tokenizer.alphabet.value == "protein"


def test_segments_too_long_for_the_unigram_trainer_are_refused():
    with pytest.raises(ConfigError, match="--segment-length 1000000 is above 100,000"):
        TokeniseConfig(inputs=["a"], output="b", segment_length=1_000_000)


def test_a_long_vocabulary_training_shows_signs_of_life_in_a_log(monkeypatch, caplog):
    import logging
    import time

    from genomeflow.tokenise import build

    monkeypatch.setattr(build, "HEARTBEAT_S", 0.5)  # seconds (15 in use)
    with (
        caplog.at_level(logging.INFO, logger=build.log.name),
        build._still_training("training the unigram vocabulary"),
    ):
        time.sleep(2.5)  # no terminal here: the bar is off, the log gets the beats
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.endswith("s so far") for line in lines), lines
    assert lines[-1].startswith("training the unigram vocabulary: done in")
