"""Merge Unigram tokenisers by inner or outer union with pooled scores."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genomeflow.errors import InputError
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.storage import atomic_directory, file_digest
from genomeflow.tokenise.build import ordered_pieces, residue_letters
from genomeflow.tokenise.qc.common import (
    HOWS,
    POOLINGS,
    _choice,
    _load_sources,
    _provenance,
    _Source,
)
from genomeflow.tokenise.tokenizer import (
    METADATA_FILE,
    SPECIAL_TOKENS,
    UNK,
    GenomeTokenizer,
    wrap_backend,
)


def _require_agreement(
    sources: Sequence[_Source], what: str, value: Callable[[_Source], str]
) -> str:
    first = sources[0]
    for source in sources[1:]:
        if value(source) != value(first):
            raise InputError(
                f"{source.folder} has {what} {value(source)} but {first.folder} has "
                f"{value(first)}; merge tokenisers of one {what}"
            )
    return value(first)


def merge_tokenisers(
    folders: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    how: str = "outer",
    pooling: str = "mean",
    names: Sequence[str] | None = None,
) -> Path:
    """Merge Unigram tokenisers into one Unigram tokeniser folder.

    The merged vocabulary is the pieces in every tokeniser (``inner``) or in any (``outer``);
    a piece's score is ``pooling`` over the tokenisers that have it, rounded to 1e-6. The
    scores are pooled log-probabilities, not renormalised: HF's Unigram Viterbi needs no
    normalised distribution, and renormalising would shift every score by one constant, which
    changes segmentations (it trades piece count against piece length). Special tokens come
    first with ids 0-4, then pieces by (-score, piece). The first tokeniser's normalizer and
    post-processor (CLS/SEP template) are kept; special tokens as `genomeflow tokenise` sets them.

    Args:
        folders: two or more Unigram tokeniser folders of one alphabet and case handling.
        output: the merged tokeniser folder; replaced atomically if it exists.
        how: ``inner`` (tokens in all) or ``outer`` (tokens in any).
        pooling: ``mean``, ``median``, ``min`` or ``max``.
        names: labels of the inputs in the metadata; default: the folder names.

    Returns:
        The output folder, loadable by ``GenomeTokenizer.load`` and ``AutoTokenizer``.

    Raises:
        InputError: fewer than two folders, a missing or non-tokeniser folder, a non-Unigram
            tokeniser, alphabets or case handling that differ, no piece shared by all (inner).
        ConfigError: an unknown ``how`` or ``pooling``; names that do not match the folders.
    """
    from tokenizers import Tokenizer

    _choice(how, HOWS, "merge mode (how)")
    pool = POOLINGS[_choice(pooling, POOLINGS, "pooling")]
    sources = _load_sources(folders, names, "merging")
    for source in sources:
        if source.scores is None:
            raise InputError(
                f"{source.folder}: is a {source.tokenizer.method} tokeniser; merging needs "
                "unigram tokenisers (their pieces carry log-probabilities); rebuild it with "
                "`genomeflow tokenise --method unigram`"
            )
    alphabet = _require_agreement(sources, "alphabet", lambda s: s.tokenizer.alphabet.value)
    case = _require_agreement(sources, "case handling", lambda s: s.case)

    scored = [source.scores for source in sources if source.scores is not None]
    pieces = set(scored[0]).intersection(*scored) if how == "inner" else set().union(*scored)
    if not pieces:
        raise InputError(
            f"no piece is in all {len(sources)} tokenisers; merge with how='outer' instead"
        )
    pooled = {piece: pool([s[piece] for s in scored if piece in s]) for piece in pieces}
    letters = residue_letters(Alphabet.parse(alphabet), case)
    ordered, added_letters = ordered_pieces(pooled.items(), letters)

    first = sources[0]
    document = json.loads(json.dumps(first.document))  # a deep copy of the first tokenizer.json
    specials = document["model"]["vocab"][: len(SPECIAL_TOKENS)]  # their scores as trained
    document["model"] = {
        "type": "Unigram",
        "unk_id": SPECIAL_TOKENS.index(UNK),
        "vocab": specials + [[piece, score] for piece, score in ordered],
        "byte_fallback": False,
    }
    document["truncation"] = document["padding"] = None
    backend = Tokenizer.from_str(json.dumps(document))
    hf = wrap_backend(backend)

    seen_inputs: list[dict[str, Any]] = []
    for source in sources:
        seen_inputs += [
            i for i in source.tokenizer.metadata.get("inputs", []) if i not in seen_inputs
        ]
    metadata = {
        **_provenance("tokens-merge"),
        "method": "unigram",
        "parameters": {
            "method": "unigram",
            "vocab_size": len(hf),
            "max_piece_length": max(map(len, pieces)),
            "case": case,
            "how": how,
            "pooling": pooling,
        },
        "alphabet": alphabet,
        "how": how,
        "pooling": pooling,
        "special_tokens": first.tokenizer.metadata.get("special_tokens"),
        "added_letters": added_letters,
        "merged_from": [
            {
                "name": source.name,
                "path": str(source.folder),
                "method": source.tokenizer.method,
                "vocab_size": source.tokenizer.vocab_size,
                "metadata_digest": file_digest(source.folder / METADATA_FILE),
                "tokenizer_digest": file_digest(source.folder / "tokenizer.json"),
            }
            for source in sources
        ],
        "inputs": seen_inputs,  # the training inputs of every merged tokeniser
    }
    with atomic_directory(output) as folder:
        GenomeTokenizer(hf, metadata).save(folder)
    return Path(output)
