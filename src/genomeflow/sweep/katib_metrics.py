"""The metric lines ``genomeflow train`` prints for Katib and the names a sweep spec may give.

Every epoch, ``genomeflow train`` prints one line per metric as ``<RFC 3339 time>
name=value``; a Katib Experiment's StdOut collector reads them with :data:`METRICS_FILTER`.
:func:`katib_metric` maps the metric a sweep spec names (``eval/f1``, ``f1``, ``loss``...) onto
the printed name that becomes the Experiment's objective.

This module imports no Kubernetes or Katib library, so ``genomeflow train`` can share it.
"""

from __future__ import annotations

from genomeflow.errors import ConfigError
from genomeflow.metric_names import canonical_metric

# the validation metrics `genomeflow train` prints besides eval_loss and eval_f1
KATIB_METRICS = ("accuracy", "balanced_accuracy", "mcc", "roc_auc", "pr_auc")
# genomeflow's metric lines: `name=number`. Katib's default filter in older releases parsed
# `1e-05` as 1 and newer ones accept an empty value (`eval_loss=nan` would become ""); this one
# takes exponents and needs a digit, so a NaN line is skipped. The RFC 3339 time in front is
# read by the collector as the line's timestamp and has no `=`, so it never matches.
METRICS_FILTER = r"([\w|-]+)\s*=\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
# What `genomeflow train` prints per epoch (genomeflow.train.train.katib_lines): canonical
# metric -> line name; eval_f1 is macro F1 (the reference's eval/f1), eval_loss the log loss.
LINE_NAMES: dict[str, str] = {
    "log_loss": "eval_loss",
    "f1_macro": "eval_f1",
    **{name: f"eval_{name}" for name in KATIB_METRICS},
}
PRINTED_METRICS: tuple[str, ...] = (*LINE_NAMES.values(), "train_loss")


def katib_metric(name: str) -> str:
    """The StdOut metric name ``genomeflow train`` prints for a sweep metric.

    ``eval/f1``, ``eval_f1``, ``f1`` and ``f1_macro`` give ``eval_f1``; ``loss`` gives
    ``eval_loss``; a printed name (``train_loss``) is taken as it is.

    Raises:
        ConfigError: the metric is not one ``genomeflow train`` reports to Katib.
    """
    text = name.strip().lower().replace("/", "_").replace("-", "_")
    if text in PRINTED_METRICS:
        return text
    try:
        found = LINE_NAMES.get(canonical_metric(name))
    except ConfigError:
        found = None
    if found is None:
        raise ConfigError(
            f"metric {name!r}: `genomeflow train` reports {', '.join(PRINTED_METRICS)} to Katib "
            "(validation split); set metric.name to one of them (f1, eval/f1, accuracy, mcc, "
            "roc_auc, loss... are mapped)"
        )
    return found
