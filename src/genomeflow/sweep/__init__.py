"""Hyperparameter sweeps: one wandb-format spec, run locally on Optuna or on Katib.

:class:`SweepSpec` reads and checks a wandb sweep file (JSON or YAML) without importing any
engine; :func:`run_sweep` runs it with Optuna on this machine, each trial an MLflow child run,
and writes the trials table, the best params and plots; :mod:`genomeflow.sweep.katib` compiles
the same spec to a Katib Experiment whose trials are `genomeflow train` pods.
"""

from genomeflow.sweep.local import SweepError, SweepResult, TrialContext, run_sweep
from genomeflow.sweep.spec import Hyperband, MetricGoal, Parameter, SweepSpec

__all__ = [
    "Hyperband",
    "MetricGoal",
    "Parameter",
    "SweepError",
    "SweepResult",
    "SweepSpec",
    "TrialContext",
    "run_sweep",
]
