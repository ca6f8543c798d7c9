"""Sequence operations: alphabets, reverse complement, chunking and control shuffles."""

from genomeflow.sequence.alphabet import Alphabet, detect_alphabet
from genomeflow.sequence.chunking import Chunk, chunk_sequence, chunk_spans
from genomeflow.sequence.complement import reverse_complement
from genomeflow.sequence.controls import block_bootstrap, kmer_shuffle, markov_sample

__all__ = [
    "Alphabet",
    "Chunk",
    "block_bootstrap",
    "chunk_sequence",
    "chunk_spans",
    "detect_alphabet",
    "kmer_shuffle",
    "markov_sample",
    "reverse_complement",
]
