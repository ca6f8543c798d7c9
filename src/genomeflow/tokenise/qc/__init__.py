"""Token quality control: compare, merge and inspect tokeniser folders.

This re-creates the reference toolkit's ``compare_empirical_tokens`` (comparison of Unigram
token weights across runs, and their inner/outer merge with mean/median/min/max pooling) on
genomeflow tokeniser folders, with these corrections:

- special tokens are neither compared nor merged as pieces (their stored score, 0.0, would rank
  them above every real piece); a merged tokeniser keeps them at ids 0-4;
- tokens present in some but not all tokenisers are reported too, not only the intersection;
- outliers are tokens whose score variance is above Tukey's upper fence; no lower fence, which
  would only flag tokens whose scores agree;
- the score plot is one box per tokeniser at a fixed size (a figure that grows with the
  vocabulary cannot be drawn for 32k tokens) and needs no display;
- a merged tokeniser is a complete HF tokenizer (normalizer, post-processor, special tokens)
  with genomeflow metadata, not a bare model JSON; every output is published atomically.

Scores. A Unigram tokeniser stores one natural-log probability per piece in tokenizer.json;
that is the token's score. BPE, char and k-mer tokenisers carry no score: a BPE merge rank or an
alphabetical k-mer id is not on the log-probability scale, and mixing the two would make a
variance across tokenisers meaningless. Such tokenisers therefore take part in the vocabulary
overlap only and are left out of every score statistic; :attr:`ComparisonResult.notes` says
which were left out.
"""

from genomeflow.tokenise.qc.common import HOWS, POOLINGS
from genomeflow.tokenise.qc.compare import (
    ComparedTokeniser,
    ComparisonResult,
    TokenStats,
    compare_tokenisers,
    write_comparison,
)
from genomeflow.tokenise.qc.inspection import (
    Coverage,
    InspectionResult,
    inspect_tokeniser,
    write_inspection,
)
from genomeflow.tokenise.qc.merge import merge_tokenisers

__all__ = [
    "HOWS",
    "POOLINGS",
    "ComparedTokeniser",
    "ComparisonResult",
    "Coverage",
    "InspectionResult",
    "TokenStats",
    "compare_tokenisers",
    "inspect_tokeniser",
    "merge_tokenisers",
    "write_comparison",
    "write_inspection",
]
