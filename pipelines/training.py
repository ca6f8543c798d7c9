"""The training pipeline: FASTA in, a registered, gated, explained classifier out.

tokenise -> dataset -> baselines (in parallel), a CNN, and sweep -> train (a transformer) ->
evaluate, crossval, interpret, compare -> register: the best of every candidate on valid (their
ensemble included) against the champion, inside one MLflow parent run that the exit task closes
whatever happens.

Compiled with ``pretrain``, a pretrain step (a masked language model on the ``unlabelled``
sequences, or on the dataset's train split when none are given) comes before the sweep, and the
sweep's trials, the transformer and crossval's folds all start from its weights. That is a
compile-time shape rather than a ``dsl.If``: a conditional step's output can only reach later
steps through ``dsl.OneOf``, which the KFP local runner (2.17) cannot resolve.
"""

import inspect
from typing import Any

from kfp import dsl

from genomeflow.cluster import ClusterSettings
from genomeflow.components.baseline import baseline
from genomeflow.components.compare import compare
from genomeflow.components.crossval import crossval
from genomeflow.components.dataset import dataset
from genomeflow.components.evaluate import evaluate
from genomeflow.components.interpret import interpret
from genomeflow.components.pretrain import pretrain as pretrain_step
from genomeflow.components.register import register
from genomeflow.components.sweep import sweep
from genomeflow.components.tokenise import tokenise
from genomeflow.components.train import train
from genomeflow.pipelines.k8s import configure
from genomeflow.pipelines.tracking import mlflow_parent_run

NAME = "genomeflow-train"
PRETRAIN_PARAMETERS = ("unlabelled", "pretrain_steps")  # only in the pretraining shape
# A transformer sweep in the wandb format users bring (as examples/sweeps/*.yaml);
# epochs come from the pipeline's `epochs`, hyperband stops poor trials early.
DEFAULT_SWEEP: dict[str, Any] = {
    "name": "transformer",
    "method": "bayes",
    "metric": {"name": "eval/f1", "goal": "maximize"},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 3e-3},
        "dropout": {"values": [0.1, 0.2, 0.3]},
        "weight_decay": {"values": [0.0, 0.01, 0.1]},
    },
    "early_terminate": {"type": "hyperband", "min_iter": 1, "max_iter": 9, "eta": 3},
}
DEFAULT_BASELINES = [
    {"features": "onehot", "classifier": "rf"},
    {"features": "tfidf", "classifier": "xgb"},
]


