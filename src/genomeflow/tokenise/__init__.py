"""Tokenisers for sequences: empirical (unigram, bpe), character and k-mer."""

from genomeflow.tokenise.build import TokeniseSummary, train_tokeniser
from genomeflow.tokenise.corpus import Corpus, build_corpus
from genomeflow.tokenise.tokenizer import SPECIAL_TOKENS, GenomeTokenizer, kmer_words

__all__ = [
    "SPECIAL_TOKENS",
    "Corpus",
    "GenomeTokenizer",
    "TokeniseSummary",
    "build_corpus",
    "kmer_words",
    "train_tokeniser",
]
