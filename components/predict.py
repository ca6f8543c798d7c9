"""KFP component of ``genomeflow predict``."""

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def predict(
    model: str,
    inputs: list,
    predictions: Output[Dataset],
    metrics: Output[Metrics],
    settings: dict = {},
    experiment: str = "genomeflow",
):
    """Score FASTA/FASTQ URIs with a model (``models:/NAME@champion`` or a model URI):
    label and probability per class, as a Parquet table."""
    import tempfile

    from genomeflow.components.runtime import copy_file, merged, run_step

    with tempfile.TemporaryDirectory() as folder:
        table = f"{folder}/predictions.parquet"  # predict picks the format from the suffix
        run_step(
            "predict",
            merged(settings, model=model, inputs=inputs, output=table),
            experiment,
            metrics,
        )
        copy_file(table, predictions.path)
    predictions.metadata["format"] = "parquet"
