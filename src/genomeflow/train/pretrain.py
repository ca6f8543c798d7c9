"""The ``pretrain`` stage: a masked language model on unlabelled sequences.

Order of work: the corpus (FASTA/FASTQ records, or a dataset folder's train split only) is
streamed once to validate and count it -> a masked LM is built from genomeflow's configs with
the tokeniser's vocabulary -> each step takes a batch of windows (records cut into segments,
tokenised on the fly, shuffled in a seeded buffer: memory does not grow with the corpus) and
masks tokens with a generator seeded by the step, so a resumed run masks exactly as an
uninterrupted one -> loss, masked accuracy and perplexity every ``--log-every`` steps and every
epoch -> checkpoints every ``--checkpoint-every`` steps, kept after the run (``--resume``
continues it, or extends it to a larger ``--steps``) -> the output folder: weights and config
(``AutoModelForMaskedLM``), the tokeniser (``AutoTokenizer``), metrics.json, pretrain.json,
reports/steps.tsv; with tracking, also the run artifact ``pretrained/`` (an ``--init-from``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow import __version__
from genomeflow.config import PretrainConfig
from genomeflow.data.build import MANIFEST as DATASET_MANIFEST
from genomeflow.data.build import TOKENISER_FOLDER
from genomeflow.errors import InputError
from genomeflow.io.sequences import SequenceFile, matching_alphabet, read_sequences
from genomeflow.models.transformer import ModelSpec, build_model, context_length
from genomeflow.storage import (
    atomic_directory,
    check_writable,
    file_digest,
    read_manifest,
    write_json,
)
from genomeflow.tokenise.tokenizer import GenomeTokenizer
from genomeflow.train.distributed import Processes

log = logging.getLogger(__name__)

MANIFEST = "pretrain.json"
ARTIFACT = "pretrained"  # the run artifact folder of the output: runs:/RUN_ID/pretrained
LABELS = ("LABEL_0", "LABEL_1")  # transformers' default labels: a masked LM has none
HISTORY = ("step", "epoch", "loss", "masked_accuracy", "perplexity", "learning_rate")
# Settings a resume may change: paths, the run's length, logging cadence, the device.
NOT_FINGERPRINTED = {
    "inputs", "output", "tokeniser", "steps", "epochs", "resume", "checkpoints", "log_every",
    "checkpoint_every", "device",
}  # fmt: skip


@dataclass(frozen=True)
class PretrainSummary:
    """What :func:`pretrain_model` wrote and measured.

    Attributes:
        corpus: records, residues, windows and tokens of one pass.
        steps: optimiser steps the model has had (a resumed run's earlier ones included).
        resumed_from: the step the run resumed at (0: a fresh run).
        history: one record per logged step (``HISTORY``).
        final: loss, masked accuracy and perplexity of the last logged steps.
    """

    output: str
    corpus: dict[str, int]
    steps: int
    resumed_from: int
    history: list[dict[str, float]]
    final: dict[str, float]

    def metrics(self) -> dict[str, float]:
        return {**self.final, "steps": self.steps, "corpus_windows": self.corpus["windows"]}


def open_corpus(
    config: PretrainConfig,
) -> tuple[GenomeTokenizer, Callable[[], Iterable[str]], list[dict[str, str]]]:
    """The tokeniser, a callable streaming the corpus's sequences, and the inputs' digests.

    A dataset folder gives its train split only (never valid or test) and, without ``-t``,
    its own tokeniser.
    """
    import pandas as pd

    first = Path(config.inputs[0])
    if (first / DATASET_MANIFEST).is_file():
        if len(config.inputs) > 1:
            raise InputError(f"{first}: give one dataset folder, or FASTA/FASTQ files, not both")
        manifest = read_manifest(first, DATASET_MANIFEST, "genomeflow dataset", "rebuild it")
        tokenizer = GenomeTokenizer.load(config.tokeniser or first / TOKENISER_FOLDER)
        known = tokenizer.known_alphabet
        if known is not None and known.value != manifest["alphabet"]:
            raise InputError(
                f"{first}: holds {manifest['alphabet']} but the tokeniser reads {known.value}"
            )
        path = first / "parquet" / "train.parquet"
        train = pd.read_parquet(path, columns=["sequence"])["sequence"].tolist()
        return tokenizer, lambda: iter(train), [{"path": str(path), "digest": file_digest(path)}]
    if not config.tokeniser:
        raise InputError("give the tokeniser (-t TOKENISER) to pretrain on FASTA/FASTQ files")
    tokenizer = GenomeTokenizer.load(config.tokeniser)
    declared = tokenizer.known_alphabet or SequenceFile(first, config.alphabet).alphabet
    owner = f"the tokeniser {config.tokeniser}"
    alphabet = matching_alphabet(first, config.alphabet, declared, owner)
    digests = [{"path": str(path), "digest": file_digest(path)} for path in config.inputs]

    def sequences() -> Iterator[str]:
        for record in read_sequences(config.inputs, alphabet, config.allow_duplicate_ids):
            yield record.sequence

    return tokenizer, sequences, digests


def pretrain_model(config: PretrainConfig) -> PretrainSummary | None:
    """Run the pretrain stage (see the module docstring) and publish the model folder.

    Under torchrun or ``--nproc`` every process trains on its share of each global batch; rank
    0 returns the summary, the others None."""
    import torch
    from transformers import DataCollatorForLanguageModeling

    from genomeflow.models.batching import Collator
    from genomeflow.models.inference import Runtime
    from genomeflow.tracking import active_run
    from genomeflow.train import mlm
    from genomeflow.train.checkpoints import LAST, has_last
    from genomeflow.train.loop import _parameter_groups

    check_writable(config.output)
    processes = Processes.from_env()  # several under torchrun or --nproc; rank 0 writes
    tokenizer, sequences, inputs = open_corpus(config)
    max_length = context_length(config.architecture, config.max_length)
    stream = mlm.WindowStream(sequences, tokenizer, max_length, config.shuffle_buffer, config.seed)
    corpus = stream.count()
    if not corpus["windows"]:
        raise InputError(f"{config.inputs[0]}: no sequences to pretrain on")
    per_epoch = math.ceil(corpus["windows"] / config.batch_size)
    total = config.steps or per_epoch * (config.epochs or 1)
    hf = tokenizer.hf
    spec = ModelSpec(
        *(config.architecture, config.preset, tokenizer.vocab_size, LABELS, max_length),
        *(config.dropout, hf.pad_token_id, tokenizer.cls_id, tokenizer.sep_id),
    )
    model = build_model(spec, config.attention, config.seed, masked_lm=True)
    runtime = Runtime.resolve(config.device, config.precision)
    processes.start(runtime.device)
    model.to(runtime.device)
    network = processes.wrap(model, runtime.device)  # each rank masks the global batch alike
    optimizer = torch.optim.AdamW(
        _parameter_groups(model, config.weight_decay),
        lr=config.learning_rate,
        fused=runtime.device == "cuda" or None,
    )
    scaler = torch.amp.GradScaler(runtime.device, enabled=runtime.precision == "fp16")
    fingerprint = _fingerprint(config, spec, tokenizer, inputs, corpus)
    checkpoints = Path(config.checkpoints or f"{config.output}.checkpoints")
    state: dict[str, Any] = {"step": 0, "history": [], "interval": None, "epoch": None}
    if has_last(checkpoints):
        if not config.resume:
            raise InputError(
                f"{checkpoints}: checkpoints of an earlier run are there; pass --resume to "
                "continue (or extend) it, or delete the folder to start again"
            )
        state = mlm.load_state(checkpoints, fingerprint, model, optimizer, scaler)
        log.info("resuming from %s at step %d of %d", checkpoints / LAST, state["step"], total)
    elif config.resume:
        log.warning("--resume: no checkpoint in %s; starting at step 0", checkpoints)
    start, history = state["step"], state["history"]
    interval, epoch = mlm.Meter(state["interval"]), mlm.Meter(state["epoch"])
    run = active_run()
    run.log_params(
        {"parameters": sum(p.numel() for p in model.parameters()), "total_steps": total}
        | {"processes": processes.world}
        | {f"corpus_{name}": value for name, value in corpus.items()}
    )
    masker = DataCollatorForLanguageModeling(hf, mlm_probability=config.mask_probability)
    special = torch.tensor(sorted(set(hf.all_special_ids)))
    warmup = round(config.warmup_ratio * total)
    collate = Collator(hf.pad_token_id, max_length)
    batches = mlm.batches(stream, collate, config.batch_size, start, per_epoch)
    model.train()
    for step in range(start, total):
        batch = next(batches)
        masked, labels = mlm.mask_tokens(masker, batch["input_ids"], special, config.seed, step)
        rate = config.learning_rate * mlm.learning_rate_factor(step, warmup, total)
        for group in optimizer.param_groups:
            group["lr"] = rate
        batch["input_ids"] = masked
        batch, labels = {k: processes.part(v) for k, v in batch.items()}, processes.part(labels)
        loss, count, correct = mlm.masked_step(
            model, batch, labels, optimizer, scaler, runtime, config.gradient_clip, network
        )
        # the whole global batch's figures: loss weighted by each process's masked tokens
        weighted, count, correct = processes.sums([loss * count, count, correct])
        scores = (weighted / max(count, 1), int(count), int(correct))
        interval.add(*scores)
        epoch.add(*scores)
        done = step + 1
        if not processes.main:
            continue  # rank 0 logs and writes checkpoints
        if done % config.log_every == 0 or done == total:
            record = {"step": done, "epoch": done / per_epoch, **interval.values()}
            history.append({**record, "learning_rate": rate})
            run.log_metrics({f"step/{k}": v for k, v in history[-1].items()}, step=done)
            log.info(
                "step %d/%d: loss %.4f, masked accuracy %.3f, perplexity %.2f",
                *(done, total, record["loss"], record["masked_accuracy"], record["perplexity"]),
            )
            interval = mlm.Meter()
        if done % per_epoch == 0:
            values = {f"epoch/{k}": v for k, v in epoch.values().items()}
            run.log_metrics(values, step=done // per_epoch)
            epoch = mlm.Meter()
        if done % config.checkpoint_every == 0 or done == total:
            saved = {"fingerprint": fingerprint, "step": done, "history": history}
            saved |= {"interval": interval.state, "epoch": epoch.state}
            mlm.save_state(checkpoints, model, optimizer, scaler, saved)
    processes.stop()
    if not processes.main:
        return None
    steps = max(start, total)
    if start > total:
        log.warning("the checkpoint is at step %d, past --steps %d: published", start, total)
    final = {k: history[-1][k] for k in HISTORY[2:5]} if history else {}
    summary = PretrainSummary(str(config.output), corpus, steps, start, history, final)
    with atomic_directory(config.output) as folder:
        model.to("cpu").save_pretrained(folder)
        tokenizer.save(folder)  # AutoTokenizer's files, and genomeflow.json for genomeflow
        (folder / "reports").mkdir()
        rows = ["\t".join(HISTORY)] + ["\t".join(f"{r[n]:.6g}" for n in HISTORY) for r in history]
        (folder / "reports" / "steps.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        write_json(folder / "metrics.json", summary.metrics())
        manifest = {
            "stage": "pretrain",
            "kind": "masked_lm",
            "genomeflow_version": __version__,
            "config": config.to_dict(),
            "model": {**spec.to_dict(), "label_names": []},
            "tokeniser": {
                "path": str(config.tokeniser or Path(config.inputs[0]) / TOKENISER_FOLDER),
                "method": tokenizer.method,
                "foreign": tokenizer.foreign,
            },
            "corpus": {"inputs": inputs, **corpus},
            "steps": steps,
            "steps_per_epoch": per_epoch,
            "epochs": steps / per_epoch,
            "resumed_from_step": start,
            "run_id": run.run_id,
            "metrics": summary.metrics(),
        }
        write_json(folder / MANIFEST, manifest)
    run.log_artifact(config.output, ARTIFACT)  # so runs:/RUN_ID/pretrained is an --init-from
    return summary


def _fingerprint(
    config: PretrainConfig,
    spec: ModelSpec,
    tokenizer: GenomeTokenizer,
    inputs: list[dict[str, str]],
    corpus: dict[str, int],
) -> str:
    """What a checkpoint must match to be resumed: the settings (but the run's length), the
    model, the vocabulary and the corpus."""
    settings = {k: v for k, v in config.to_dict().items() if k not in NOT_FINGERPRINTED}
    vocabulary = sorted(tokenizer.vocabulary().items())
    payload = [settings, spec.to_dict(), vocabulary, [i["digest"] for i in inputs], corpus]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
