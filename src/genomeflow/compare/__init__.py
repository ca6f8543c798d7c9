"""Comparing trained models without data (``genomeflow compare``), and summarising many runs
(``genomeflow summarise``).

- :mod:`~genomeflow.compare.layers`: a saved model's weight matrices as weightwatcher reads
  them; weightwatcher imported and run quietly.
- :mod:`~genomeflow.compare.analysis`: :func:`~genomeflow.compare.analysis.analyse_model`,
  weightwatcher spectral metrics (alpha per layer...) of one model and its summary numbers.
- :mod:`~genomeflow.compare.weights_report`: those results as plots, Markdown and HTML.
- :mod:`~genomeflow.compare.stage`: :func:`~genomeflow.compare.stage.compare_models`, the
  ``compare`` stage (a :class:`~genomeflow.config.CompareConfig` in, a report folder out).
- :mod:`~genomeflow.compare.splits`: :func:`~genomeflow.compare.splits.metric_choice`, which
  metric and split a name such as ``test_f1_macro`` asks for.
- :mod:`~genomeflow.compare.collect`: metric values of result folders and MLflow runs.
- :mod:`~genomeflow.compare.summarise`: :func:`~genomeflow.compare.summarise.summarise_runs`,
  the ``summarise`` stage: one metric across runs as a table and a violin plot.

Import the submodules: weightwatcher and MLflow load only when used.
"""
