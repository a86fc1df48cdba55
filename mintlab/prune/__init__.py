"""Pruning pipeline steps (activations, scores, masks, structured methods such as :mod:`~mintlab.prune.mipp`)."""
