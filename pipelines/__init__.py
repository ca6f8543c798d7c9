"""Kubeflow pipelines built from genomeflow's components, their Kubernetes settings, compile/run/submit."""
