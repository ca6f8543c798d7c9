"""Labelled datasets: grouped stratified splits, chunking, train-only augmentation."""

from genomeflow.data.build import DatasetSummary, build_dataset
from genomeflow.data.split import SPLITS, assign_splits

__all__ = ["SPLITS", "DatasetSummary", "assign_splits", "build_dataset"]
