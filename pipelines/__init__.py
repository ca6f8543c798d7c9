"""Kubeflow pipelines from genomeflow's components: Kubernetes settings, compile, run, submit."""
