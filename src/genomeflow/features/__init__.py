"""Sequence features for the classic baselines: token counts, TF-IDF, word2vec, one-hot.

Every featuriser is fitted on training sequences only and saved without pickle beside the model,
so ``genomeflow predict`` turns new raw sequences into the same columns.
"""

from genomeflow.features.featurisers import (
    FEATURE_KINDS,
    Featuriser,
    OneHot,
    TokenCounts,
    Word2VecPooled,
    load_featuriser,
    make_featuriser,
)

__all__ = [
    "FEATURE_KINDS",
    "Featuriser",
    "OneHot",
    "TokenCounts",
    "Word2VecPooled",
    "load_featuriser",
    "make_featuriser",
]
