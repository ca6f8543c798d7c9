"""The ``genomeflow`` command line: one parser, one subcommand per stage (genomeflow.stages)
and two commands that are not stages (``services``, ``pipeline``).

Each subcommand's flags are generated from its config dataclass (genomeflow.cli.arguments);
the command builds the config (defaults < ``--config`` file < flags), runs the stage through
the stage layer and prints a short report (genomeflow.cli.printers). User errors become one
line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genomeflow import __version__
from genomeflow.cli.arguments import add_config_arguments, config_from_args
from genomeflow.cli.printers import PRINTERS, print_table, score
from genomeflow.config import PipelineConfig, ServicesConfig, StageConfig
from genomeflow.errors import GenomeflowError
from genomeflow.stages import STAGES, run_stage

log = logging.getLogger("genomeflow")

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


# --- the two commands that are not stages: no MLflow run, no s3:// staging ------------------


def run_services(config: ServicesConfig) -> None:
    from genomeflow.services import services_down, services_status, services_up

    if config.action == "up":
        state = services_up(config)
        store = state.get("object_store")
        if store:
            print(f"object store: {store['endpoint']} bucket {store['bucket']}")
        print(f"MLflow UI: {state['mlflow']['uri']} (artifacts: {state['mlflow']['artifacts']})")
    elif config.action == "down":
        stopped = services_down(config)
        print(
            f"stopped: {', '.join(stopped)}" if stopped else "nothing genomeflow started is running"
        )
    else:
        for name, status in services_status(config).items():
            print(f"{name}: {status}")


def run_pipeline(config: PipelineConfig) -> None:
    from genomeflow.pipelines import run
    from genomeflow.tracking import resolve_tracking_uri

    if config.action == "compile":
        print(f"compiled the {config.pipeline} pipeline to {run.compile_pipeline(config)}")
    elif config.action == "submit":
        submitted = run.submit(config)
        print(f"submitted run {submitted['run_id']}: {submitted['url']}")
        if "state" in submitted:
            print(f"run ended: {submitted['state']}")
            if resolve_tracking_uri() is not None:  # e.g. CI with MLFLOW_TRACKING_URI set
                print_pipeline_summary(submitted["run_id"], submitted["experiment"])
            if submitted["state"] != "SUCCEEDED":
                raise run.PipelineError(f"run {submitted['run_id']} ended {submitted['state']}")
    else:
        print_pipeline_summary(*run.run_local(config))


def print_pipeline_summary(kfp_run_id: str, experiment: str) -> None:
    """The stage table of a finished local run, where to see it, and the gate's decision."""
    from genomeflow.tracking import Tracker, resolve_tracking_uri
    from genomeflow.tracking.pipeline import (
        SUMMARY_METRICS,
        pipeline_parent,
        stage_row,
        stage_runs,
    )

    tracker = Tracker(resolve_tracking_uri(), experiment)
    parent = pipeline_parent(tracker, kfp_run_id)
    if parent is None:
        print(f"no MLflow run is tagged kfp.run_id={kfp_run_id}")
        return
    runs = stage_runs(tracker, parent)
    rows = [stage_row(run) for run in runs]
    print_table(
        ["stage", "status", "seconds", *SUMMARY_METRICS],
        [
            [
                row["stage"],
                row["status"],
                f"{row['seconds']:.0f}",
                *(score(row[m]) for m in SUMMARY_METRICS),
            ]
            for row in rows
        ],
    )
    experiment_id = runs[0].info.experiment_id if runs else "0"
    print(f"MLflow UI: {tracker.uri}/#/experiments/{experiment_id}/runs/{parent}")
    for run in runs:
        if "genomeflow.registered_model" in run.data.tags:
            print(gate_line(run))


def gate_line(run: Any) -> str:
    """The register run's outcome in one line: the version, its score, what the gate said."""
    tags, scores = run.data.tags, run.data.metrics
    name, metric = tags["genomeflow.registered_model"], run.data.params.get("metric")
    champion = tags.get("gate.champion_version", "none")
    if "gate_champion_score" in scores:
        versus = f" against champion version {champion}'s {score(scores['gate_champion_score'])}"
    elif champion == "none":
        versus = " (no champion before)"
    else:
        versus = f" (champion version {champion} not compared)"
    return (
        f"registered model: {name} version {tags['genomeflow.registered_version']}, {metric} "
        f"{score(scores.get('gate_challenger_score'))}{versus}: gate {tags.get('gate.decision')}"
        f" ({tags.get('gate.reason', 'no reason recorded')}); serve models:/{name}@champion"
    )


