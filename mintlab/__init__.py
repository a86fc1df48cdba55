"""mintlab: Mutual Information-based Neuron Trimming (MINT), interactively."""

__version__ = "0.1.0"
