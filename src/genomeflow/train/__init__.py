"""Transformer training: token windows, batching, the training loop, and the train, crossval
and sweep stages."""
