"""The ``interpret`` stage: attributions of FASTA records and literal sequences, written as HTML
reports, track plots and attribution files; per attributed class, TF-MoDISco motifs named
against a motif database (genomeflow.interpret.motif_report) and a k-mer summary. A text model
explains the documents of a text corpus instead: pages of coloured words and, per class, the
words that carry it (genomeflow.interpret.documents)."""

from __future__ import annotations

import dataclasses
import html
import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow.config import InterpretConfig
from genomeflow.errors import InputError
from genomeflow.interpret.attributions import Attributor, SequenceAttribution
from genomeflow.interpret.documents import (
    check_text_inputs,
    normaliser,
    read_text_inputs,
    text_notes,
    write_word_tables,
)
from genomeflow.interpret.motif_report import (
    MotifResults,
    find_motifs,
    motif_section,
    write_motif_files,
)
from genomeflow.interpret.motifs import motif_table, plot_motifs
from genomeflow.interpret.naming import Q_THRESHOLD, check_database
from genomeflow.interpret.reports import summary_page, write_class_table, write_reports
from genomeflow.interpret.words import document_words
from genomeflow.io.files import check_readable
from genomeflow.io.sequences import read_sequence_files
from genomeflow.sequence.alphabet import Alphabet, check_characters
from genomeflow.storage import atomic_directory, check_writable, write_json

log = logging.getLogger(__name__)

MIN_MOTIF_SEQUENCES = 5  # fewer sequences of a class give no meaningful motif table


@dataclass(frozen=True)
class InterpretSummary:
    """What :func:`interpret_sequences` wrote."""

    output: str
    sequences: int
    zero_norm: int
    max_delta: float
    top_motifs: dict[str, str]  # class -> its top k-mer (a text model's: its top word)
    motifs: int = 0  # TF-MoDISco motifs, every class
    named_motifs: int = 0  # of those, matched in the database at q < 0.05
    unit: str = "k-mer"  # what top_motifs holds: "k-mer", or "word" for a text model

    def metrics(self) -> dict[str, float]:
        return {
            "sequences": self.sequences,
            "zero_norm_sequences": self.zero_norm,
            "max_convergence_delta": self.max_delta,
            "motifs": self.motifs,
            "named_motifs": self.named_motifs,
        }


def _records(
    config: InterpretConfig, alphabet: Alphabet
) -> tuple[list[str], list[str], list[str | None]]:
    """Ids, sequences (documents) and (when known) true labels of the inputs, files first."""
    ids, sequences, labels = [], [], []
    if alphabet.is_text:
        records = read_text_inputs(config)
    else:
        files = read_sequence_files(config.inputs, config.alphabet) if config.inputs else []
        records = (
            (record, config.labels[index] if config.labels else None)
            for index, record in itertools.islice(files, config.limit)
        )
    for record, label in records:
        ids.append(record.id)
        sequences.append(record.sequence)
        labels.append(label)
    for number, sequence in enumerate(config.sequences, start=1):
        ids.append(f"seq{number}")
        sequences.append(sequence)
        labels.append(None)
    return ids, sequences, labels


def _check(config: InterpretConfig) -> tuple[Path, Alphabet, InterpretConfig]:
    """The folder and alphabet of the transformer to explain, once every input was checked
    against its manifest: input files readable and of its alphabet (a text model's: a text
    corpus, read by the columns of its training table unless named), literal sequences too,
    --labels its classes, and the output folder writable; and the config to read them by."""
    from genomeflow.models.loading import check_sequence_inputs, model_manifest, trained_columns
    from genomeflow.tracking.registry import resolve_model

    check_writable(config.output)
    folder = resolve_model(config.model)
    kind, manifest = model_manifest(folder)
    if kind != "transformer":
        raise _not_a_transformer(config.model)
    label_names = list(manifest["label_names"])
    if config.labels:
        unknown = sorted(set(config.labels) - set(label_names))
        if unknown:
            raise InputError(
                f"--labels {', '.join(unknown)}: not classes of the model "
                f"({', '.join(label_names)})"
            )
    alphabet = Alphabet.parse(manifest["alphabet"])
    if alphabet.is_text:
        trained = trained_columns(folder, manifest)
        config = dataclasses.replace(
            config,
            text_column=config.text_column or trained.text,
            label_column=config.label_column or trained.label,
        )
        check_text_inputs(config, config.model)
        return Path(folder), alphabet, config
    if config.alphabet is Alphabet.TEXT:
        raise InputError(
            f"--alphabet text/--text-column: the model {config.model} reads {alphabet.value} "
            "sequences, not text; drop them"
        )
    check_readable(config.inputs, "FASTA/FASTQ file")
    if config.motif_discovery:  # a bad motif file, release or taxon fails before any model work
        check_database(config.motif_database, config.jaspar_release, config.motif_taxon)
    # The same check as predict's: a protein file through a DNA model is refused, not turned
    # into a report of <unk> tokens.
    alphabet = check_sequence_inputs(
        config.inputs, config.alphabet, manifest, f"the model {config.model}"
    )
    check_characters(config.sequences, alphabet)
    return Path(folder), alphabet, config


def _load(folder: Path, config: InterpretConfig) -> Any:
    """The checked transformer (or CNN) of ``folder``."""
    from genomeflow.models.classifier import TransformerClassifier
    from genomeflow.models.loading import load_classifier

    classifier = load_classifier(folder)
    if not isinstance(classifier, TransformerClassifier):
        raise _not_a_transformer(config.model)
    return classifier


def _not_a_transformer(location: str) -> InputError:
    return InputError(
        f"{location}: Integrated Gradients needs a transformer or CNN (genomeflow train); "
        "this is a classic baseline, whose importances are in its reports/"
    )


