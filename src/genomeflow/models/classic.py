"""Classic classifiers of the baselines: random forest, XGBoost and logistic regression.

One wrapper gives them one interface: hyperparameters checked by name, training in stages (so a
sweep's Hyperband pruner sees a learning curve), probabilities, model-based importances, and
saving without pickle (XGBoost's UBJSON format; skops for scikit-learn).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from genomeflow.errors import ConfigError, InputError
from genomeflow.io.skops import corrupt_error, load_skops

ModelKind = Literal["rf", "xgb", "logreg"]
MODEL_KINDS: tuple[str, ...] = ("rf", "xgb", "logreg")
DEFAULTS: dict[str, dict[str, Any]] = {
    "rf": {"n_estimators": 500, "max_features": "sqrt"},
    # hist is XGBoost's fast histogram method (also its GPU one); colsample keeps k-mer
    # features from being dominated by a few.
    "xgb": {
        "n_estimators": 300,
        "learning_rate": 0.1,
        "max_depth": 6,
        "subsample": 0.9,
        "colsample_bytree": 0.5,
        "tree_method": "hist",
    },
    "logreg": {"C": 1.0, "max_iter": 2000},
}
IMPORTANCE_KIND = {"rf": "impurity", "xgb": "gain", "logreg": "abs_coefficient"}
MODEL_FILES = {"rf": "model.skops", "xgb": "model.ubj", "logreg": "model.skops"}


def _estimator(kind: str, seed: int = 42, n_jobs: int = -1, device: str = "cpu") -> Any:
    """The library's classifier with genomeflow's fixed settings (no user hyperparameters)."""
    if kind == "xgb":
        from xgboost import XGBClassifier

        return XGBClassifier(random_state=seed, n_jobs=n_jobs, device=device)
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(random_state=seed, n_jobs=n_jobs)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=seed)


def check_hyperparameters(kind: str, names: Iterable[str]) -> None:
    """Raise ConfigError naming any of ``names`` that the ``kind`` model does not take."""
    valid = set(_estimator(kind).get_params())
    unknown = sorted(set(names) - valid)
    if unknown:
        raise ConfigError(
            f"{', '.join(unknown)}: not {kind} hyperparameter(s); valid names: "
            f"{', '.join(sorted(valid))}"
        )


class ClassicModel:
    """A random forest, XGBoost or logistic-regression classifier over a feature matrix.

    Args:
        kind: ``rf``, ``xgb`` or ``logreg``.
        params: hyperparameters by their library names (over :data:`DEFAULTS`).
        seed: random seed.
        n_jobs: threads (-1 = all cores).
        device: ``cpu`` or ``cuda`` (XGBoost only).
    """

    def __init__(
        self,
        kind: str,
        params: Mapping[str, Any] = (),
        seed: int = 42,
        n_jobs: int = -1,
        device: str = "cpu",
    ) -> None:
        self.kind = kind
        self.params = {**DEFAULTS[kind], **dict(params)}
        self.estimator = self._build(seed, n_jobs, device)

    def _build(self, seed: int, n_jobs: int, device: str) -> Any:
        check_hyperparameters(self.kind, self.params)
        estimator = _estimator(self.kind, seed, n_jobs, device).set_params(**self.params)
        if self.kind == "logreg":
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import MaxAbsScaler

            # Counts and pooled vectors differ in scale; MaxAbs keeps sparse input sparse.
            return make_pipeline(MaxAbsScaler(), estimator)
        return estimator

    def fit(self, features: Any, labels: np.ndarray, stages: int = 1) -> ClassicModel:
        """Train to the end (see :meth:`fit_in_stages`)."""
        list(self.fit_in_stages(features, labels, stages))  # run every stage
        return self

    def fit_in_stages(self, features: Any, labels: np.ndarray, stages: int) -> Iterator[int]:
        """Train, yielding the stage number (1..stages) whenever the model can predict.

        Trees are added in ``stages`` steps: forests by warm start (the same trees as one full
        fit), boosting by continued training (the same rounds; row/column sampling draws
        differ from one full fit). Logistic regression has one stage, the last. Bad
        hyperparameter values raise ConfigError.
        """
        try:
            if self.kind == "logreg" or stages <= 1:
                self.estimator.fit(features, labels)
                yield stages
                return
            total = int(self.params["n_estimators"])
            done, booster = 0, None
            for stage in range(1, stages + 1):
                target = math.ceil(total * stage / stages)
                if target == done:
                    continue
                if self.kind == "rf":
                    self.estimator.set_params(warm_start=True, n_estimators=target)
                    self.estimator.fit(features, labels)
                else:
                    self.estimator.set_params(n_estimators=target - done)
                    self.estimator.fit(features, labels, xgb_model=booster, verbose=False)
                    booster = self.estimator.get_booster()
                done = target
                yield stage
        except ValueError as error:  # scikit-learn's InvalidParameterError; XGBoost's checks
            raise ConfigError(f"{self.kind}: bad hyperparameter value ({error})") from error

    def predict_proba(self, features: Any) -> np.ndarray:
        """Class probabilities, shape (rows, classes); rows sum to 1 in float64 (XGBoost's
        float32 output is renormalised)."""
        probabilities = np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def importances(self) -> np.ndarray:
        """Model-based importance per feature (:data:`IMPORTANCE_KIND` says which)."""
        if self.kind == "logreg":
            coefficients = self.estimator[-1].coef_
            return np.abs(coefficients).mean(axis=0)
        return np.asarray(self.estimator.feature_importances_, dtype=np.float64)

    def save(self, folder: Path) -> str:
        """Write the model file into ``folder``; returns its name."""
        name = MODEL_FILES[self.kind]
        if self.kind == "xgb":
            self.estimator.save_model(folder / name)
        else:
            import skops.io

            skops.io.dump(self.estimator, folder / name)
        return name

    @classmethod
    def load(cls, folder: Path, kind: str, params: Mapping[str, Any]) -> ClassicModel:
        """The model saved in ``folder`` by :meth:`save`."""
        model = cls.__new__(cls)
        model.kind, model.params = kind, dict(params)
        path = folder / MODEL_FILES[kind]
        if kind == "xgb":
            from xgboost import XGBClassifier
            from xgboost.core import XGBoostError

            if not path.is_file():
                raise InputError(f"{path}: missing; the model folder is incomplete")
            model.estimator = XGBClassifier()
            try:
                model.estimator.load_model(path)
            except (XGBoostError, OSError, ValueError) as error:
                raise corrupt_error(path, error) from error
        else:
            model.estimator = load_skops(path)
        return model
