"""Training on two processes for real: DistributedDataParallel over gloo on the CPU, launched by
``genomeflow train --nproc 2``; resume across process counts; errors of the processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from genomeflow.cli import main

pytestmark = pytest.mark.slow

# Dropout off: then the only differences between one process and two with the same global batch
# are the order of float sums and the weighting of a last batch split unevenly.
COMMON = ["--preset", "tiny", "--patience", "0", "--batch-size", "16", "--learning-rate", "2e-3"]
COMMON += ["--dropout", "0", "--seed", "5", "--tracking-uri", "none"]
FLAGS = [*COMMON, "--epochs", "3"]
LOSS_TOLERANCE = 0.005  # valid and test log loss (nats); equal to 5 decimals on this machine
EPOCH_TOLERANCE = 0.005  # mean train loss of an epoch (nats)


def _scores(model: Path) -> tuple[dict, pd.DataFrame]:
    metrics = json.loads((model / "metrics.json").read_text())
    return metrics, pd.read_csv(model / "reports" / "epochs.tsv", sep="\t")


def _checkpoint_epochs(folder: Path) -> int:
    try:
        return len(json.loads((folder / "last" / "trainer.json").read_text())["history"])
    except (OSError, ValueError):
        return 0


def _assert_close(first: Path, second: Path) -> None:
    (one, epochs_one), (two, epochs_two) = _scores(first), _scores(second)
    assert abs(one["valid_log_loss"] - two["valid_log_loss"]) <= LOSS_TOLERANCE
    assert abs(one["test_log_loss"] - two["test_log_loss"]) <= LOSS_TOLERANCE
    assert len(epochs_one) == len(epochs_two) == 3
    gaps = (epochs_one["train_loss"] - epochs_two["train_loss"]).abs()
    assert (gaps <= EPOCH_TOLERANCE).all(), gaps.tolist()


def test_two_processes_train_as_one_does_and_resume_on_one(planted, tmp_path, capfd):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", planted, "-o", str(one), *FLAGS]) == 0
    capfd.readouterr()
    assert main(["train", planted, "-o", str(two), *FLAGS, "--nproc", "2"]) == 0
    out, _ = capfd.readouterr()
    assert out.count("written to") == 1  # rank 0 reports; the other process writes nothing
    _assert_close(one, two)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no checkpoints left

    # Two processes stopped after their first checkpoint; one process resumes the run.
    resumed, checkpoints = tmp_path / "resumed", tmp_path / "ckpt"
    command = [sys.executable, "-m", "genomeflow.cli", "train", planted, "-o", str(resumed)]
    command += ["--checkpoints", str(checkpoints), *FLAGS, "--nproc", "2"]
    launcher = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while _checkpoint_epochs(checkpoints) < 1 and launcher.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.1)
    os.killpg(launcher.pid, signal.SIGKILL)  # the launcher and both training processes
    launcher.wait()
    assert not resumed.exists() and 1 <= _checkpoint_epochs(checkpoints) < 3
    argv = ["train", planted, "-o", str(resumed), "--checkpoints", str(checkpoints), *FLAGS]
    assert main([*argv, "--resume"]) == 0
    _assert_close(two, resumed)


def test_an_input_error_is_one_line_from_two_processes(tmp_path, capfd):
    missing = tmp_path / "no-dataset"
    code = main(["train", str(missing), "-o", str(tmp_path / "m"), *FLAGS, "--nproc", "2"])
    _, err = capfd.readouterr()
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("genomeflow: error:") and str(missing) in err


def test_pretraining_on_two_processes_follows_one(tmp_path, capfd):
    """Masked-LM pretraining: every process masks the global batch alike and trains on its
    share; the loss curve follows one process's (the shares' masked-token counts differ a
    little, so their gradients are weighted a little differently)."""
    from genomeflow.config import TokeniseConfig
    from genomeflow.tokenise import train_tokeniser
    from helpers import MOTIF, fasta_text, planted_records, write_text

    records = planted_records(100, 80, 11, MOTIF) + planted_records(100, 80, 12, None)
    fasta = write_text(tmp_path / "corpus.fa", fasta_text(records))
    tokeniser = tmp_path / "char"
    train_tokeniser(TokeniseConfig(inputs=[str(fasta)], output=str(tokeniser), method="char"))
    flags = ["--tokeniser", str(tokeniser), "--preset", "tiny", "--max-length", "32"]
    flags += ["--batch-size", "16", "--warmup-ratio", "0", "--dropout", "0", "--steps", "40"]
    flags += ["--learning-rate", "5e-3", "--log-every", "10", "--tracking-uri", "none"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["pretrain", str(fasta), "-o", str(one), *flags]) == 0
    assert main(["pretrain", str(fasta), "-o", str(two), *flags, "--nproc", "2"]) == 0
    out, _ = capfd.readouterr()
    assert out.count("written to") == 2  # one line per run: rank 0's
    curves = [pd.read_csv(folder / "reports" / "steps.tsv", sep="\t") for folder in (one, two)]
    assert curves[0]["step"].tolist() == curves[1]["step"].tolist() == [10, 20, 30, 40]
    assert (curves[0]["loss"] - curves[1]["loss"]).abs().max() <= 0.02  # seen: 0.004
    assert curves[1]["loss"].iloc[-1] < curves[1]["loss"].iloc[0] - 0.3  # it learned


def test_crossval_on_two_processes_scores_the_folds_as_one(planted, tmp_path):
    flags = [*COMMON, "--epochs", "1"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["crossval", planted, "-o", str(one), "--folds", "2", *flags]) == 0
    assert main(["crossval", planted, "-o", str(two), "--folds", "2", *flags, "--nproc", "2"]) == 0
    tables = [pd.read_csv(f / "reports" / "cv_folds.tsv", sep="\t") for f in (one, two)]
    assert len(tables[0]) == len(tables[1]) == 2
    assert (tables[0]["log_loss"] - tables[1]["log_loss"]).abs().max() <= LOSS_TOLERANCE
