import dataclasses
import gzip
import json
import subprocess
import sys

import pytest

from genomeflow import __version__
from genomeflow.cli import COMMANDS, build_parser, main
from genomeflow.io import SequenceFile
from helpers import BAD_INPUTS, MOTIF, bad_file, fasta_text, planted_records, write_text


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"genomeflow {__version__}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_documents_every_setting_with_its_default(capsys, command):
    with pytest.raises(SystemExit):
        main([*command.split(), "--help"])
    text = " ".join(capsys.readouterr().out.split())
    config_class = COMMANDS[command][0]
    settings = dataclasses.fields(config_class)  # not ClassVars such as RESOLVED_PARAMS
    for field in settings:
        name = (
            field.name.upper()
            if field.metadata["positional"]
            else "--" + field.name.replace("_", "-")
        )
        assert name in text
    assert text.count("(default:") + text.count("(required)") >= len(settings)


def test_top_level_help_lists_commands():
    text = build_parser().format_help()
    for command in COMMANDS:
        assert command.split()[0] in text


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, capsys, case):
    path = bad_file(tmp_path, case)
    output = tmp_path / "controls.fa"
    code, _, err = run(capsys, "synthetic", path, "-o", output)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("genomeflow: error: ")
    assert BAD_INPUTS[case][1] in err
    assert "Traceback" not in err
    assert not output.exists()
    assert {p.name for p in tmp_path.iterdir()} == {path.name} - (
        {path.name} if case == "missing file" else set()
    )


def test_bad_record_late_in_the_file_leaves_no_output(tmp_path, capsys):
    records = [*planted_records(30, 50, 2, None), ("bad", "ACGT" * 10 + "ACGJ")]
    path = write_text(tmp_path / "in.fa", fasta_text(records))
    output = tmp_path / "out.fa.gz"
    code, _, err = run(capsys, "synthetic", path, "-o", output)
    assert code == 2
    assert "record 'bad': 'J' at position 44" in err
    assert list(tmp_path.iterdir()) == [path]


def test_bad_settings_exit_2(tmp_path, capsys, tiny_fasta):
    code, _, err = run(capsys, "synthetic", tiny_fasta, "-o", tmp_path / "x.fa", "-k", "0")
    assert code == 2 and "--k must be at least 1, got 0" in err
    code, _, err = run(capsys, "synthetic", tiny_fasta)
    assert code == 2 and "missing required setting(s) output" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["synthetic", str(tiny_fasta), "-o", "x.fa", "--method", "reverse"])
    assert exit_info.value.code == 2


def test_verbose_shows_the_traceback(tmp_path, capsys):
    code, _, err = run(capsys, "validate", tmp_path / "missing.fa", "--verbose")
    assert code == 2
    assert "Traceback" in err and "no such file" in err


def test_synthetic_is_deterministic_and_keeps_kmers(tmp_path, capsys, tiny_fasta):
    outputs = []
    for name in ("a.fa.gz", "b.fa.gz"):
        output = tmp_path / name
        code, out, _ = run(
            capsys, "synthetic", tiny_fasta, "-o", output, "-k", 3, "--per-sequence", 2
        )
        assert code == 0 and "wrote 80 controls" in out
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1]
    originals = {r.id: r.sequence for r in SequenceFile(tiny_fasta)}
    controls = list(SequenceFile(tmp_path / "a.fa.gz"))
    assert len(controls) == 80
    for control in controls:
        source = originals[control.id.rsplit("_ctrl", 1)[0]]
        assert sorted(source[i : i + 3] for i in range(len(source) - 2)) == sorted(
            control.sequence[i : i + 3] for i in range(len(source) - 2)
        )
    planted = sum(MOTIF in r.sequence for r in controls)
    assert planted < 40  # the planted motif is broken up in most shuffles


@pytest.mark.parametrize("method", ["markov", "bootstrap"])
def test_synthetic_methods_and_reverse_complement(tmp_path, capsys, tiny_fasta, method):
    output = tmp_path / "c.fa"
    code, _, _ = run(
        capsys, "synthetic", tiny_fasta, "-o", output, "--method", method, "--reverse-complement"
    )
    assert code == 0
    records = list(SequenceFile(output))
    assert len(records) == 80
    assert records[1].id == records[0].id + "_rc"
    assert all(len(r.sequence) == 60 for r in records)


def test_config_file_is_merged_under_flags(tmp_path, capsys, tiny_fasta):
    settings = tmp_path / "synthetic.yaml"
    settings.write_text(
        f"inputs: [{tiny_fasta}]\noutput: {tmp_path / 'from_file.fa'}\nmethod: markov\norder: 2\n"
    )
    code, _, _ = run(capsys, "synthetic", "--config", settings, "-o", tmp_path / "from_flag.fa")
    assert code == 0
    assert (tmp_path / "from_flag.fa").exists() and not (tmp_path / "from_file.fa").exists()
    assert "markov order=2" in (tmp_path / "from_flag.fa").read_text()
    settings.write_text("inputs: [a.fa]\noutput: b.fa\ncolour: blue\n")
    code, _, err = run(capsys, "synthetic", "--config", settings)
    assert code == 2 and "unknown setting(s) colour" in err


def test_validate_reports_and_writes_json(tmp_path, capsys, tiny_fasta):
    protein = write_text(tmp_path / "p.fa", ">p1\nMKTAYIAKQR\n>p2\nmkta\n")
    report = tmp_path / "summary.json"
    code, out, _ = run(capsys, "validate", tiny_fasta, protein, "--json", report)
    assert code == 0
    assert "positive.fasta.gz" in out and "protein" in out
    dna, prot = json.loads(report.read_text())
    assert dna["records"] == 40 and dna["residues"] == 2400 and dna["alphabet"] == "dna"
    assert prot["alphabet"] == "protein" and prot["gc_percent"] is None
    assert prot["lowercase_percent"] == pytest.approx(100 * 4 / 14, abs=0.001)


def test_console_script_runs_as_a_process(tmp_path):
    missing = tmp_path / "nope.fa"
    result = subprocess.run(
        [sys.executable, "-m", "genomeflow.cli", "validate", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr
        == f"genomeflow: error: {missing}: no such file; check the path to the FASTA/FASTQ file\n"
    )


def test_gzip_output_is_reproducible_bytes(tmp_path, capsys, tiny_fasta):
    output = tmp_path / "c.fa.gz"
    run(capsys, "synthetic", tiny_fasta, "-o", output)
    assert gzip.decompress(output.read_bytes()).startswith(b">pos0_ctrl1 control of pos0")


def test_tokens_subcommands(tmp_path, capsys, tiny_fasta):
    for name in ("a", "b"):
        args = ["tokenise", tiny_fasta, "-o", tmp_path / name, "--vocab-size", 40]
        assert run(capsys, *args, "--seed", len(name))[0] == 0
    code, out, _ = run(
        capsys, "tokens", "compare", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "cmp"
    )
    assert code == 0 and "token overlap" in out and (tmp_path / "cmp" / "scores.png").exists()
    code, out, _ = run(
        capsys, "tokens", "merge", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "m"
    )
    assert code == 0 and "merged 2 tokenisers (outer, mean)" in out
    code, out, _ = run(
        capsys, "tokens", "inspect", tmp_path / "m", "-o", tmp_path / "i", "--fasta", tiny_fasta
    )
    assert code == 0 and "100.00% of residues in known tokens" in out
    code, _, err = run(capsys, "tokens", "compare", tmp_path / "a", "-o", tmp_path / "x")
    assert code == 2 and "two or more tokeniser folders" in err
