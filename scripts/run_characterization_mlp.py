"""Evidence run for issue 14: MINT vs magnitude vs random pruned MLPs on Fashion-MNIST, several seeds.

A thin entry to :func:`mintlab.experiments.characterization.characterize_workflow` (the same as
``python -m mintlab.experiments.characterization``; ``--help`` lists the options). Writes
``results/characterization_mlp_fashion_mnist.json`` and its figures; every score and prune → retrain step is
cached by :mod:`mintlab.notebook.workflow`, so a rerun resumes.

Run (one thread, resumable, log to a file)::

    MINTLAB_CACHE=/tmp/charcmp_cache python scripts/run_characterization_mlp.py > /tmp/charcmp_evidence.log 2>&1
"""

from mintlab.experiments.characterization import main

if __name__ == "__main__":
    raise SystemExit(main())
