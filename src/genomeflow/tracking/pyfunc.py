"""genomeflow models as MLflow pyfunc models: what a registry consumer loads and calls.

A registered version is served with ``mlflow.pyfunc.load_model("models:/NAME@champion")`` or
``mlflow models serve -m models:/NAME@champion``: a DataFrame with a ``sequence`` column in, a
DataFrame of ``label``, ``probability`` and ``p_<class>`` out. The model carries the genomeflow
package as code (``code_paths``) and pinned requirements, so it loads where genomeflow is not
installed.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from genomeflow.errors import GenomeflowError, InputError, TrackingError
from genomeflow.sequence.alphabet import check_characters
from genomeflow.tracking.runs import Run, recording

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"  # the pyfunc artifact holding the genomeflow model folder
# MLflow "models from code": the model is this script, run at load time (genomeflow comes from
# the model's code_paths copy), rather than a cloudpickled object. Versions registered before
# this module existed name genomeflow.tracking.registry, which still re-exports the class.
ENTRY_FILE = "genomeflow_pyfunc.py"
ENTRY_CODE = """# The MLflow pyfunc entry point of a registered genomeflow model.
import mlflow

from genomeflow.tracking.pyfunc import SequenceClassifierModel

mlflow.models.set_model(SequenceClassifierModel())
"""
# What a served genomeflow model imports, pinned to the installed versions: every model (the
# loader, genomeflow's tokenisers, sequence and config code), then each family's own. Training,
# pipelines, sweeps and interpretation (kfp, optuna, captum, weightwatcher...) are not needed.
# genomeflow's tokenisers load through transformers (its fast tokenizers), in every family.
COMMON_PACKAGES = ("mlflow", "numpy", "pandas", "pyarrow", "pyyaml", "biopython", "tokenizers")
COMMON_PACKAGES += ("transformers", "safetensors")
NEURAL_PACKAGES = ("torch",)  # transformers and the CNN
BASELINE_PACKAGES = ("scikit-learn", "skops")
XGBOOST_PACKAGES = ("xgboost-cpu", "xgboost")  # whichever is installed (CPU or GPU build)
WORD2VEC_PACKAGES = ("gensim",)  # the word2vec featuriser reads its vectors with gensim


def sequences_of(model_input: Any) -> list[str]:
    """The sequences of a pyfunc input: a DataFrame's ``sequence`` column, a Series, a list.

    Raises:
        InputError: no ``sequence`` column, or an entry that is not a non-empty string.
    """
    if isinstance(model_input, pd.DataFrame):
        if "sequence" not in model_input.columns:
            columns = ", ".join(map(str, model_input.columns)) or "none"
            raise InputError(
                f"the input has no 'sequence' column (columns: {columns}); give a table with "
                "one sequence per row in a column named 'sequence'"
            )
        values = model_input["sequence"].tolist()
    elif isinstance(model_input, str):
        values = [model_input]
    elif isinstance(model_input, (pd.Series, np.ndarray)):
        values = list(model_input.tolist())
    else:
        values = list(model_input)
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value:
            raise InputError(
                f"sequence #{index + 1} is {value!r}, not a sequence of residues; give every "
                "row a non-empty string"
            )
    return values


def prediction_frame(probabilities: np.ndarray, label_names: Sequence[str]) -> pd.DataFrame:
    """``label``, ``probability`` (of that label) and ``p_<class>`` per class, one row per input.

    Args:
        probabilities: shape (sequences, classes), columns in ``label_names`` order.
        label_names: the class names.
    """
    best = probabilities.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "label": [label_names[i] for i in best],
            "probability": probabilities[np.arange(len(best)), best].astype(float),
        }
    )
    for column, name in enumerate(label_names):
        frame[f"p_{name}"] = probabilities[:, column].astype(float)
    return frame


class ModelInputError(MlflowException, InputError):
    """Input a served genomeflow model cannot score: an MlflowException with the error code
    INVALID_PARAMETER_VALUE, so MLflow's scoring server answers HTTP 400 with genomeflow's
    one-line message (and no stack trace); an InputError to genomeflow's own callers.
    """

    def __init__(self, message: str) -> None:
        self._line = message
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:  # type: ignore[override]
        return self._line

    @message.setter
    def message(self, value: str) -> None:
        # MLflow's scoring server prefixes "Failed to predict data '<the whole input frame>'"
        # to the message it answers with; the served line stays genomeflow's own.
        pass


class SequenceClassifierModel(mlflow.pyfunc.PythonModel):
    """A genomeflow classifier behind MLflow's pyfunc interface.

    The genomeflow model folder is the pyfunc artifact ``model``; any folder that
    :func:`genomeflow.models.loading.load_classifier` loads works (the classifier handles case).
    """

    def load_context(self, context: Any) -> None:
        from genomeflow.models.checkpoint import quiet_transformers
        from genomeflow.models.loading import load_classifier

        with quiet_transformers():  # a served model's log: no "Loading weights" bar
            self.classifier = load_classifier(context.artifacts[MODEL_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Class probabilities of each sequence.

        Args:
            context: the pyfunc context (unused; the classifier was loaded in load_context).
            model_input: a DataFrame with a ``sequence`` column (a list or Series of strings
                also works).
            params: unused.

        Returns:
            DataFrame: ``label``, ``probability``, ``p_<class>`` (label_names order), one row
            per input sequence.

        Raises:
            ModelInputError: (an MlflowException and an InputError) no sequences column, an
                empty or non-string entry, a character outside the model's alphabet, or any
                other input the classifier refuses; its message is the one line to show.
        """
        try:
            sequences = sequences_of(model_input)
            check_characters(sequences, self.classifier.alphabet)
            probabilities = np.asarray(self.classifier.predict_proba(sequences), dtype=float)
        except GenomeflowError as error:
            raise ModelInputError(" ".join(str(error).split())) from None
        return prediction_frame(probabilities, self.classifier.label_names)


