"""Model comparison (weightwatcher) and run summaries (tiny transformers, real MLflow)."""

from __future__ import annotations

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genomeflow.cli import main
from genomeflow.compare.analysis import LAYER_COLUMNS, MIN_EVALS, analyse_model
from genomeflow.compare.stage import compare_models
from genomeflow.compare.summarise import summarise_runs
from genomeflow.config import CompareConfig, SummariseConfig, TrainConfig
from genomeflow.errors import ConfigError, InputError
from genomeflow.metric_names import metric_choice
from genomeflow.storage import OUTPUT_MARKER
from genomeflow.train.train import train_model

pytestmark = pytest.mark.slow

FAST = {"preset": "tiny", "epochs": 1, "learning_rate": 2e-3, "batch_size": 16, "patience": 0}
PRUNED = "distilbert.transformer.layer.0.attention.q_lin"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def models(planted, tmp_path_factory) -> list[str]:
    """Two tiny models of one recipe whose weights differ by their seed."""
    base = tmp_path_factory.mktemp("models")
    return [
        train_model(
            TrainConfig(dataset=planted, output=str(base / f"seed{seed}"), seed=seed, **FAST)
        ).output
        for seed in (1, 2)
    ]


def _edited_copy(model: str, target: Path, zero) -> str:
    """A copy of a model folder whose weight tensors named by ``zero(name)`` are all zeros."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(model, target)
    weights = load_file(target / "model.safetensors")
    for name, tensor in weights.items():
        if zero(name):
            weights[name] = tensor.new_zeros(tensor.shape)
    save_file(weights, target / "model.safetensors", metadata={"format": "pt"})
    return str(target)


def _from_experiment(experiment: str, metric: str, output: Path, group_by: str = "stage"):
    """The settings of ``genomeflow summarise --from-experiment EXPERIMENT``."""
    return SummariseConfig(
        output=str(output), from_experiment=experiment, metric=metric, group_by=group_by
    )


class _Page(HTMLParser):
    """Checks that every opened element is closed in order; keeps the text and images."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.mismatched: list[str] = []
        self.text: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.mismatched.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_models_with_different_weights_give_different_layer_tables(models):
    first, second = (analyse_model(model) for model in models)
    assert (first.name, second.name) == ("seed1", "seed2")
    for analysis in (first, second):
        table = analysis.layers
        assert list(table.columns) == list(LAYER_COLUMNS)
        # tiny DistilBERT: 2 embeddings, 2 x 6 attention/FFN matrices, the pre-classifier
        assert len(table) == 15 and PRUNED in set(table["name"])
        assert table["num_evals"].min() == 64 >= MIN_EVALS  # 64 x 64 layers are analysed
        assert (table["alpha"] > 0).all() and table["stable_rank"].notna().all()
        assert set(table["model"]) == {analysis.name}
        # the 2 x 64 classifier head has 2 eigenvalues: skipped by design, not a failure
        assert [p.name for p in analysis.skipped] == ["classifier"] and not analysis.failures
        summary = analysis.summary
        assert summary["analysed"] == 15 and summary["skipped"] == 1
        assert summary["architecture"] == "distilbert" and summary["preset"] == "tiny"
        assert summary["alpha_mean"] == pytest.approx(table["alpha"].mean())
        inside = table["alpha"].between(2, 6).sum()
        assert summary["alpha_in_band_share"] == pytest.approx(inside / 15)
    assert list(first.layers["name"]) == list(second.layers["name"])
    assert not np.allclose(first.layers["alpha"], second.layers["alpha"])
    assert first.summary["alpha_mean"] != second.summary["alpha_mean"]
    again = analyse_model(models[0])  # the same weights, the same numbers
    pd.testing.assert_frame_equal(again.layers, first.layers)


