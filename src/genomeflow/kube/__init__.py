"""Pods and jobs genomeflow submits to Kubernetes itself: the GPU pod every training pod shares
(:mod:`.pods`), the multi-worker PyTorchJob (:mod:`.pytorchjob`), the Kubeflow training
operator's client (:mod:`.training_client`) and the API errors both clients explain (:mod:`.api`).
"""
