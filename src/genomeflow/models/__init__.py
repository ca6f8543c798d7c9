"""Classifiers: the classic baselines (and, later, transformers)."""
