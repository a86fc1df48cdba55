"""One record per pruning run, with fixed keys, and the schema version every results file carries.

Every experiment writes its runs as :class:`RunRecord` (``dataclasses.asdict``) under ``"runs"`` of a results
file that also holds ``"schema_version"`` (:data:`SCHEMA_VERSION`) and ``"provenance"`` (the code and machine
that produced it, :func:`mintlab.utils.provenance.provenance`). Accuracies and percentages are in percent,
times in seconds. ``scripts/convert_results.py`` turns files written before this schema into it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["SCHEMA_VERSION", "RunRecord", "STAGES", "run_id"]

#: Version of the results-file schema. 1: the files written before the run record (one schema per
#: experiment); 2: :class:`RunRecord` runs, ``schema_version`` and ``provenance`` in every file.
SCHEMA_VERSION = 2

#: The timed stages of a run, keys of :attr:`RunRecord.seconds`.
STAGES = ("score", "mask", "bn", "evaluate", "retrain", "check")


def run_id(allocation: str | None, seed: int, level: float | None, method: str) -> str:
    """The one run-id format: ``"<allocation>/<seed>/<level>/<method>"`` (``-`` for a missing part).

    >>> run_id("mint", 0, 83.5, "magnitude")
    'mint/0/83.5/magnitude'
    """
    return f"{allocation or '-'}/{int(seed)}/{'-' if level is None else format(float(level), 'g')}/{method}"


@dataclasses.dataclass
class RunRecord:
    """What one prune → retrain run measured (:func:`mintlab.prune.step.run_step`).

    Attributes:
        run_id: :func:`run_id` of the run.
        method: the scoring method (a name of :data:`mintlab.prune.methods.METHODS`).
        allocation: how the level was spread over layers (:data:`mintlab.prune.allocation.ALLOCATIONS`),
            ``None`` for a plain :class:`~mintlab.prune.masks.PruneSpec`.
        seed: the dense network's, the sample's and the retraining's seed.
        target_percent: the level asked for (% of all parameters), ``None`` for a δ.
        delta: MINT's δ that set the level (``None`` where no δ was involved).
        pruned_percent: zero weights of the pruned layers over all parameters, measured on the retrained
            network (the paper's "Params. Pruned").
        per_layer_pruned_percent: per child layer, its zero weights over its weights.
        mask_pruned_percent: per child layer, what the keep-matrices remove (from the group sizes).
        accuracy_dense: the dense network's test accuracy, measured as the pruned ones are.
        accuracy_pruned: after masking and BatchNorm re-estimation, before retraining.
        accuracy_retrained: after retraining (the last epoch's weights, no selection on the test set).
        csr_memory_mb: the retrained network's weights stored as CSR (:func:`mintlab.prune.metrics.csr_memory_mb`).
        retrain_epochs: epochs of retraining (each a full pass unless ``retrain_max_batches`` capped it).
        retrain_max_batches: batches per retraining epoch (``None``: all).
        seconds: per stage of :data:`STAGES`.
        sweep: a run of the one-seed sweep (the curve), not of every seed.
        retrain_mode: the arithmetic retraining used (:class:`mintlab.nets.precision.TrainingMode` as a dict).
        network_file, network_sha256: the kept network's checkpoint and its weights' hash, if kept.
        extra: method-specific measurements (e.g. MIPP's units removed).
    """

    run_id: str
    method: str
    allocation: str | None
    seed: int
    target_percent: float | None
    delta: float | None
    pruned_percent: float
    per_layer_pruned_percent: dict[str, float]
    mask_pruned_percent: dict[str, float]
    accuracy_dense: float | None
    accuracy_pruned: float
    accuracy_retrained: float
    csr_memory_mb: float | None
    retrain_epochs: int
    retrain_max_batches: int | None
    seconds: dict[str, float]
    sweep: bool = False
    retrain_mode: dict[str, Any] | None = None
    network_file: str | None = None
    network_sha256: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-safe dict (fixed keys)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> RunRecord:
        """A record from :meth:`to_json`'s dict.

        Raises:
            ValueError: a key is missing or unknown (the message names them).
        """
        names = [f.name for f in dataclasses.fields(cls)]
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing, unknown = [k for k in required if k not in value], sorted(set(value) - set(names))
        if missing or unknown:
            raise ValueError(
                f"Expected a run record with keys {names}, but got one missing {missing} and with unknown {unknown}"
            )
        return cls(**dict(value))
