"""Comparing trained models without data, and summarising many runs.

- :func:`~genomeflow.compare.weights.analyse_model` / :func:`compare_models`: weightwatcher
  spectral metrics (alpha per layer...) of transformer models, and a comparison report folder.
- :func:`~genomeflow.compare.summarise.summarise_runs`: one metric across MLflow runs and
  result folders (train, baseline, crossval folds, sweep trials) as a table and a violin plot.

Import the submodules: weightwatcher and MLflow load only when used.
"""
