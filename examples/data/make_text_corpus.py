"""Build the labelled English text corpus in examples/data/python_docs.

The text is CPython's own documentation as shipped inside the interpreter
(`pydoc_data.topics`, Python Software Foundation License Version 2), so the corpus
is rebuilt offline from the standard library and needs no download.

Each documentation topic is cut into paragraphs and every prose paragraph is
labelled by the part of the Python docs its topic belongs to (statements,
expressions, or types and the data model). The classes are balanced by a seeded
sample and written twice: as one CSV table (text,label) and as one plain-text
file per class with one paragraph a line.

    python examples/data/make_text_corpus.py [OUTPUT_DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sys
import textwrap
from collections import Counter
from pathlib import Path
from pydoc_data.topics import topics

# Topic -> class, by the chapter of the docs each topic comes from. Topics that fit
# none of the three chapters (lexical analysis, execution model, pdb, the format
# mini-language) are left out rather than forced into a class.
CLASSES: dict[str, tuple[str, ...]] = {
    # Language Reference chapters 7 and 8: simple and compound statements.
    "statements": (
        "assert", "assignment", "async", "augassign", "break", "class", "compound",
        "continue", "del", "else", "for", "function", "global", "if", "import",
        "nonlocal", "pass", "raise", "return", "try", "while", "with", "yield",
    ),
    # Language Reference chapter 6: expressions and operators.
    "expressions": (
        "atom-identifiers", "atom-literals", "attribute-references", "await", "binary",
        "bitwise", "booleans", "calls", "comparisons", "conversions", "dict",
        "exprlists", "in", "lambda", "lists", "operator-summary", "power", "shifting",
        "slicings", "subscriptions", "unary",
    ),
    # Language Reference chapter 3 (data model) and Library Reference "Built-in Types".
    "types": (
        "attribute-access", "bltin-code-objects", "bltin-ellipsis-object",
        "bltin-null-object", "bltin-type-objects", "callable-types", "context-managers",
        "customization", "numeric-types", "objects", "sequence-types", "specialattrs",
        "specialnames", "string-methods", "truth", "types", "typesfunctions",
        "typesmapping", "typesmethods", "typesmodules", "typesseq", "typesseq-mutable",
    ),
}  # fmt: skip

MIN_CHARS, MAX_CHARS = 60, 400  # long enough to carry words, short enough to be one idea
MAX_PER_CLASS = 300  # keeps the folder small
SEED = 42

# A paragraph ends as a sentence or as the lead-in to a list or an example; code rarely does.
_SENTENCE_END = re.compile(r"[.:?!][)\"’]?$")
# Heading underlines ("*****", "=====") and similar rule lines.
_RULE_LINE = re.compile(r"^[*=\-~^#]{3,}$")


def prose_paragraphs(text: str) -> list[str]:
    """Return the prose paragraphs of one topic, each normalised to one line."""
    kept = []
    for block in re.split(r"\n[ \t]*\n", text):
        # Definition-list bodies are indented as deeply as code, so indentation alone
        # cannot tell code from prose; dedent and judge the lines themselves.
        lines = [line.strip() for line in textwrap.dedent(block).splitlines()]
        if not any(lines):
            continue
        if "::=" in block:  # grammar productions
            continue
        if any(line.startswith((">>>", "...")) or _RULE_LINE.match(line) for line in lines):
            continue  # interactive examples and headings
        paragraph = " ".join(block.split())
        if not MIN_CHARS <= len(paragraph) <= MAX_CHARS:
            continue
        if not _SENTENCE_END.search(paragraph):
            continue  # code blocks, signatures, truncated tables
        letters = sum(ch.isalpha() or ch.isspace() for ch in paragraph)
        if letters < 0.7 * len(paragraph):
            continue  # symbol-heavy text (code, tables) rather than prose
        kept.append(paragraph)
    return kept


def build_corpus() -> dict[str, list[str]]:
    """Return the balanced sample: class -> paragraphs."""
    missing = sorted({t for names in CLASSES.values() for t in names} - topics.keys())
    if missing:
        raise SystemExit(f"topics missing from this Python's pydoc_data: {missing}")

    # dict keeps first appearance, so paragraphs repeated across topics of a class
    # (e.g. "compound" repeats "if", "while", ...) are kept once, in a stable order.
    per_class = {
        label: list(dict.fromkeys(p for topic in names for p in prose_paragraphs(topics[topic])))
        for label, names in CLASSES.items()
    }
    # A paragraph found under two classes has no single true label: drop it everywhere.
    seen = Counter(p for paragraphs in per_class.values() for p in paragraphs)
    per_class = {label: [p for p in ps if seen[p] == 1] for label, ps in per_class.items()}

    n = min(MAX_PER_CLASS, *(len(ps) for ps in per_class.values()))
    rng = random.Random(SEED)
    return {label: rng.sample(ps, n) for label, ps in per_class.items()}


def write_atomically(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        write(fh)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The default sits next to this script, so the command works from any directory.
    default = Path(__file__).resolve().parent / "python_docs"
    parser.add_argument("out_dir", nargs="?", type=Path, default=default)
    out_dir = parser.parse_args(argv).out_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    corpus = build_corpus()
    rows = [(text, label) for label, texts in corpus.items() for text in texts]
    # Shuffle the table so that taking its first rows does not take a single class.
    random.Random(SEED).shuffle(rows)

    def write_csv(fh) -> None:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("text", "label"))
        writer.writerows(rows)

    write_atomically(out_dir / "paragraphs.csv", write_csv)
    for label, texts in corpus.items():
        write_atomically(
            out_dir / f"{label}.txt", lambda fh, texts=texts: fh.write("\n".join(texts) + "\n")
        )
    counts = ", ".join(f"{label} {len(texts)}" for label, texts in corpus.items())
    print(f"wrote {len(rows)} paragraphs to {out_dir} ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