def test_compare_writes_tables_plots_and_a_self_contained_report(models, tmp_path):
    output = tmp_path / "compare"
    names = ["seed one", "seed <two>"]
    summary = compare_models(CompareConfig(models=models, output=str(output), names=names))
    expected = {
        "layers.tsv",
        "summary.tsv",
        "alpha_histogram.png",
        "alpha_by_layer.png",
        "report.md",
        "report.html",
        "compare.json",
    }
    assert set(summary.files) == expected
    assert {p.name for p in output.iterdir()} == expected | {OUTPUT_MARKER}  # genomeflow's
    layers = pd.read_csv(output / "layers.tsv", sep="\t")
    assert list(layers["model"].unique()) == names and len(layers) == 30
    table = pd.read_csv(output / "summary.tsv", sep="\t")
    assert list(table["model"]) == names
    assert {"alpha_mean", "alpha_weighted_mean", "log_norm_mean", "stable_rank_mean"} <= set(
        table.columns
    )
    assert table["alpha_in_band_share"].between(0, 1).all()
    plots = {name: (output / name).read_bytes() for name in expected if name.endswith(".png")}
    assert all(png.startswith(PNG_MAGIC) for png in plots.values())
    markdown = (output / "report.md").read_text()
    assert all(name in markdown for name in names) and "2-6 band" in markdown
    assert "Martin" in markdown and "classifier" in markdown  # sources; the skipped head

    page = _Page()
    page.feed((output / "report.html").read_text())
    page.close()
    assert not page.mismatched and not page.open, (page.mismatched, page.open)
    text = " ".join(page.text)
    assert all(name in text for name in names)  # "<two>" escaped in the page, read back
    assert "which the weightwatcher authors associate with well-trained layers" in text
    embedded = sorted(base64.b64decode(image["src"].split(",", 1)[1]) for image in page.images)
    assert embedded == sorted(plots.values())  # the PNGs themselves: no file beside needed
    record = json.loads((output / "compare.json").read_text())
    assert record["settings"]["min_evals"] == MIN_EVALS
    assert summary.metrics()["seed one.alpha_mean"] == pytest.approx(table["alpha_mean"][0])


def test_a_pruned_layer_is_reported_and_the_rest_analysed(models, tmp_path):
    pruned = _edited_copy(models[0], tmp_path / "pruned", lambda name: name == f"{PRUNED}.weight")
    analysis = analyse_model(pruned)
    (failure,) = analysis.failures
    assert failure.name == PRUNED and "all zeros" in failure.reason
    assert PRUNED not in set(analysis.layers["name"]) and len(analysis.layers) == 14
    output = tmp_path / "report"
    compare_models(CompareConfig(models=[models[0], pruned], output=str(output)))
    for report in ("report.md", "report.html"):
        text = (output / report).read_text()
        assert PRUNED in text and "all zeros" in text and "1 layer could not be analysed" in text


def test_unusable_models_are_one_line_input_errors_naming_them(models, tmp_path):
    dead = _edited_copy(models[0], tmp_path / "dead", lambda name: name.endswith(".weight"))
    with pytest.raises(InputError, match=r"^dead \(.*could analyse none of its 16"):
        analyse_model(dead)
    with pytest.raises(InputError, match=r"no config\.json"):
        analyse_model(str(tmp_path))
    broken = tmp_path / "broken"
    shutil.copytree(models[0], broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(InputError, match="broken: the transformer weights could not be loaded"):
        compare_models(CompareConfig(models=[models[0], str(broken)], output=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match=r"one name per model \(1\), got 2"):
        compare_models(
            CompareConfig(models=[models[0]], output=str(tmp_path / "out"), names=["a", "b"])
        )


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("f1_macro", ("f1_macro", None)),
        ("test_f1_macro", ("f1_macro", "test")),
        ("held_mcc", ("mcc", "cv")),
        ("cv_roc_auc_mean", ("roc_auc", "cv")),
        ("eval/f1", ("f1_macro", "valid")),
        ("valid_f1_macro", ("f1_macro", "valid")),
        ("AUC", ("roc_auc", None)),
    ],
)
def test_metric_names_are_read_as_users_write_them(written, meant):
    assert metric_choice(written) == meant


