"""Labelled datasets: grouped stratified splits, chunking, train-only augmentation."""

from genomeflow.data.build import DatasetSummary, build_dataset
from genomeflow.data.load import LabelledDataset, load_dataset
from genomeflow.data.split import SPLITS, assign_splits, grouped_folds

__all__ = [
    "SPLITS",
    "DatasetSummary",
    "LabelledDataset",
    "assign_splits",
    "build_dataset",
    "grouped_folds",
    "load_dataset",
]