COMMANDS: dict[str, tuple[type[StageConfig], str]] = {
    name: (stage.config, stage.help) for name, stage in STAGES.items()
} | {
    "services": (
        ServicesConfig,
        "start, stop or check the local MLflow server and S3 object store",
    ),
    "pipeline": (
        PipelineConfig,
        "compile the Kubeflow pipelines to YAML, run one on the KFP local runner, or submit it "
        "to a Kubeflow Pipelines endpoint",
    ),
}  # every command: its config class and one line of help
UNTRACKED: dict[str, Callable[[Any], None]] = {"services": run_services}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options and one subparser per command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log debug messages and show tracebacks of errors",
    )
    parser = argparse.ArgumentParser(
        prog="genomeflow",
        description="Labelled biological sequences in; trained, evaluated, explained and "
        "registered classifiers out.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"genomeflow {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, Any] = {}  # "tokens" -> its subparsers, for two-word commands
    for name, (config_class, summary) in COMMANDS.items():
        group, _, leaf = name.rpartition(" ")
        if group and group not in groups:
            holder = commands.add_parser(group, help=f"{group} subcommands", parents=[common])
            groups[group] = holder.add_subparsers(
                dest="subcommand", metavar="SUBCOMMAND", required=True
            )
        sub = (groups[group] if group else commands).add_parser(
            leaf, help=summary, description=summary[0].upper() + summary[1:] + ".", parents=[common]
        )
        sub.set_defaults(command=name)
        sub.add_argument(
            "--config",
            metavar="FILE",
            help="YAML/JSON file of settings; flags given on the command line win (default: none)",
        )
        add_config_arguments(sub, config_class)
        if name == "pipeline" or any(
            item.metadata.get("role") == "output"
            for item in dataclasses.fields(config_class)  # type: ignore[arg-type]
        ):
            sub.add_argument(
                "--overwrite",
                action="store_true",
                default=False,
                help="replace an existing output, if genomeflow wrote it: a folder with its "
                "marker, an unchanged file it wrote (never an input, nor the current folder) "
                "(default: an existing output is an error)",
            )
        if name in STAGES:
            sub.add_argument(
                "--tracking-uri",
                default=None,
                help="MLflow tracking URI; 'none' to run untracked (default: $MLFLOW_TRACKING_URI, "
                "else the server of `genomeflow services up`, else untracked)",
            )
            sub.add_argument(
                "--experiment",
                default=os.environ.get("GENOMEFLOW_EXPERIMENT", "genomeflow"),
                help="MLflow experiment, one per project or dataset "
                "(default: $GENOMEFLOW_EXPERIMENT, else genomeflow)",
            )
    return parser


def run_guarded_pipeline(config: PipelineConfig, overwrite: bool) -> None:
    """``genomeflow pipeline`` with its ``-o`` checked as a stage's output is.

    compile and submit write a YAML file: an existing one is replaced only with ``overwrite``
    and if genomeflow wrote it. (``run --local`` checks its root folder itself, once the
    pipeline's parameters are known good: runs add to it and replace nothing.)
    """
    import time

    from genomeflow.storage import check_outputs, record_files

    if config.action == "run":
        run_pipeline(config)
        return
    target = config.output or f"genomeflow-{config.pipeline}.yaml"
    inputs = [*config.inputs, *([config.params_file] if config.params_file else [])]
    check_outputs(inputs, [target], overwrite)
    started = time.time_ns()
    try:
        run_pipeline(config)
    finally:  # submit writes the YAML before it talks to the cluster, which may fail
        path = Path(target)
        if path.is_file() and path.stat().st_mtime_ns >= started:
            record_files([target])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 user error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
    )
    config_class = COMMANDS[args.command][0]
    try:
        config = config_from_args(config_class, args)
        overwrite = getattr(args, "overwrite", False)
        if args.command == "pipeline":
            run_guarded_pipeline(config, overwrite)
        elif args.command in UNTRACKED:
            UNTRACKED[args.command](config)
        elif getattr(config, "nproc", 1) > 1 and "WORLD_SIZE" not in os.environ:
            from genomeflow.train.distributed import launch

            # the processes read the same arguments; WORLD_SIZE keeps them from launching again
            return launch(sys.argv[1:] if argv is None else list(argv), config.nproc)
        else:
            report = PRINTERS[args.command]
            run_stage(args.command, config, args.tracking_uri, args.experiment, overwrite, report)
        return 0
    except GenomeflowError as error:
        if verbose:
            traceback.print_exc()
        message = " ".join(str(error).split())
        print(f"genomeflow: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("genomeflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
