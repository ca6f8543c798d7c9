"""The classic baselines: features, models, sweep, CV, saving without pickle, and predict."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from genomeflow.cli import main
from genomeflow.config import BaselineConfig, PredictConfig
from genomeflow.data import grouped_folds, load_dataset
from genomeflow.errors import ConfigError, InputError
from genomeflow.models.baseline import BaselineClassifier
from genomeflow.predict import predict_files
from genomeflow.train.baseline import train_baseline
from helpers import MOTIF, fasta_text, make_dataset, planted_records, write_text

pytestmark = pytest.mark.slow


def fit(dataset: str, output: Path, **settings) -> dict[str, float]:
    if settings.get("model", "rf") == "rf":
        settings.setdefault("params", ["n_estimators=100"])  # forests of 100 trees suffice here
    config = BaselineConfig(dataset=dataset, output=str(output), folds=0, **settings)
    return train_baseline(config).metrics()


@pytest.mark.parametrize(
    ("features", "model"), [("count", "rf"), ("tfidf", "xgb"), ("tfidf", "logreg")]
)
def test_planted_motif_is_learned_and_shuffled_labels_are_not(
    planted, shuffled, tmp_path, features, model
):
    learned = fit(planted, tmp_path / "m", features=features, model=model)
    assert learned["test_roc_auc"] > 0.9 and learned["valid_f1_macro"] > 0.8
    chance = fit(shuffled, tmp_path / "s", features=features, model=model)
    assert chance["test_roc_auc"] < 0.75
    assert learned["test_roc_auc"] - chance["test_roc_auc"] > 0.25


def test_word2vec_is_trained_on_train_and_saved_without_pickle(planted, tmp_path):
    output = tmp_path / "w2v"
    metrics = fit(planted, output, features="word2vec", model="rf", vector_size=16, window=3)
    assert 0 <= metrics["test_accuracy"] <= 1
    manifest = json.loads((output / "baseline.json").read_text())
    assert manifest["features"]["kind"] == "word2vec"
    assert (output / "word2vec.bin").read_bytes()[:8].split(b" ")[0].isdigit()  # C format header
    assert not list(output.rglob("*.pkl")) and not list(output.rglob("*.pickle"))
    table = pd.read_csv(output / "reports" / "importance.tsv", sep="\t")
    assert table["feature"].str.match(r"(mean|max)_\d+").all()


def test_onehot_learns_a_positional_motif(tmp_path):
    positives = [
        (f"pos{i}", sequence[:17] + MOTIF + sequence[23:])  # the motif at 1-based 18-23
        for i, (_, sequence) in enumerate(planted_records(80, 40, 4, None))
    ]
    negatives = planted_records(80, 40, 5, None)
    dataset = make_dataset(tmp_path, positives, negatives)
    metrics = fit(dataset, tmp_path / "onehot", features="onehot", model="logreg")
    assert metrics["test_roc_auc"] > 0.9
    table = pd.read_csv(tmp_path / "onehot" / "reports" / "importance.tsv", sep="\t")
    top = table["feature"].head(6).str.extract(r"pos(\d+)_")[0].astype(int)
    assert top.between(18, 23).all()  # the motif's positions matter most


def test_model_folder_predicts_fasta_and_matches_training(planted, tmp_path):
    output = tmp_path / "model"
    fit(planted, output, features="tfidf", model="xgb", params=["n_estimators=50"])
    assert (output / "model.ubj").is_file() and (output / "featuriser.skops").is_file()
    fasta = write_text(
        tmp_path / "new.fa.gz",
        fasta_text(planted_records(10, 60, 11, MOTIF) + planted_records(10, 60, 12, None)),
        gz=True,
    )
    table_path = tmp_path / "pred.csv"
    summary = predict_files(
        PredictConfig(model=str(output), inputs=[str(fasta)], output=str(table_path))
    )
    table = pd.read_csv(table_path)
    assert summary.rows == 20 and list(table.columns) == [
        "id",
        "file",
        "label",
        "probability",
        "p_promoter",
        "p_background",
    ]
    assert (table["p_promoter"] + table["p_background"]).round(6).eq(1).all()
    positives = table["id"].str.startswith("pos")
    assert (table.loc[positives, "label"] == "promoter").mean() >= 0.8
    # The saved model scores the dataset's test rows as it did during training.
    data = load_dataset(planted)
    again = BaselineClassifier(output).predict_proba(data.splits["test"]["sequence"].tolist())
    from genomeflow.evaluate import evaluate_predictions

    scored = evaluate_predictions(data.splits["test"]["label"].to_numpy(), again, data.label_names)
    manifest = json.loads((output / "baseline.json").read_text())
    assert scored.metrics["roc_auc"] == pytest.approx(manifest["metrics"]["test_roc_auc"])
    rc = tmp_path / "rc.parquet"
    predict_files(
        PredictConfig(
            model=str(output), inputs=[str(fasta)], output=str(rc), reverse_complement=True
        )
    )
    assert len(pd.read_parquet(rc)) == 20


def test_cross_validation_folds_are_grouped_and_reported(planted, tmp_path):
    data = load_dataset(planted)
    frame = pd.concat([data.splits["train"], data.splits["valid"]], ignore_index=True)
    folds = grouped_folds(frame["label"].tolist(), frame["group"].tolist(), 4, 42)
    for train_rows, held_rows in folds:
        assert not set(frame["group"].iloc[train_rows]) & set(frame["group"].iloc[held_rows])
    assert sorted(i for _, held in folds for i in held) == list(range(len(frame)))
    output = tmp_path / "cv"
    config = BaselineConfig(dataset=planted, output=str(output), features="count", folds=4)
    metrics = train_baseline(config).metrics()
    table = pd.read_csv(output / "reports" / "cv_folds.tsv", sep="\t")
    assert list(table["fold"]) == [1, 2, 3, 4]
    assert metrics["cv_roc_auc_mean"] == pytest.approx(table["roc_auc"].mean(), rel=1e-4)
    assert metrics["cv_roc_auc_sd"] == pytest.approx(table["roc_auc"].std(), rel=1e-4)
    assert (output / "reports" / "cv.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_tunes_on_valid_and_records_best(planted, tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "method: bayes\n"
        "metric: {name: eval/f1, goal: maximize}\n"
        "parameters:\n"
        "  max_depth: {values: [1, 2, 4]}\n"
        "  n_estimators: {distribution: int_uniform, min: 10, max: 60}\n"
        "early_terminate: {type: hyperband, s: 1, eta: 2, max_iter: 4}\n"
    )
    output = tmp_path / "swept"
    config = BaselineConfig(
        dataset=planted, output=str(output), model="xgb", sweep=str(spec), trials=6, folds=0
    )
    summary = train_baseline(config)
    best = json.loads((output / "reports" / "sweep" / "best_params.json").read_text())
    assert summary.params["max_depth"] == best["params"]["max_depth"]
    assert summary.sweep_best == pytest.approx(best["best_value"])
    trials = pd.read_csv(output / "reports" / "sweep" / "trials.csv")
    assert len(trials) == 6


def test_bad_settings_are_one_line_errors(planted, tmp_path, capsys):
    with pytest.raises(ConfigError, match="epochs: not rf hyperparameter"):
        fit(planted, tmp_path / "x", params=["epochs=3"])
    with pytest.raises(ConfigError, match="not name=value"):
        BaselineConfig(dataset=planted, output="x", params=["depth"])
    with pytest.raises(InputError, match="not a genomeflow dataset"):
        fit(str(tmp_path), tmp_path / "y")
    assert not (tmp_path / "x").exists()  # no half-written model folder
    code = main(["baseline", planted, "-o", str(tmp_path / "z"), "--params", "n_estimators=-1"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad hyperparameter value" in err
    sweep = tmp_path / "bad_sweep.json"
    sweep.write_text(
        json.dumps(
            {
                "method": "random",
                "metric": {"name": "eval/f1"},
                "parameters": {"epochs": {"values": [1, 2]}},
            }
        )
    )
    with pytest.raises(ConfigError, match="epochs: not rf hyperparameter"):
        fit(planted, tmp_path / "w", sweep=str(sweep))


def test_cli_baseline_then_predict(planted, tmp_path, capsys):
    model = tmp_path / "cli_model"
    args = ["baseline", planted, "-o", str(model), "--features", "count", "--folds", "3"]
    assert main([*args, "--tracking-uri", "none"]) == 0
    out = capsys.readouterr().out
    assert "cv (3 folds)" in out and "roc_auc" in out
    fasta = write_text(tmp_path / "q.fa", fasta_text(planted_records(5, 60, 9, MOTIF)))
    table = tmp_path / "q.tsv"
    assert (
        main(["predict", str(model), str(fasta), "-o", str(table), "--tracking-uri", "none"]) == 0
    )
    assert "scored 5 sequences" in capsys.readouterr().out
    assert len(pd.read_csv(table, sep="\t")) == 5


def test_predict_streams_batches_into_one_table_and_its_bar_knows_the_total(
    planted, tmp_path, monkeypatch
):
    import pyarrow.parquet as pq

    import genomeflow.predict

    bars = []

    class Recorded(genomeflow.predict.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.counted = 0  # a disabled bar (no terminal) counts nothing itself
            bars.append(self)

        def update(self, n=1):
            self.counted += n
            return super().update(n)

    monkeypatch.setattr(genomeflow.predict, "tqdm", Recorded)
    model = tmp_path / "model"
    untracked = ["--tracking-uri", "none"]
    assert main(["baseline", planted, "-o", str(model), "--folds", "0", *untracked]) == 0
    fasta = write_text(tmp_path / "q.fa", fasta_text(planted_records(7, 60, 9, MOTIF)))
    read = {
        ".csv": pd.read_csv,
        ".tsv": lambda f: pd.read_csv(f, sep="\t"),
        ".parquet": pd.read_parquet,
    }
    tables = {}
    for suffix, batch in [(s, b) for s in read for b in ("3", "1024")]:
        output = tmp_path / f"q{batch}{suffix}"
        args = ["predict", str(model), str(fasta), "-o", str(output), "--batch-size", batch]
        assert main([*args, *untracked]) == 0
        assert bars[-1].total == bars[-1].counted == 7  # the total (and ETA) known from the start
        tables[suffix, batch] = read[suffix](output)
        assert list(tables[suffix, batch]["id"]) == [f"pos{i}" for i in range(7)], suffix
    assert pq.ParquetFile(tmp_path / "q3.parquet").num_row_groups == 3  # 3 + 3 + 1, as scored
    first = tables[".csv", "1024"]
    for table in tables.values():  # batch by batch or at once, any format: the same rows
        pd.testing.assert_frame_equal(table, first, check_dtype=False)
    assert not list(tmp_path.glob("*partial*"))  # no temporary file left beside the tables


def test_predict_names_a_repeated_id_from_hashes_and_lets_colliding_ones_through(
    planted, tmp_path, capsys, monkeypatch
):
    """predict's first pass keeps 8 bytes a record to find repeated ids, not the ids; equal
    hashes send the files through the exact check, which names a real repeat and nothing else."""
    import genomeflow.data.columns as columns

    model = tmp_path / "model"
    untracked = ["--tracking-uri", "none"]
    assert main(["baseline", planted, "-o", str(model), "--folds", "0", *untracked]) == 0
    first = write_text(tmp_path / "a.fa", fasta_text(planted_records(4, 60, 9, MOTIF)))
    second = write_text(tmp_path / "b.fa", fasta_text([("x", "ACGT" * 15), ("pos2", "A" * 60)]))
    table = tmp_path / "scores.csv"
    args = ["predict", str(model), str(first), str(second), "-o", str(table), *untracked]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert f"{second}: record #2 repeats the id 'pos2' of {first}" in error
    assert error.count("\n") == 1 and not table.exists()
    assert main([*args, "--allow-duplicate-ids"]) == 0
    monkeypatch.setattr(columns, "id_hash", lambda record_id: 0)  # every hash collides
    write_text(second, fasta_text([("x", "ACGT" * 15)]))
    table.unlink()
    assert main(args) == 0 and len(pd.read_csv(table)) == 5


@pytest.mark.integration
def test_tracked_baseline_logs_metrics_reports_and_trial_runs(planted, live, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")  # seconds; a stage of 10+

    spec = tmp_path / "sweep.json"
    spec.write_text(
        json.dumps(
            {
                "method": "random",
                "metric": {"name": "eval/f1", "goal": "maximize"},
                "parameters": {"max_depth": {"values": [2, 4]}},
            }
        )
    )
    args = ["baseline", planted, "-o", str(tmp_path / "tracked"), "--model", "xgb"]
    args += ["--sweep", str(spec), "--trials", "2", "--folds", "2", "--experiment", "t-baseline"]
    assert main(args) == 0
    client = MlflowClient(live["mlflow"]["uri"])
    experiment = client.get_experiment_by_name("t-baseline")
    runs = client.search_runs([experiment.experiment_id])
    (stage,) = [r for r in runs if r.data.tags.get("genomeflow.stage") == "baseline"]
    assert stage.info.run_name == "baseline tfidf+xgb"  # the run's name says what ran
    assert stage.data.tags["mlflow.source.name"] == "genomeflow baseline"
    contexts = {t.value for i in stage.inputs.dataset_inputs for t in i.tags}
    assert contexts == {"train", "validation", "test"}  # the dataset, not the sweep spec
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == stage.info.run_id]
    assert sorted(r.info.run_name for r in trials) == ["trial-0", "trial-1"]
    for name in (
        "test_f1_macro",
        "valid_roc_auc",
        "cv_mcc_mean",
        "sweep_best_value",
        "system/system_memory_usage_megabytes",  # sampled while a long stage runs
    ):
        assert name in stage.data.metrics
    logged = {a.path for a in client.list_artifacts(stage.info.run_id, "reports")}
    assert {"reports/test_roc.png", "reports/cv_folds.tsv", "reports/sweep"} <= logged