def model_packages(classifier: Any) -> list[str]:
    """The distributions ``classifier`` needs to predict, by kind (an ensemble: its members')."""
    manifest = getattr(classifier, "manifest", {}) or {}
    if manifest.get("kind") == "ensemble":
        members = [model_packages(member) for member in classifier.members]
        return list(dict.fromkeys(name for names in members for name in names))
    if manifest.get("kind") != "baseline":
        return list(COMMON_PACKAGES + NEURAL_PACKAGES)
    config = manifest.get("config", {})
    names = COMMON_PACKAGES + BASELINE_PACKAGES
    names += XGBOOST_PACKAGES if config.get("model") == "xgb" else ()
    return list(names + (WORD2VEC_PACKAGES if config.get("features") == "word2vec" else ()))


def pinned_requirements(classifier: Any) -> list[str]:
    """``name==version`` of each installed distribution ``classifier`` needs to predict.

    genomeflow itself travels as code; local version labels (``+cpu``) are dropped so pip can
    resolve the pins from an index.
    """
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for name in model_packages(classifier):
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:  # e.g. xgboost when xgboost-cpu is installed
            continue
        pins[canonicalize_name(name)] = f"{name}=={version.split('+')[0]}"
    return sorted(pins.values())


def log_pyfunc(
    folder: str | Path,
    run: Run,
    example_sequences: Sequence[str],
    classifier: Any | None = None,
) -> Any:
    """Log a genomeflow model folder as the MLflow pyfunc model ``model`` of ``run``.

    Args:
        folder: the genomeflow model folder.
        run: the run to log into; it must be the active MLflow run (``Tracker.run``).
        example_sequences: a few real sequences: the input example and signature.
        classifier: the folder's loaded classifier, when the caller has it already.

    Returns:
        mlflow.models.model.ModelInfo: ``model_uri`` is ``models:/<model_id>`` (MLflow 3
        logged models live beside the run, not in its artifacts).

    Raises:
        TrackingError: ``run`` is not the active run, or MLflow failed.
    """
    from mlflow.models import infer_signature

    import genomeflow
    from genomeflow.models.loading import load_classifier

    handle = mlflow.active_run()
    if not run.active or handle is None or handle.info.run_id != run.run_id:
        raise TrackingError(
            "log_pyfunc logs into the active MLflow run; call it inside `Tracker(uri).run(...)`"
        )
    classifier = classifier or load_classifier(folder)
    example = pd.DataFrame({"sequence": list(example_sequences)})
    output = prediction_frame(
        np.asarray(classifier.predict_proba(example["sequence"].tolist()), dtype=float),
        classifier.label_names,
    )
    with tempfile.TemporaryDirectory(prefix="genomeflow-pyfunc-") as scratch:
        entry = Path(scratch) / ENTRY_FILE
        entry.write_text(ENTRY_CODE, encoding="utf-8")
        with recording(run.uri, "store the model"):
            return mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=str(entry),  # models from code: no pickled Python object
                artifacts={MODEL_ARTIFACT: str(Path(folder).resolve())},
                signature=infer_signature(example, output),
                input_example=example,
                pip_requirements=pinned_requirements(classifier),
                code_paths=[str(Path(genomeflow.__file__).parent)],
            )
