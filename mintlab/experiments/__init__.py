"""Studies built on the pipeline: method comparisons at equal sparsity, with seeds, written to ``results/``."""