def test_summarise_folders_and_the_experiment_they_were_tracked_in(planted, live, tmp_path):
    """Two trained models and a 2-fold crossval, tracked in one experiment: the folders and
    the experiment give the same values; a swept, cross-validated baseline joins them."""
    tracked = ["--preset", "tiny", "--epochs", "1", "--batch-size", "16", "--patience", "0"]
    tracked += ["--learning-rate", "0.002", "--experiment", "exp-x"]
    folders = [str(tmp_path / name) for name in ("m1", "m2", "cv")]
    for seed, folder in zip((1, 2), folders[:2], strict=True):
        assert main(["train", planted, "-o", folder, "--seed", str(seed), *tracked]) == 0
    assert main(["crossval", planted, "-o", folders[2], "--folds", "2", *tracked]) == 0

    from_folders = summarise_runs(
        SummariseConfig(output=str(tmp_path / "folders"), folders=folders)
    )
    runs = pd.read_csv(tmp_path / "folders" / "runs.tsv", sep="\t")
    assert list(runs.columns[:8]) == [
        "group",
        "method",
        "split",
        "source",
        "name",
        "stage",
        "fold",
        "f1_macro",
    ]
    assert list(runs["split"]) == ["test", "test", "cv", "cv"]
    assert set(runs["method"]) == {"distilbert-tiny"} and list(runs["fold"][2:]) == [1, 2]
    assert {"roc_auc", "mcc"} <= set(runs.columns)  # every metric of those evaluations
    summary = pd.read_csv(tmp_path / "folders" / "summary.tsv", sep="\t")
    assert list(summary["split"]) == ["cv", "test"] and list(summary["n"]) == [2, 2]
    assert (tmp_path / "folders" / "f1_macro.png").read_bytes().startswith(PNG_MAGIC)
    assert from_folders.rows == 4 and from_folders.metrics() == {"rows": 4, "groups": 2}

    from_mlflow = summarise_runs(_from_experiment("exp-x", "roc_auc", tmp_path / "mlflow"))
    runs = pd.read_csv(tmp_path / "mlflow" / "runs.tsv", sep="\t")
    assert runs["source"].str.startswith("mlflow:").all() and from_mlflow.rows == 4
    assert sorted(runs["stage"]) == ["crossval", "crossval", "train", "train"]
    assert sorted(runs.loc[runs["split"] == "cv", "fold"]) == [1, 2]  # the fold child runs
    folder_values = pd.read_csv(tmp_path / "folders" / "runs.tsv", sep="\t")
    for split in ("test", "cv"):
        ours = sorted(runs.loc[runs["split"] == split, "roc_auc"])
        theirs = sorted(folder_values.loc[folder_values["split"] == split, "roc_auc"])
        np.testing.assert_allclose(ours, theirs, atol=1e-5)  # TSV keeps 6 digits

    # A swept, cross-validated baseline: its test value, its folds (read from its artifacts)
    # and its sweep trials (valid split, the spec's metric "eval/f1").
    spec = tmp_path / "sweep.json"
    spec.write_text(
        json.dumps(
            {
                "method": "grid",
                "metric": {"name": "eval/f1", "goal": "maximize"},
                "parameters": {"C": {"values": [0.5, 2.0]}},
            }
        )
    )
    baseline = ["baseline", planted, "-o", str(tmp_path / "b"), "--model", "logreg"]
    baseline += ["--folds", "2", "--sweep", str(spec), "--experiment", "exp-x"]
    assert main(baseline) == 0
    everything = summarise_runs(_from_experiment("exp-x", "f1", tmp_path / "all"))
    runs = pd.read_csv(tmp_path / "all" / "runs.tsv", sep="\t")
    mine = runs[runs["method"] == "tfidf+logreg"]
    assert sorted(mine["split"]) == ["cv", "cv", "test", "valid", "valid"]
    assert sorted(mine.loc[mine["split"] == "valid", "stage"]) == ["sweep-trial"] * 2
    assert list(everything.summary["group"]) == ["distilbert-tiny"] * 2 + ["tfidf+logreg"] * 3

    by_seed = summarise_runs(_from_experiment("exp-x", "test_auc", tmp_path / "seeds", "seed"))
    assert list(by_seed.summary["group"]) == ["1", "2", "42"] and by_seed.split == "test"
    with pytest.raises(InputError, match=r"no experiment 'exp-y'.*exp-x"):
        summarise_runs(_from_experiment("exp-y", "f1_macro", tmp_path / "none"))


def test_summarise_errors_say_what_is_there(models, tmp_path):
    output = str(tmp_path / "out")

    def summarise(folders, metric, group_by="stage"):
        config = SummariseConfig(output=output, folders=folders, metric=metric, group_by=group_by)
        return summarise_runs(config)

    with pytest.raises(InputError, match=r"no cv_f1_macro in 2 folder\(s\); metrics found: "):
        summarise(models, "held_f1_macro")
    with pytest.raises(InputError, match="test_f1_macro"):  # ...listing what is there
        summarise(models, "held_f1_macro")
    with pytest.raises(InputError, match=r"no run or folder has that parameter; .*seed"):
        summarise(models, "f1_macro", group_by="tokeniser_size")
    with pytest.raises(InputError, match="not a genomeflow result folder"):
        summarise([str(tmp_path)], "f1_macro")
    with pytest.raises(ConfigError, match="give result folders and/or --from-experiment"):
        summarise([], "f1_macro")  # nothing to summarise
    with pytest.raises(ConfigError, match="unknown metric 'bogus'"):
        summarise(models, "bogus")
    assert not Path(output).exists()
