"""Hand-made test inputs: tiny sequence files, planted motifs, and one file per bad-input case."""

from __future__ import annotations

import gzip
import json
import random
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from genomeflow.config import DatasetConfig, TokeniseConfig
from genomeflow.data import build_dataset
from genomeflow.tokenise import train_tokeniser

MOTIF = "TATAAT"  # the -10 box, planted in the positive class of the tiny data


def write_text(path: Path, text: str, gz: bool = False, crlf: bool = False) -> Path:
    """Write ``text`` to ``path`` (optionally with CRLF line ends and/or gzip)."""
    data = (text.replace("\n", "\r\n") if crlf else text).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def artifact(kind, folder: Path, name: str):
    """A KFP artifact of ``kind`` at ``folder/name``, for calling a component's python_func."""
    return kind(name=name, uri=str(folder / name))


def fasta_text(records: list[tuple[str, str]]) -> str:
    return "".join(f">{name}\n{sequence}\n" for name, sequence in records)


def planted_records(count: int, length: int, seed: int, motif: str | None) -> list[tuple[str, str]]:
    """Random DNA records; with ``motif``, each carries it at a random position."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        bases = [rng.choice("ACGT") for _ in range(length)]
        if motif:
            at = rng.randrange(length - len(motif))
            bases[at : at + len(motif)] = motif
        records.append((f"{'pos' if motif else 'neg'}{i}", "".join(bases)))
    return records


BAD_INPUTS = {
    "missing file": (None, "no such file"),
    "empty file": (b"", "file is empty"),
    "no records": (b"\n\n  \n", "no records found"),
    "not fasta": (b"hello world\n", "not FASTA or FASTQ"),
    "empty header": (b">\nACGT\n", "record #1 has an empty header"),
    "no sequence": (b">a\nACGT\n>b\n>c\nACGT\n", "record 'b' (#2) has no sequence"),
    "invalid character": (
        b">a\nACGT\n>b\nACGTACGTAC\nGGXA\n",
        "record 'b': 'X' at position 13 is not a valid dna character",
    ),
    "duplicate id": (b">a\nACGT\n>b\nAC\n>a\nGG\n", "record #3 repeats the id 'a'"),
    "binary content": (b">a\nAC\xff\xfeGT\n", "not a text FASTA/FASTQ file"),
    "fastq quality length": (b"@a\nACGT\n+\nII\n", "malformed FASTQ"),
    "truncated gzip": ("truncated", "gzip data is truncated or corrupt"),
    "corrupt gzip": ("corrupt", "gzip data is truncated or corrupt"),
}


def bad_file(tmp_path: Path, case: str) -> Path:
    """Make the file of one BAD_INPUTS case; returns its path."""
    content, _ = BAD_INPUTS[case]
    path = tmp_path / "bad.fasta"
    if content is None:
        return path
    if content in ("truncated", "corrupt"):
        path = tmp_path / "bad.fasta.gz"
        packed = bytearray(
            gzip.compress(fasta_text([(f"r{i}", "ACGT" * 50) for i in range(500)]).encode())
        )
        if content == "truncated":
            packed = packed[: len(packed) // 2]
        else:
            packed[len(packed) // 2 : len(packed) // 2 + 16] = b"\x00" * 16
        path.write_bytes(bytes(packed))
        return path
    path.write_bytes(content)
    return path


def make_dataset(
    folder: Path, positives, negatives, name: str = "ds", reverse_complement: bool | None = None
) -> str:
    """A 6-mer tokeniser and a 60/20/20 dataset of two classes."""
    pos = write_text(folder / "promoter.fa", fasta_text(positives))
    neg = write_text(folder / "background.fa", fasta_text(negatives))
    tokeniser = folder / "tok"
    if not tokeniser.exists():
        train_tokeniser(
            TokeniseConfig(inputs=[str(pos)], output=str(tokeniser), method="kmer", k=6)
        )
    output = folder / name
    build_dataset(
        DatasetConfig(
            inputs=[str(pos), str(neg)],
            tokeniser=str(tokeniser),
            output=str(output),
            split=[0.6, 0.2, 0.2],
            reverse_complement=reverse_complement,
        )
    )
    return str(output)


class JsonAnswers(BaseHTTPRequestHandler):
    """The request handler of a faked HTTP API: JSON answers, no request log on stderr."""

    def answer(self, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


# Two topics with words of their own plus shared filler, so a word-level model can tell them
# apart and a character-level shortcut cannot (both use the same letters).
TOPIC_WORDS = {
    "pets": "cat dog kitten puppy purred barked leash collar fur whiskers",
    "markets": "stocks bonds rates earnings investors shares dividend yield index fund",
}
SHARED_WORDS = "the a of and to in on with was were today very"


def text_documents(label: str, count: int, seed: int) -> list[str]:
    """``count`` sentences of topic ``label``: topic words among shared ones, some punctuation."""
    rng = random.Random(seed)
    topic, shared = TOPIC_WORDS[label].split(), SHARED_WORDS.split()
    documents = []
    for _ in range(count):
        length = rng.randint(8, 16)
        words = [rng.choice(topic if rng.random() < 0.4 else shared) for _ in range(length)]
        documents.append(" ".join(words).capitalize() + rng.choice([".", "!", ", really."]))
    return documents


def write_text_corpus(folder: Path, count: int = 40) -> dict[str, Path]:
    """The same two-topic corpus as a CSV table (``docs.csv``: id, text, label) and as one plain
    file per class (``pets.txt``, ``markets.txt``)."""
    import csv

    rows = []
    paths = {}
    for seed, label in enumerate(TOPIC_WORDS):
        documents = text_documents(label, count, seed)
        paths[label] = write_text(folder / f"{label}.txt", "\n".join(documents) + "\n")
        rows += [(f"{label}{i}", text, label) for i, text in enumerate(documents)]
    with open(folder / "docs.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        writer.writerows(rows)
    paths["table"] = folder / "docs.csv"
    return paths
