"""Kubeflow Pipelines components: one thin wrapper per genomeflow stage."""