def interpret_sequences(config: InterpretConfig) -> InterpretSummary:
    """Attribute every input towards its target class; write the report folder."""
    folder, alphabet, config = _check(config)
    ids, sequences, labels = _records(config, alphabet)  # a bad record fails before loading
    classifier = _load(folder, config)
    attributor = Attributor(
        classifier,
        steps=config.steps,
        baseline=config.baseline,
        batch_size=config.batch_size,
        internal_batch_size=config.internal_batch_size,
        seed=config.seed,
    )
    began = time.perf_counter()
    items = attributor.attribute(ids, sequences, config.target, labels)
    # Wall seconds per phase, in interpret.json: where a long run's time went (and what the
    # motif benchmark reads).
    seconds = {"attribution": time.perf_counter() - began}
    log.info("attributed %d sequences in %.0f s", len(items), seconds["attribution"])
    if alphabet.is_text:
        return _explain_text(items, classifier, config, seconds)
    k = config.motif_k or (3 if classifier.alphabet is Alphabet.PROTEIN else 6)
    classes = _classes(items, k)
    began = time.perf_counter()
    if config.motif_discovery:
        results = find_motifs(items, classifier.alphabet, classes, config)
        log.info(
            "TF-MoDISco and naming: %d motifs in %.0f s",
            len(results.motifs),
            time.perf_counter() - began,
        )
    else:
        results = MotifResults(notes=["Motif discovery was off (--no-motif-discovery)."])
    seconds["motif_discovery"] = time.perf_counter() - began
    verdicts = results.named()
    began = time.perf_counter()
    with atomic_directory(config.output) as folder:
        write_reports(items, folder, results.sites(), verdicts, config.pages)
        if results.motifs:
            write_motif_files(results, items, folder)
        top = _motifs(items, folder, k, classes, config)
        (folder / "summary.html").write_text(
            summary_page(folder, len(items), top, motif_section(results, folder)),
            encoding="utf-8",
        )
        record = {
            "motif_k": k,
            "top_motifs": top,
            "motif_database": results.source,
            "motifs": verdicts,
            "motif_notes": results.notes,
        }
        _write_record(folder, config, classifier, items, record, seconds, began)
    named = sum(found[0].q_value < Q_THRESHOLD for found in results.matches.values() if found)
    return _summary(config, items, top, len(results.motifs), int(named))


def _explain_text(
    items: list[SequenceAttribution],
    classifier: Any,
    config: InterpretConfig,
    seconds: dict[str, float],
) -> InterpretSummary:
    """A text model's report: pages of coloured words, and the per-class word tables where
    the motif work of sequences would be."""
    began = time.perf_counter()
    words = [document_words(item) for item in items]
    notes = text_notes(config)
    with atomic_directory(config.output) as folder:
        write_reports(items, folder, pages=config.pages, words=words)
        ranked = write_word_tables(items, words, normaliser(classifier), folder, config)
        top = {target: found[0] for target, found in ranked.items()}
        section = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
        (folder / "summary.html").write_text(
            summary_page(folder, len(items), top, section, unit="word", noun="documents"),
            encoding="utf-8",
        )
        record = {
            "motif_k": None,  # words, not k-mers
            "top_motifs": top,  # the key sequence reports use, read by the same tooling
            "top_words": ranked,
            "motif_database": None,
            "motifs": {},
            "motif_notes": notes,
        }
        _write_record(folder, config, classifier, items, record, seconds, began)
    return _summary(config, items, top, unit="word")


def _write_record(
    folder: Path,
    config: InterpretConfig,
    classifier: Any,
    items: list[SequenceAttribution],
    record: dict[str, Any],
    seconds: dict[str, float],
    began: float,
) -> None:
    """interpret.json: the settings, the inputs' count, ``record`` and the phases' seconds
    (``began``: when the report phase began)."""
    write_json(
        folder / "interpret.json",
        {
            "model": config.model,
            "config": config.to_dict(),
            "sequences": len(items),
            "label_names": classifier.label_names,
            **record,
            "seconds": {
                **seconds,
                "reports": time.perf_counter() - began,  # pages, logos and tables
            },
        },
    )


def _summary(
    config: InterpretConfig,
    items: list[SequenceAttribution],
    top: dict[str, str],
    motifs: int = 0,
    named: int = 0,
    unit: str = "k-mer",
) -> InterpretSummary:
    return InterpretSummary(
        str(config.output),
        len(items),
        sum(item.zero_norm for item in items),
        float(max(item.delta for item in items)),
        top,
        motifs,
        named,
        unit,
    )


def _classes(items: list[SequenceAttribution], k: int) -> dict[str, list[int]]:
    """Per attributed class with enough sequences (of at least ``k`` residues): their indices."""
    classes: dict[str, list[int]] = {}
    for target in sorted({item.target for item in items}):
        chosen = [i for i, item in enumerate(items) if item.target == target]
        chosen = [i for i in chosen if len(items[i].sequence) >= k]
        if len(chosen) >= MIN_MOTIF_SEQUENCES:
            classes[target] = chosen
    return classes


def _motifs(
    items: list[SequenceAttribution],
    folder: Path,
    k: int,
    classes: dict[str, list[int]],
    config: InterpretConfig,
) -> dict[str, str]:
    """A k-mer table and plot per attributed class with enough sequences."""
    top: dict[str, str] = {}
    taken: set[str] = set()
    for target, indices in classes.items():
        chosen = [items[i] for i in indices]
        table = motif_table(
            chosen,
            k=k,
            top=config.motif_top,
            min_support=config.motif_min_support,
            seed=config.seed,
        )
        if table.empty:
            continue
        title = f"top {k}-mers towards {target}"
        write_class_table(folder, f"motifs_{target}", table, taken, plot_motifs, title)
        top[target] = str(table.loc[0, "kmer"])
    return top
