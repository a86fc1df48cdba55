"""Pruning steps: activations, groups, scores, masks, the prune step, metrics, compaction."""
