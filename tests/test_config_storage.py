import json

import pytest

from genomeflow.config import SyntheticConfig, ValidateConfig, read_settings_file
from genomeflow.errors import ConfigError, InputError
from genomeflow.io import SequenceFile
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.storage import atomic_output, open_text_output, write_json


def test_config_from_file_json_and_yaml(tmp_path):
    as_json = tmp_path / "s.json"
    as_json.write_text(json.dumps({"inputs": ["a.fa"], "output": "b.fa", "alphabet": "RNA"}))
    config = SyntheticConfig.from_file(as_json, overrides={"k": 3})
    assert (config.k, config.alphabet, config.method) == (3, Alphabet.RNA, "shuffle")
    assert config.to_dict()["alphabet"] == "rna"
    as_yaml = tmp_path / "v.yaml"
    as_yaml.write_text("inputs:\n  - a.fa\n")
    assert ValidateConfig.from_file(as_yaml).alphabet is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inputs: [a.fa\n", "not valid YAML at line 2"),
        ("- a.fa\n", "must hold a mapping"),
        ("output: b.fa\nper_sequence: 0\ninputs: [a]\n", "--per-sequence must be at least 1"),
        ("inputs: [a]\n", "missing required setting(s) output"),
        ("inputs: [a]\noutput: b\nalphabet: peptide\n", "unknown alphabet 'peptide'"),
    ],
)
def test_bad_settings_files(tmp_path, text, message):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        SyntheticConfig.from_mapping(read_settings_file(path), str(path))
    assert message in str(caught.value)


def test_missing_settings_file(tmp_path):
    with pytest.raises(ConfigError, match="no such settings file"):
        read_settings_file(tmp_path / "nope.yaml")


def test_atomic_output_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_output_publishes_on_success(tmp_path):
    write_json(tmp_path / "r.json", {"a": 1})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
    with pytest.raises(InputError, match="output folder does not exist"):
        write_json(tmp_path / "missing" / "r.json", {})
    with pytest.raises(InputError, match="is a directory"):
        write_json(tmp_path, {})


def test_gzip_text_output_has_no_timestamp(tmp_path):
    for name in ("a.fa.gz", "b.fa.gz"):
        with open_text_output(tmp_path / name) as handle:
            handle.write(">x\nACGT\n")
    assert (tmp_path / "a.fa.gz").read_bytes() == (tmp_path / "b.fa.gz").read_bytes()
    assert [r.sequence for r in SequenceFile(tmp_path / "a.fa.gz")] == ["ACGT"]


def test_file_of_records_without_sequences(tmp_path):
    path = tmp_path / "x.fa"
    path.write_text(">a\n>b\n")
    with pytest.raises(InputError, match="record 'a' \\(#1\\) has no sequence"):
        list(SequenceFile(path))
