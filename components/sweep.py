"""KFP component of ``genomeflow sweep``."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def sweep(
    dataset: Input[Dataset],
    result: Output[Artifact],
    metrics: Output[Metrics],
    spec: dict,
    trials: int = 0,
    preset: str = "small",
    epochs: int = 10,
    backend: str = "auto",
    namespace: str = "",
    settings: dict = {},
    experiment: str = "genomeflow",
    init_from: Input[Model] = None,
    nodes: int = 1,
):
    """Tune transformer hyperparameters on the valid split (wandb-style spec as a mapping):
    Optuna here, a Katib Experiment on a cluster (backend auto, local or katib; in
    ``namespace``, default the step's own); every trial starts from ``init_from``'s weights
    when given. With ``nodes`` > 1 every Katib trial is a PyTorchJob of that many pods (the
    cluster's GPUs each); Optuna's trials run in this step whatever ``nodes`` says."""
    import json
    import tempfile

    from genomeflow.components.runtime import merged, run_sweep_step

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    step = merged(
        settings,
        spec=handle.name,
        trials=trials or None,  # 0: the spec's run_cap, the grid size, else 20
        preset=preset,
        epochs=epochs,
        namespace=namespace,
    )
    run_sweep_step(step, dataset, result, backend, experiment, metrics, init_from, nodes)
