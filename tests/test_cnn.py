"""Convolutional classifiers on residues: encoding, one-hot table, padding, save/load, reverse
complement of ids, Integrated Gradients on the one-hot input, and learning a planted motif."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
import torch
import transformers

from genomeflow.errors import AlphabetError, ConfigError
from genomeflow.models.cnn import PRESETS, CnnConfig, CnnForSequenceClassification, build_cnn
from genomeflow.models.inference import Runtime, predict_windows
from genomeflow.models.residues import (
    complement_ids,
    encode,
    encode_sequence,
    one_hot_table,
    residue_stride,
    residue_vocabulary,
    residue_window_spans,
    residue_windows,
    reverse_complement_ids,
)
from genomeflow.models.windows import aggregate
from genomeflow.sequence.complement import reverse_complement
from genomeflow.train.loop import Schedule, Split, fit
from helpers import MOTIF, planted_records


def decode(ids, alphabet) -> str:
    vocabulary = residue_vocabulary(alphabet)
    return "".join(vocabulary[i] for i in ids if i != 0)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on 2 shared cores, 2 threads ran this model's steps ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_encoding_reads_iupac_codes_lowercase_gaps_and_protein():
    assert residue_vocabulary("dna")[:5] == ("<pad>", "A", "C", "G", "T")
    assert len(residue_vocabulary("dna")) == 17 and residue_vocabulary("rna")[4] == "U"
    ids = encode_sequence("ACGTNacgtnRYswkmBDHV-.", "dna")
    assert ids.dtype == np.int32 and decode(ids, "dna") == "ACGTNACGTNRYSWKMBDHV--"
    assert list(ids[:5]) == list(ids[5:10]) and ids[0] == 1
    assert decode(encode_sequence("acgu", "rna"), "rna") == "ACGU"
    protein = encode_sequence("MkvLX*BzJUO-", "protein")
    assert decode(protein, "protein") == "MKVLX*BZJUO-" and 0 not in protein
    with pytest.raises(AlphabetError, match="'X' at position 3"):
        encode_sequence("ACXT", "dna")
    ids, mask = encode(["ACGTAC", "GG", "TTTTTTTTTT"], "dna", 8)
    assert ids.shape == mask.shape == (3, 8) and ids.dtype == mask.dtype == np.int32
    assert mask.sum(axis=1).tolist() == [6, 2, 8] and ids[1, 2:].tolist() == [0] * 6


def test_one_hot_rows_are_fixed_fractions_and_complement_consistent():
    table = one_hot_table("dna")
    vocabulary = residue_vocabulary("dna")
    row = {residue: table[i] for i, residue in enumerate(vocabulary)}
    np.testing.assert_array_equal(row["A"], [1, 0, 0, 0])
    np.testing.assert_array_equal(row["T"], [0, 0, 0, 1])
    np.testing.assert_allclose(row["N"], [0.25] * 4)
    np.testing.assert_allclose(row["R"], [0.5, 0, 0.5, 0])  # A or G
    np.testing.assert_allclose(row["B"], [0, 1 / 3, 1 / 3, 1 / 3])  # not A
    assert not row["<pad>"].any() and not row["-"].any()
    np.testing.assert_allclose(table.sum(axis=1)[1:-1], 1, rtol=1e-6)
    np.testing.assert_array_equal(one_hot_table("rna"), table)  # U takes T's column
    # The complement of a code's bases is its complement code's bases (A<->T, C<->G).
    np.testing.assert_allclose(table[complement_ids("dna")], table[:, ::-1])
    with pytest.raises(AlphabetError):
        one_hot_table("protein")

    model = build_cnn("dna", "tiny", ["a", "b"], 64, 0.0, seed=1)
    embedding = model.get_input_embeddings()
    assert not list(embedding.parameters())  # a buffer: never trained, never weight-decayed
    out = embedding(torch.as_tensor(encode_sequence("AN-", "dna")).long())
    np.testing.assert_allclose(out.numpy(), [[1, 0, 0, 0], [0.25] * 4, [0] * 4])


@pytest.mark.parametrize("alphabet, bins", [("dna", 0), ("protein", 0), ("dna", 3)])
def test_padding_changes_neither_pooling_nor_batch_norm(alphabet, bins):
    residues = "ACGTTGCANACGGT" if alphabet == "dna" else "MKVLAYWQRST"
    model = build_cnn(alphabet, "tiny", ["a", "b", "c"], 64, 0.0, seed=3, position_bins=bins)
    tight, tight_mask = (torch.as_tensor(a).long() for a in encode([residues], alphabet, 64))
    loose = torch.nn.functional.pad(tight, (0, 29))  # 29 more pad ids at the end
    loose_mask = torch.nn.functional.pad(tight_mask, (0, 29))
    for training in (False, True):  # eval: running stats; train: masked batch statistics
        model.train(training)
        expected = model(input_ids=tight, attention_mask=tight_mask).logits
        for mask in (loose_mask, None):  # None: the mask is ids != pad
            got = model(input_ids=loose, attention_mask=mask).logits
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_save_and_load_give_identical_logits(tmp_path):
    model = build_cnn("dna", "tiny", ["promoter", "background"], 128, 0.1, seed=7)
    ids, mask = (
        torch.as_tensor(a).long() for a in encode(["ACGTNRTATAAT" * 5, "GGCa"], "dna", 128)
    )
    model.train()
    model(input_ids=ids, attention_mask=mask)  # move the batch-norm running statistics
    model.eval()
    expected = model(input_ids=ids, attention_mask=mask).logits
    model.save_pretrained(tmp_path, safe_serialization=True)
    assert (tmp_path / "model.safetensors").is_file()
    for loader in (CnnForSequenceClassification, transformers.AutoModelForSequenceClassification):
        loaded = loader.from_pretrained(tmp_path).eval()
        assert isinstance(loaded, CnnForSequenceClassification)
        assert loaded.config.id2label == {0: "promoter", 1: "background"}
        assert loaded.config.max_position_embeddings == 128 and loaded.config.pad_token_id == 0
        torch.testing.assert_close(loaded(input_ids=ids, attention_mask=mask).logits, expected)
    config = transformers.AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, CnnConfig) and config.model_type == "genomeflow-cnn"

    protein = build_cnn("protein", "tiny", ["x", "y"], 32, 0.1, seed=7).eval()
    ids = torch.as_tensor(encode(["MKV*LX"], "protein", 32)[0]).long()
    protein.save_pretrained(tmp_path / "protein")
    loaded = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "protein")
    torch.testing.assert_close(loaded.eval()(input_ids=ids).logits, protein(input_ids=ids).logits)


def test_presets_and_config_checks():
    sizes = {name: sum(p.numel() for p in build_cnn("dna", name, "ab", 64).parameters())
             for name in PRESETS}  # fmt: skip
    assert sizes["tiny"] < sizes["small"] < sizes["base"] < 10_000_000
    assert CnnConfig(blocks=4).dilations == [1, 2, 4, 8]
    with pytest.raises(ConfigError, match="odd"):
        CnnConfig(kernel_size=8)
    with pytest.raises(ConfigError, match="unknown CNN preset"):
        build_cnn("dna", "huge", "ab")
    with pytest.raises(ConfigError, match="position_bins"):
        CnnConfig(position_bins=-1)


def test_reverse_complement_ids_matches_genomeflow_and_is_an_involution():
    rng = random.Random(5)
    sequences = ["".join(rng.choice("ACGTNRYSWKMBDHVacgtn-") for _ in range(rng.randint(1, 30)))
                 for _ in range(12)]  # fmt: skip
    ids, mask = encode(sequences, "dna", 64)
    flipped = reverse_complement_ids(ids, mask, "dna")
    assert isinstance(flipped, np.ndarray) and flipped.dtype == ids.dtype
    for row, sequence in zip(flipped, sequences, strict=True):
        assert decode(row, "dna") == reverse_complement(sequence, "dna").upper().replace(".", "-")
    np.testing.assert_array_equal(flipped == 0, mask == 0)  # padding stays at the end
    np.testing.assert_array_equal(reverse_complement_ids(flipped, mask, "dna"), ids)
    tensor = torch.as_tensor(ids).long()
    assert torch.equal(reverse_complement_ids(tensor, mask, "dna"), torch.as_tensor(flipped).long())
    twice = reverse_complement_ids(reverse_complement_ids(tensor, None, "dna"), None, "dna")
    assert torch.equal(twice, tensor)
    rna, rna_mask = encode(["ACGUUN", "GA"], "rna", 8)
    assert decode(reverse_complement_ids(rna, rna_mask, "rna")[0], "rna") == "NAACGU"
    with pytest.raises(AlphabetError):
        reverse_complement_ids(ids, mask, "protein")


def test_residue_windows_cover_long_sequences():
    long = "".join(random.Random(1).choice("ACGT") for _ in range(90))
    windows = residue_windows([long, "ACGT"], "dna", 40, 0)  # stride: half a window
    assert [len(w) for w in windows.input_ids] == [40, 40, 40, 40, 4]
    assert windows.owner.tolist() == [0, 0, 0, 0, 1] and windows.sequences == 2
    assert decode(windows.input_ids[3], "dna") == long[50:]  # the last one ends at the end
    assert decode(windows.input_ids[2], "dna") == long[40:80]
    assert residue_window_spans(90, 40, 0) == [(0, 40), (20, 60), (40, 80), (50, 90)]
    assert residue_window_spans(30, 40, 0) == [(0, 30)] and residue_stride(40, 100) == 40


def test_integrated_gradients_on_the_one_hot_input_is_complete():
    from captum.attr import LayerIntegratedGradients

    model = build_cnn("dna", "tiny", ["a", "b"], 64, 0.0, seed=2).eval()
    ids, mask = (torch.as_tensor(a).long() for a in encode(["ACGTTATAATGC", "GGNACT"], "dna", 64))

    def probability(input_ids, attention_mask):
        return torch.softmax(model(input_ids=input_ids, attention_mask=attention_mask).logits, -1)

    ig = LayerIntegratedGradients(probability, model.get_input_embeddings())
    scores, delta = ig.attribute(ids, torch.zeros_like(ids), target=1,
                                 additional_forward_args=(mask,), n_steps=64,
                                 return_convergence_delta=True)  # fmt: skip
    assert scores.shape == (2, ids.shape[1], 4)
    assert float(delta.abs().max()) < 0.02
    assert not scores[1, 6:].any()  # padding gets nothing


@pytest.mark.slow
def test_planted_motif_is_learned_through_the_training_loop():
    def split(count: int, seed: int) -> tuple[list[str], np.ndarray]:
        positives = planted_records(count, 100, seed, MOTIF)
        negatives = planted_records(count, 100, seed + 1, None)
        return [s for _, s in positives + negatives], np.repeat([0, 1], count)

    names = ["motif", "background"]
    windows = {}
    labels = {}
    # 240 a class: with 80, held-out accuracy ranged 0.87-0.94 over initialisation seeds, and a
    # fresh install fell to 0.87 at the seed an earlier one passed with; 240: 0.94-0.98, 6 seeds
    for name, (count, seed) in {"train": (240, 11), "valid": (20, 21), "test": (50, 31)}.items():
        sequences, labels[name] = split(count, seed)
        windows[name] = residue_windows(sequences, "dna", 128)
    model = build_cnn("dna", "tiny", names, 128, 0.1, seed=0)
    schedule = Schedule(epochs=10, batch_size=16, learning_rate=1e-2, weight_decay=0.01,
                        warmup_ratio=0.1, gradient_clip=1.0, patience=0, metric="accuracy",
                        seed=0, max_length=128)  # fmt: skip
    runtime = Runtime.resolve("cpu", "fp32")
    began = time.perf_counter()
    result = fit(model, Split(windows["train"], labels["train"]),
                 Split(windows["valid"], labels["valid"]), names, schedule, runtime)  # fmt: skip
    seconds = time.perf_counter() - began
    probabilities = aggregate(predict_windows(model, windows["test"], 64, runtime), windows["test"])
    accuracy = float((probabilities.argmax(axis=1) == labels["test"]).mean())
    print(f"CNN tiny: {seconds:.1f} s for {len(result.history)} epochs, valid accuracy "
          f"{result.best_value:.3f}, held-out accuracy {accuracy:.3f}")  # fmt: skip
    assert result.best_value >= 0.9 and accuracy >= 0.9


def test_position_bins_tell_where_a_motif_sits():
    """Both classes carry the motif, in the first or the last third of the sequence, beyond
    the reach of the ends: position-free pooling cannot tell them apart, binned pooling can."""
    length, motif = 120, "TATAATGC"

    def split(count: int, seed: int) -> tuple[list[str], np.ndarray]:
        rng = random.Random(seed)
        sequences, labels = [], []
        for i in range(2 * count):
            bases = [rng.choice("ACGT") for _ in range(length)]
            at = rng.randrange(20, 40 - len(motif)) + (60 if i % 2 else 0)
            bases[at : at + len(motif)] = motif
            sequences.append("".join(bases))
            labels.append(i % 2)
        return sequences, np.asarray(labels)

    data = {name: split(count, seed) for name, count, seed in
            (("train", 100, 1), ("valid", 25, 2), ("test", 50, 3))}  # fmt: skip
    windows = {name: residue_windows(s, "dna", length) for name, (s, _) in data.items()}
    schedule = Schedule(epochs=12, batch_size=16, learning_rate=1e-2, weight_decay=0.0,
                        warmup_ratio=0.1, gradient_clip=1.0, patience=0, metric="accuracy",
                        seed=0, max_length=length)  # fmt: skip
    runtime = Runtime.resolve("cpu", "fp32")
    accuracy = {}
    for bins in (0, 4):
        # one block of kernel 5: each feature sees 9 residues, never an end from the motif
        config = CnnConfig(alphabet="dna", channels=16, blocks=1, kernel_size=5, dropout=0.0,
                           position_bins=bins, num_labels=2)  # fmt: skip
        torch.manual_seed(0)
        model = CnnForSequenceClassification(config)
        train, valid = (Split(windows[n], data[n][1]) for n in ("train", "valid"))
        fit(model, train, valid, ["early", "late"], schedule, runtime)
        scores = aggregate(predict_windows(model, windows["test"], 64, runtime), windows["test"])
        accuracy[bins] = float((scores.argmax(axis=1) == data["test"][1]).mean())
    print(f"test accuracy: position-free {accuracy[0]:.3f}, 4 bins {accuracy[4]:.3f}")
    assert accuracy[4] >= 0.9 and accuracy[0] <= 0.7