def build(cluster: ClusterSettings | None = None, pretrain: bool = False) -> Any:
    """The training pipeline, with ``cluster``'s Kubernetes settings on its tasks (and a
    pretrain step when ``pretrain``)."""
    cluster = cluster or ClusterSettings()

    def training(
        inputs: list = [],
        label_table: str = "",
        dataset_settings: dict = {},
        experiment: str = "genomeflow",
        model_name: str = "genomeflow",
        tokeniser_method: str = "unigram",
        vocab_size: int = 4096,
        tokeniser_settings: dict = {},
        baselines: list = DEFAULT_BASELINES,
        sweep_spec: dict = DEFAULT_SWEEP,
        sweep_trials: int = 20,
        sweep_backend: str = "auto",
        sweep_namespace: str = "",
        architecture: str = "distilbert",
        preset: str = "small",
        epochs: int = 10,
        train_settings: dict = {},
        cnn_preset: str = "small",
        cnn_epochs: int = 20,
        cnn_settings: dict = {},
        folds: int = 5,
        interpret_limit: int = 200,
        motif_database: str = "",
        motif_taxon: str = "",
        gate_metric: str = "f1_macro",
        min_gain: float = 0.0,
        nodes: int = 1,
        # last: the plain shape drops them from the signature, and KFP passes values by position
        unlabelled: list = [],
        pretrain_steps: int = 2000,
    ):
        with mlflow_parent_run(NAME, experiment, cluster) as opened:
            tokens = configure(
                tokenise(
                    inputs=inputs,
                    method=tokeniser_method,
                    vocab_size=vocab_size,
                    settings=tokeniser_settings,
                    experiment=experiment,
                ),
                cluster,
                cache=True,
            ).after(opened)
            data = configure(
                dataset(
                    inputs=inputs,
                    tokeniser=tokens.outputs["tokeniser"],
                    label_table=label_table,
                    settings=dataset_settings,
                    experiment=experiment,
                ),
                cluster,
                cache=True,
            )
            split = data.outputs["dataset"]
            start: dict[str, Any] = {}
            if pretrain:
                start["init_from"] = configure(
                    pretrain_step(
                        inputs=unlabelled,
                        dataset=split,
                        tokeniser=tokens.outputs["tokeniser"],
                        architecture=architecture,
                        preset=preset,
                        steps=pretrain_steps,
                        experiment=experiment,
                        nodes=nodes,
                    ),
                    cluster,
                    gpu=True,
                    network=False,
                    launches_pods=True,
                ).outputs["model"]
            with dsl.ParallelFor(baselines) as recipe:
                classic = configure(
                    baseline(
                        dataset=split,
                        features=recipe.features,
                        classifier=recipe.classifier,
                        folds=0,  # candidates are chosen on valid; crossval checks the recipe
                        experiment=experiment,
                    ),
                    cluster,
                )
            transformer = {
                "architecture": architecture,
                "preset": preset,
                "epochs": epochs,
                "settings": train_settings,
                "experiment": experiment,
                **start,
            }
            tuned = configure(
                sweep(
                    dataset=split,
                    spec=sweep_spec,
                    trials=sweep_trials,
                    preset=preset,
                    epochs=epochs,
                    backend=sweep_backend,
                    namespace=sweep_namespace,
                    settings=train_settings,
                    experiment=experiment,
                    nodes=nodes,
                    **start,
                ),
                cluster,
                network=False,
                launches_pods=True,
            )  # on a cluster the trials are Katib's GPU pods; this step only waits for them
            best = tuned.outputs["result"]
            trained = configure(
                train(dataset=split, sweep=best, nodes=nodes, **transformer),
                cluster,
                gpu=True,
                network=False,
                launches_pods=True,  # nodes > 1: a PyTorchJob's pods
            )
            model = trained.outputs["model"]
            convolutional = configure(
                train(
                    dataset=split,
                    architecture="cnn",
                    preset=cnn_preset,
                    epochs=cnn_epochs,
                    settings=cnn_settings,
                    experiment=experiment,
                    nodes=nodes,
                ),
                cluster,
                gpu=True,
                network=False,
                launches_pods=True,
            ).set_display_name("cnn")
            checks = [
                configure(evaluate(model=model, dataset=split, experiment=experiment), cluster),
                configure(
                    crossval(dataset=split, sweep=best, folds=folds, **transformer),
                    cluster,
                    gpu=True,
                    network=False,
                ),
                configure(
                    interpret(
                        model=model,
                        inputs=inputs,
                        limit=interpret_limit,
                        motif_database=motif_database,
                        motif_taxon=motif_taxon,
                        experiment=experiment,
                    ),
                    cluster,
                    gpu=True,
                ),
                configure(
                    compare(model=model, name=model_name, experiment=experiment),
                    cluster,
                ),
            ]
            configure(
                register(
                    model=model,
                    baselines=dsl.Collected(classic.outputs["model"]),
                    cnn=convolutional.outputs["model"],
                    dataset=split,
                    name=model_name,
                    metric=gate_metric,
                    min_gain=min_gain,
                    experiment=experiment,
                ),
                cluster,
            ).after(*checks, classic)  # the gate comes last: every score is in by then

    if not pretrain:  # the plain shape does not show parameters it would not use
        signature = inspect.signature(training)
        kept = [p for p in signature.parameters.values() if p.name not in PRETRAIN_PARAMETERS]
        training.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    name = f"{NAME}-pretrained" if pretrain else NAME
    return dsl.pipeline(name=name, description=__doc__.splitlines()[0])(training)
