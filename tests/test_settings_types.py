"""Settings are checked against their config field's type before any work: a ``--config`` file,
``StageConfig.from_mapping`` and the ``settings`` mapping of a KFP component (where KFP's
protobuf Struct has turned every number into a float)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Metrics, Model

from genomeflow import cli
from genomeflow.components.baseline import baseline
from genomeflow.components.crossval import crossval
from genomeflow.components.dataset import dataset
from genomeflow.components.interpret import interpret
from genomeflow.components.predict import predict
from genomeflow.components.sweep import sweep
from genomeflow.components.synthetic import synthetic
from genomeflow.components.tokenise import tokenise
from genomeflow.components.train import train
from genomeflow.config import SettingTypeError, TokeniseConfig, load_document, typed_value
from genomeflow.errors import ConfigError
from genomeflow.sequence.alphabet import Alphabet
from helpers import MOTIF, artifact, make_dataset, planted_records

# Per command: its required settings (enough to build the config).
REQUIRED: dict[str, dict] = {
    "synthetic": {"inputs": ["a.fa"], "output": "controls.fa"},
    "tokenise": {"inputs": ["a.fa"], "output": "tok"},
    "dataset": {"inputs": ["a.fa", "b.fa"], "tokeniser": "tok", "output": "ds"},
    "baseline": {"dataset": "ds", "output": "model"},
    "train": {"dataset": "ds", "output": "model"},
    "sweep": {"dataset": "ds", "output": "sweep", "spec": "sweep.yaml"},
    "interpret": {"model": "model", "output": "report", "sequences": ["ACGT"]},
    "services": {"action": "up"},
}
# The ones argparse wants on the command line (positional, not lists).
POSITIONAL = {
    "baseline": "dataset",
    "train": "dataset",
    "sweep": "dataset",
    "interpret": "model",
    "services": "action",
}


# id: (command, the settings file's line, the error after "<file>: ")
REFUSED = {
    "k a word": ("tokenise", "k: four", "k = 'four' is a str, expected an integer"),
    "k fractional": ("tokenise", "k: 4.7", "k = 4.7 is a float, expected an integer"),
    "k a bool": ("tokenise", "k: true", "k = true is a bool, expected an integer"),
    "k empty": ("tokenise", "k:", "k is null, expected an integer"),
    "max_length fractional": (
        "dataset",
        "max_length: 12.5",
        "max_length = 12.5 is a float, expected an integer",
    ),
    "epochs a quoted number": (
        "train",
        'epochs: "3"',
        "epochs = '3' is a str, expected an integer",
    ),
    "learning_rate a bool": (
        "train",
        "learning_rate: true",
        "learning_rate = true is a bool, expected a number",
    ),
    "method unknown": (
        "tokenise",
        "method: nonsense",
        "unknown method 'nonsense' (a str), expected one of unigram, bpe, char, kmer",
    ),
    "architecture unknown": (
        "train",
        "architecture: gpt",
        "unknown architecture 'gpt' (a str), expected one of distilbert, bert, longformer, "
        "modernbert, cnn",
    ),
    "alphabet a number": (
        "synthetic",
        "alphabet: 5",
        "unknown alphabet 5 (an int), expected one of dna, rna, protein, text",
    ),
    "bool a word": (
        "synthetic",
        "reverse_complement: yes please",
        "reverse_complement = 'yes please' is a str, expected true or false",
    ),
    "str a number": ("tokenise", "example: 12", "example = 12 is an int, expected a string"),
    "list[float] item a word": (
        "dataset",
        "split: [0.8, x, 0.1]",
        "split[1] = 'x' is a str, expected a number",
    ),
    "list[int] item fractional": (
        "baseline",
        "ngram: [1, 2.5]",
        "ngram[1] = 2.5 is a float, expected an integer",
    ),
    "list[str] item a number": (
        "interpret",
        "sequences: [ACGT, 12]",
        "sequences[1] = 12 is an int, expected a string",
    ),
    "list a mapping": (
        "dataset",
        "split: {train: 0.8}",
        "split = {'train': 0.8} is a mapping, expected a list of numbers",
    ),
    "int | None a word": ("sweep", "trials: many", "trials = 'many' is a str, expected an integer"),
    "float a word": ("services", "timeout: soon", "timeout = 'soon' is a str, expected a number"),
}


def settings_file(folder: Path, command: str, line: str) -> tuple[Path, list[str]]:
    """The settings file (required settings and ``line``) and the command line that reads it."""
    in_file = dict(REQUIRED[command])
    given = [in_file.pop(POSITIONAL[command])] if command in POSITIONAL else []
    path = folder / "settings.yaml"
    path.write_text((yaml.safe_dump(in_file) if in_file else "") + line + "\n")
    return path, [command, *given, "--config", str(path)]


@pytest.mark.parametrize(("command", "line", "message"), REFUSED.values(), ids=list(REFUSED))
def test_from_mapping_refuses_wrong_types(command, line, message):
    values = {**REQUIRED[command], **load_document(line)}
    with pytest.raises(ConfigError) as caught:
        cli.COMMANDS[command][0].from_mapping(values, "s.yaml")
    assert str(caught.value) == f"s.yaml: {message}"


@pytest.mark.parametrize(("command", "line", "message"), REFUSED.values(), ids=list(REFUSED))
def test_settings_file_refuses_wrong_types(tmp_path, capsys, command, line, message):
    path, argv = settings_file(tmp_path, command, line)
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [f"genomeflow: error: {path}: {message}"]  # no traceback


def test_flags_win_over_a_wrong_file_value_and_are_typed_by_argparse(tmp_path):
    _, argv = settings_file(tmp_path, "tokenise", "k: 4.7")
    args = cli.build_parser().parse_args([*argv, "-k", "5"])
    config = cli.config_from_args(TokeniseConfig, args)
    assert config.k == 5 and type(config.k) is int
    assert config.inputs == ["a.fa"]  # the file's other settings still apply


# id: (command, the settings file's line, field, the value the config holds)
ACCEPTED = {
    "whole float to int": ("tokenise", "vocab_size: 40.0", "vocab_size", 40),
    "exponent to int": ("tokenise", "sample_bp: 1e6", "sample_bp", 1_000_000),
    "int to float": ("train", "learning_rate: 1", "learning_rate", 1.0),
    "list of whole floats to ints": ("baseline", "ngram: [1.0, 3.0]", "ngram", [1, 3]),
    "int to float (services)": ("services", "timeout: 120", "timeout", 120.0),
    "lone item to a list": ("dataset", "labels: promoter", "labels", ["promoter"]),
    "lone input to a list": ("tokenise", "inputs: a.fa", "inputs", ["a.fa"]),
    "enum any case": ("synthetic", "alphabet: RNA", "alphabet", Alphabet.RNA),
    "optional null": ("sweep", "trials: null", "trials", None),
    "optional int": ("sweep", "trials: 3.0", "trials", 3),
}


@pytest.mark.parametrize(
    ("command", "line", "name", "expected"), ACCEPTED.values(), ids=list(ACCEPTED)
)
def test_from_mapping_gives_values_their_field_type(command, line, name, expected):
    values = {**REQUIRED[command], **load_document(line)}
    if name == "labels":
        values["inputs"] = ["a.fa"]  # one label per input file
    value = getattr(cli.COMMANDS[command][0].from_mapping(values, "s.yaml"), name)
    assert value == expected and type(value) is type(expected)
    if isinstance(value, list):
        assert [type(v) for v in value] == [type(v) for v in expected]


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (list[float], [1, 0.5], [1.0, 0.5]),
        (list[int] | None, None, None),
        (tuple[int, ...], [1.0, 2], (1, 2)),
        (tuple[int, str], (3.0, "a"), (3, "a")),
        (dict[str, int], {"depth": 8.0}, {"depth": 8}),
        (dict, {"a": [1]}, {"a": [1]}),
        (int | str, "auto", "auto"),
        (int | str, 2.0, 2),
        (Any, object, object),
        (Literal["a", "b"], "b", "b"),
    ],
)
def test_typed_value_kinds_no_config_has_yet(annotation, value, expected):
    value = typed_value(annotation, value, "x")
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        (tuple[int, str], [1], "x = [1] is a list, expected a list of integers"),
        (dict[str, int], {"depth": 8.5}, "x['depth'] = 8.5 is a float, expected an integer"),
        (dict, [1], "x = [1] is a list, expected a mapping"),
        (int | str, True, "x = true is a bool, expected an integer or a string"),
        (Literal[1, 2], True, "unknown x true (a bool), expected one of 1, 2"),
        (float, False, "x = false is a bool, expected a number"),
    ],
)
def test_typed_value_refusals_no_config_has_yet(annotation, value, message):
    with pytest.raises(SettingTypeError) as caught:
        typed_value(annotation, value, "x")
    assert str(caught.value) == message


def test_whole_float_reaches_the_range_check_as_an_int(tmp_path, capsys):
    _, argv = settings_file(tmp_path, "tokenise", "vocab_size: 4.0")
    assert cli.main(argv) == 2
    assert "--vocab-size must be at least 10, got 4\n" in capsys.readouterr().err


def test_settings_file_with_whole_floats_runs(tiny_fasta, tmp_path, capsys):
    path = tmp_path / "kmer.yaml"
    output = tmp_path / "tok"
    path.write_text(f"inputs: {tiny_fasta}\noutput: {output}\nmethod: kmer\nk: 3.0\nstride: 1.0\n")
    assert cli.main(["tokenise", "--config", str(path)]) == 0
    assert f"({4**3 + 5} tokens" in capsys.readouterr().out
    assert (output / "tokenizer.json").is_file()


# --- KFP components: settings={"k": 4} reaches the component as {"k": 4.0} ------------------


@pytest.mark.slow
def test_data_components_take_whole_floats(class_files, tmp_path):
    tokens, metrics = artifact(Artifact, tmp_path, "tok"), artifact(Metrics, tmp_path, "m1")
    tokenise.python_func(
        inputs=class_files, tokeniser=tokens, metrics=metrics, method="kmer",
        settings={"k": 4.0, "stride": 1.0}, experiment="x",
    )  # fmt: skip
    assert metrics.metadata["vocab_size"] == 4**4 + 5

    split, metrics = artifact(Dataset, tmp_path, "ds"), artifact(Metrics, tmp_path, "m2")
    dataset.python_func(
        inputs=class_files, tokeniser=tokens, dataset=split, metrics=metrics, seed=3.0,
        settings={"max_length": 16.0, "chunk_size": 40.0, "chunk_overlap": 10.0},
    )  # fmt: skip
    assert metrics.metadata["rows_train"] > metrics.metadata["rows_test"] > 0

    controls, metrics = artifact(Dataset, tmp_path, "ctl"), artifact(Metrics, tmp_path, "m3")
    synthetic.python_func(
        inputs=class_files[:1], controls=controls, metrics=metrics, k=2.0, seed=7.0,
        settings={"per_sequence": 2.0},
    )  # fmt: skip
    assert metrics.metadata["controls"] == 160


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> str:
    """80 sequences (a 6-mer tokeniser, a 60/20/20 split): as small as a transformer runs on."""
    folder = tmp_path_factory.mktemp("small")
    return make_dataset(folder, planted_records(40, 60, 1, MOTIF), planted_records(40, 60, 2, None))


@pytest.mark.slow
def test_model_components_take_whole_floats(small_dataset, class_files, tmp_path):
    ds = Dataset(uri=small_dataset)
    made = {
        "model": artifact(Model, tmp_path, "bm"),
        "metrics": artifact(Metrics, tmp_path, "bmm"),
        "classification": artifact(ClassificationMetrics, tmp_path, "bc"),
    }
    baseline.python_func(
        dataset=ds, features="tfidf", classifier="logreg", folds=0.0,
        settings={"max_features": 200.0, "importance_top": 3.0, "permutation_repeats": 1.0},
        **made,
    )  # fmt: skip
    assert "test_accuracy" in made["metrics"].metadata

    tiny = {"preset": "tiny", "epochs": 1.0}
    small = {"batch_size": 16.0, "max_length": 64.0, "patience": 0.0, "workers": 0.0}
    spec = {
        "method": "random",
        "metric": {"name": "eval/f1", "goal": "maximize"},
        "parameters": {"learning_rate": {"values": [1e-3]}},
    }
    tuned = artifact(Artifact, tmp_path, "sweep")
    sweep.python_func(
        dataset=ds, result=tuned, metrics=artifact(Metrics, tmp_path, "sm"), spec=spec,
        trials=1.0, backend="local", settings={**small, "parallel": 1.0}, **tiny,
    )  # fmt: skip
    assert json.loads((Path(tuned.path) / "best_params.json").read_text())["params"]

    model, scores = artifact(Model, tmp_path, "model"), artifact(Metrics, tmp_path, "tm")
    train.python_func(dataset=ds, sweep=tuned, model=model, metrics=scores, settings=small, **tiny)
    assert "test_f1_macro" in scores.metadata

    folds = artifact(Metrics, tmp_path, "cvm")
    crossval.python_func(
        dataset=ds, sweep=tuned, result=artifact(Artifact, tmp_path, "cv"), metrics=folds,
        folds=2.0, settings=small, **tiny,
    )  # fmt: skip
    assert "cv_f1_macro_mean" in folds.metadata

    page = artifact(HTML, tmp_path, "interpret.html")
    interpret.python_func(
        model=model, inputs=class_files[:1], attributions=artifact(Artifact, tmp_path, "ig"),
        report=page, metrics=artifact(Metrics, tmp_path, "im"), limit=6.0, steps=4.0,
        settings={"batch_size": 4.0, "internal_batch_size": 16.0, "motif_k": 4.0,
                  "motif_top": 5.0, "seed": 1.0},
    )  # fmt: skip
    assert Path(page.path).is_file()

    table = artifact(Dataset, tmp_path, "predictions")
    predict.python_func(
        model=model.path, inputs=class_files[1:], predictions=table,
        metrics=artifact(Metrics, tmp_path, "pm"), settings={"batch_size": 64.0},
    )  # fmt: skip
    assert Path(table.path).is_file()


def component_calls(folder: Path) -> dict[str, tuple[str, object, dict]]:
    """Per component with an integer setting: (command, function, its arguments but settings)."""
    model = artifact(Model, folder, "model")
    data = Dataset(uri=str(folder / "ds"))
    tuned = artifact(Artifact, folder, "sweep")
    return {
        "tokenise": ("tokenise", tokenise, {
            "inputs": ["a.fa"], "tokeniser": artifact(Artifact, folder, "tok"),
            "metrics": artifact(Metrics, folder, "m"), "method": "kmer",
        }),
        "dataset": ("dataset", dataset, {
            "inputs": ["a.fa", "b.fa"], "tokeniser": artifact(Artifact, folder, "tok"),
            "dataset": artifact(Dataset, folder, "ds"), "metrics": artifact(Metrics, folder, "m"),
        }),
        "synthetic": ("synthetic", synthetic, {
            "inputs": ["a.fa"], "controls": artifact(Dataset, folder, "c"),
            "metrics": artifact(Metrics, folder, "m"),
        }),
        "baseline": ("baseline", baseline, {
            "dataset": data, "model": model, "metrics": artifact(Metrics, folder, "m"),
            "classification": artifact(ClassificationMetrics, folder, "c"),
        }),
        "sweep": ("sweep", sweep, {
            "dataset": data, "result": tuned, "metrics": artifact(Metrics, folder, "m"),
            "spec": {}, "backend": "local",
        }),
        "train": ("train", train, {
            "dataset": data, "sweep": tuned, "model": model,
            "metrics": artifact(Metrics, folder, "m"),
        }),
        "crossval": ("crossval", crossval, {
            "dataset": data, "sweep": tuned, "result": artifact(Artifact, folder, "cv"),
            "metrics": artifact(Metrics, folder, "m"),
        }),
        "interpret": ("interpret", interpret, {
            "model": model, "inputs": ["a.fa"], "attributions": artifact(Artifact, folder, "ig"),
            "report": artifact(HTML, folder, "r.html"), "metrics": artifact(Metrics, folder, "m"),
        }),
        "predict": ("predict", predict, {
            "model": model.path, "inputs": ["a.fa"], "predictions": artifact(Dataset, folder, "p"),
            "metrics": artifact(Metrics, folder, "m"),
        }),
    }  # fmt: skip


# id: (component, an integer setting of its stage)
FRACTIONAL = {
    "tokenise k": ("tokenise", "k"),
    "dataset max_length": ("dataset", "max_length"),
    "synthetic per_sequence": ("synthetic", "per_sequence"),
    "baseline max_features": ("baseline", "max_features"),
    "sweep batch_size": ("sweep", "batch_size"),
    "train epochs": ("train", "epochs"),
    "crossval folds": ("crossval", "folds"),
    "interpret steps": ("interpret", "steps"),
    "predict batch_size": ("predict", "batch_size"),
}


@pytest.mark.parametrize(("component", "name"), FRACTIONAL.values(), ids=list(FRACTIONAL))
def test_components_refuse_fractional_integers_before_any_work(tmp_path, component, name):
    command, function, arguments = component_calls(tmp_path)[component]
    typed = inspect.signature(function.python_func).parameters
    # a typed parameter wins over the same name in settings: give it there
    given = {name: 4.7} if name in typed else {"settings": {name: 4.7}}
    with pytest.raises(ConfigError) as caught:
        function.python_func(**arguments, **given)
    assert str(caught.value) == (
        f"the {command} step's settings: {name} = 4.7 is a float, expected an integer"
    )
    assert list(tmp_path.iterdir()) == []  # nothing was written
