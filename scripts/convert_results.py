"""Convert results files written before the run record (schema 1) to schema 2, once.

Schema 2 (:mod:`mintlab.prune.record`): every results file holds ``"schema_version": 2``, a ``"kind"`` and a
``"provenance"``; the runs of a prune → retrain experiment are :class:`~mintlab.prune.record.RunRecord` dicts
(fixed keys). Before it each experiment wrote its own schema; this script knows them by their shape:

* ``comparison``: :mod:`mintlab.experiments.compare` (``cnn_*.json``, ``characterization_*/pruned_runs.json``),
  runs with ``run_id``, ``allocation``, ``total_pruned_percent``, ``accuracy_after_retrain``, ...;
* ``mlp_comparison``: :mod:`mintlab.experiments.mlp` (``mlp_fashion_mnist*.json``), runs with ``scope``,
  ``level``, ``fc2_pruned_percent``, ``accuracy``, ``seconds``, ...;
* ``mipp_comparison``: :mod:`mintlab.experiments.mipp` (``mipp_vgg16_*.json``), runs with ``unit_sparsity``,
  ``units_kept``, ``collapsed_layers``, ``at_chance``, ...;
* ``mipp_mlp_comparison``: ``scripts/run_mipp_mlp.py`` (``mipp_mlp_fashion_mnist.json``), runs with ``x``,
  ``mipp_units_kept``, ``layer_collapsed``, ``accuracy``, ...;
* without runs: ``characterization`` (``characterization_*.json``), ``compaction`` (``compaction.json``),
  ``mipp_compaction`` (``mipp_compaction.json``).

A run's old keys land at their RunRecord keys (``total_pruned_percent`` → ``pruned_percent``,
``accuracy_before_retrain`` → ``accuracy_pruned``, ``accuracy_after_retrain`` / MLP ``accuracy`` →
``accuracy_retrained``, ``scoring_seconds`` → ``seconds["score"]``, ``retrain_seconds`` → ``seconds["retrain"]``);
``accuracy_dense``, ``retrain_epochs`` and ``retrain_max_batches`` come from the file (its dense accuracy of the
run's seed, its settings); every other old key goes to ``extra`` unchanged, under its old name (the MLP
runs' whole-call ``seconds`` as ``extra["prune_and_retrain_seconds"]``, a number where schema 2 has a dict of
stages). What the old file never measured is ``None``, and a stage it never timed is absent from ``seconds``.
The run id becomes :func:`~mintlab.prune.record.run_id`'s ``"<allocation>/<seed>/<level>/<method>"`` (the old
one kept in ``extra["old_run_id"]`` where it differs; ``extra["level_of"]`` says the level's unit where it is not %
of all parameters). The file's other keys stay as they were, except the settings' ``versions``, which move to
``provenance["versions_at_run"]``; ``provenance["conversion_notes"]`` says what the old numbers meant where it
differs from schema 2.

A file already at schema 2 is left untouched; ``results/dense_*.json`` (schema 1 dense-network records of
:mod:`mintlab.experiments.dense`, written by their own module) are never touched. Files are rewritten
atomically, indented as they were.

    .venv/bin/python scripts/convert_results.py            # every results file (results/*.json, results/*/*.json)
    .venv/bin/python scripts/convert_results.py --check    # say what would change; exit 1 if anything would
    .venv/bin/python scripts/convert_results.py results/cnn_vgg16_fashion_mnist.json
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mintlab.utils.io import write_bytes_atomic

ROOT = Path(__file__).resolve().parents[1]


def _load_record_module() -> Any:
    """:mod:`mintlab.prune.record`, loaded from its file: ``import mintlab.prune`` would import torch and every
    pruning module, and this script reads JSON only."""
    name = "_mintlab_prune_record_for_conversion"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "mintlab" / "prune" / "record.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


record_module = _load_record_module()
SCHEMA_VERSION: int = record_module.SCHEMA_VERSION
STAGES: tuple[str, ...] = record_module.STAGES
RunRecord = record_module.RunRecord
run_id = record_module.run_id
RECORD_KEYS = tuple(f.name for f in dataclasses.fields(RunRecord))

TARGET_VERSION = 2
if SCHEMA_VERSION != TARGET_VERSION:  # this script converts 1 → 2; a later schema needs its own step
    raise RuntimeError(f"Expected mintlab.prune.record.SCHEMA_VERSION {TARGET_VERSION}, but got {SCHEMA_VERSION}")

NOTE = "written before results recorded their code; converted by scripts/convert_results.py"

#: Per kind: the old run keys that must be there (a run without one is refused, naming it).
REQUIRED_RUN_KEYS: dict[str, tuple[str, ...]] = {
    "comparison": (
        "run_id",
        "method",
        "allocation",
        "seed",
        "target_percent",
        "sweep",
        "delta",
        "total_pruned_percent",
        "per_layer_pruned_percent",
        "mask_pruned_percent",
        "accuracy_before_retrain",
        "accuracy_after_retrain",
        "csr_memory_mb",
        "scoring_seconds",
        "retrain_seconds",
    ),
    "mlp_comparison": (
        "run_id",
        "method",
        "scope",
        "level",
        "delta",
        "fc2_pruned_percent",
        "fc3_pruned_percent",
        "total_pruned_percent",
        "accuracy",
        "accuracy_before_retrain",
        "csr_memory_mb",
    ),
    "mipp_comparison": (
        "run_id",
        "method",
        "seed",
        "unit_sparsity",
        "total_pruned_percent",
        "per_layer_pruned_percent",
        "accuracy_before_retrain",
        "accuracy_after_retrain",
        "retrain_seconds",
    ),
    "mipp_mlp_comparison": (
        "run_id",
        "method",
        "seed",
        "x",
        "total_pruned_percent",
        "per_layer_pruned_percent",
        "accuracy_before_retrain",
        "accuracy",
        "retrain_seconds",
    ),
}

#: Per kind: what the old numbers meant where schema 2 means something else (``provenance["conversion_notes"]``).
CONVERSION_NOTES: dict[str, list[str]] = {
    "comparison": [
        "accuracy_dense: the file's dense_accuracy of the run's seed, measured then on the dense network as "
        "trained (BatchNorm statistics not re-estimated; schema 2 re-estimates them as for the pruned networks)",
        "seconds: only 'score' (the run's scoring_seconds) and 'retrain' (train() alone, the run's "
        "retrain_seconds) were timed then",
        "retrain_max_batches: the cap the retraining ran under, min(settings.max_batches, "
        "settings.retrain_max_batches)",
    ],
    "mlp_comparison": [
        "level (run_id, extra.level): the target share of fc2's weights (%) of the δ sweep (extra.level_of), "
        "not of all parameters: target_percent is None; extra.prune_percent is the fc2 share the other methods "
        "were pruned to",
        "run_id: a run of scope 'both' (fc2 and fc3 pruned with the δ of its fc2 level) ends in '@both', as it "
        "shares method and level with the scope-'fc2' run",
        "per_layer_pruned_percent: fc2 and fc3 (the old fc2_pruned_percent and fc3_pruned_percent, kept in extra "
        "as well); mask_pruned_percent was not recorded (None)",
        "seconds: no stage was timed alone; extra.prune_and_retrain_seconds is the old run's 'seconds' (one "
        "prune_and_retrain call: prune, evaluate, retrain, evaluate); the file's score_seconds stay at its top",
        "accuracy_dense: the file's dense_accuracy (the MLP has no BatchNorm)",
    ],
    "mipp_comparison": [
        "level (run_id): the unit sparsity, the share of units removed (extra.unit_sparsity, extra.level_of); "
        "target_percent is the % of all parameters MINT was asked for (its runs only), None for unit methods",
        "accuracy_dense: the file's dense_accuracy of the run's seed, measured then on the dense network as "
        "trained (BatchNorm statistics not re-estimated), the pruned ones after BatchNorm re-estimation",
        "seconds: only 'retrain' (train() alone) was timed then; the file's mint_score_seconds and selections' "
        "seconds stay where they were; delta, mask_pruned_percent and csr_memory_mb were not recorded (None)",
    ],
    "mipp_mlp_comparison": [
        "level (run_id, extra.x): MIPP's confidence level x (extra.level_of), not a share of parameters: "
        "target_percent is None; MINT's extra.prune_percent is the share of fc2 + fc3 weights it was pruned to",
        "accuracy_dense: seeds.<seed>.dense_accuracy of the file (the MLP has no BatchNorm)",
        "seconds: only 'retrain' (train() alone) was timed then; delta, mask_pruned_percent and csr_memory_mb "
        "were not recorded (None)",
    ],
}

LEVEL_OF = {
    "mlp_comparison": "fc2 weights (%)",
    "mipp_comparison": "units removed (fraction)",
    "mipp_mlp_comparison": "MIPP confidence level x",
}


class ConversionError(ValueError):
    """A results file this script cannot convert (unknown shape, a run missing keys, clashing run ids)."""


# --------------------------------------------------------------------------- shapes


def is_dense_record(path_name: str) -> bool:
    """``results/dense_*.json``: dense-network records of their own module, never touched here."""
    return Path(path_name).name.startswith("dense_")


def classify(data: Any, path_name: str) -> str:
    """The kind of a schema-1 results file, from its shape.

    Raises:
        ConversionError: a shape this script does not know.
    """
    if not isinstance(data, dict):
        raise ConversionError(f"{path_name}: expected a JSON object, but got {type(data).__name__}")
    runs = data.get("runs")
    if isinstance(runs, list) and runs:
        if not all(isinstance(r, dict) for r in runs):
            raise ConversionError(f"{path_name}: expected every run as an object")
        keys = set().union(*runs)
        if "scope" in keys and "fc2_pruned_percent" in keys:
            return "mlp_comparison"
        if "unit_sparsity" in keys:
            return "mipp_comparison"
        if "mipp_units_kept" in keys and "x" in keys:
            return "mipp_mlp_comparison"
        if {"allocation", "total_pruned_percent", "accuracy_after_retrain", "retrain_seconds"} <= keys:
            return "comparison"
        raise ConversionError(f"{path_name}: runs of an unknown shape (keys {sorted(keys)})")
    if isinstance(runs, list):  # no run yet: the settings tell
        settings = data.get("settings", {})
        if "model_options" in settings and "retrain_recipe" in settings and "deltas" in data:
            return "comparison"
        raise ConversionError(f"{path_name}: no runs, and settings of an unknown shape")
    if {"verdict", "networks", "summary"} <= set(data):
        return "characterization"
    if {"configs", "crossover"} <= set(data):
        return "compaction"
    if "entries" in data and "settings" in data:
        return "mipp_compaction"
    raise ConversionError(f"{path_name}: a results file of an unknown shape (keys {sorted(data)})")


# --------------------------------------------------------------------------- runs


def _make_record(
    fields: Mapping[str, Any], old: Mapping[str, Any], used: Iterable[str], extra: Mapping[str, Any], path_name: str
) -> dict[str, Any]:
    """A RunRecord dict: ``fields``, then every old key not ``used`` into ``extra`` unchanged."""
    rest = {k: copy.deepcopy(v) for k, v in old.items() if k not in set(used)}
    clash = sorted(set(rest) & set(extra))
    if clash:
        raise ConversionError(f"{path_name}: run {old.get('run_id')!r} already holds {clash}")
    record = RunRecord(**fields, extra={**dict(extra), **rest})
    return record.to_json()


def _check_required(run: Mapping[str, Any], kind: str, path_name: str) -> None:
    missing = [k for k in REQUIRED_RUN_KEYS[kind] if k not in run]
    if missing:
        raise ConversionError(f"{path_name}: run {run.get('run_id')!r} ({kind}) lacks {missing}")


def _old_id(old_id: Any, new_id: str) -> dict[str, Any]:
    return {} if old_id == new_id else {"old_run_id": old_id}


def _seconds(**stages: Any) -> dict[str, float]:
    """The timed stages (``None``: not timed, left out)."""
    return {k: v for k, v in stages.items() if v is not None}


def _dense_of(data: Mapping[str, Any], seed: int) -> float | None:
    dense = data.get("dense_accuracy")
    if isinstance(dense, Mapping):
        return dense.get(str(seed))
    return dense


def _comparison_run(r: Mapping[str, Any], data: Mapping[str, Any], path_name: str) -> dict[str, Any]:
    s = data["settings"]
    caps = [v for v in (s.get("max_batches"), s.get("retrain_max_batches")) if v is not None]
    rid = run_id(r["allocation"], r["seed"], r["target_percent"], r["method"])
    fields = {
        "run_id": rid,
        "method": r["method"],
        "allocation": r["allocation"],
        "seed": int(r["seed"]),
        "target_percent": r["target_percent"],
        "delta": r["delta"],
        "pruned_percent": r["total_pruned_percent"],
        "per_layer_pruned_percent": copy.deepcopy(r["per_layer_pruned_percent"]),
        "mask_pruned_percent": copy.deepcopy(r["mask_pruned_percent"]),
        "accuracy_dense": _dense_of(data, r["seed"]),
        "accuracy_pruned": r["accuracy_before_retrain"],
        "accuracy_retrained": r["accuracy_after_retrain"],
        "csr_memory_mb": r["csr_memory_mb"],
        "retrain_epochs": int(s["retrain_recipe"]["epochs"]),
        "retrain_max_batches": min(caps) if caps else None,
        "seconds": _seconds(score=r["scoring_seconds"], retrain=r["retrain_seconds"]),
        "sweep": bool(r["sweep"]),
        "network_file": r.get("network_file"),
        "network_sha256": r.get("network_sha256"),
    }
    used = (*REQUIRED_RUN_KEYS["comparison"], "network_file", "network_sha256")
    return _make_record(fields, r, used, _old_id(r["run_id"], rid), path_name)


def _mlp_run(r: Mapping[str, Any], data: Mapping[str, Any], path_name: str) -> dict[str, Any]:
    s = data["settings"]
    seed = int(s["seed"])
    rid = run_id(None, seed, r["level"], r["method"]) + ("" if r["scope"] == "fc2" else f"@{r['scope']}")
    fields = {
        "run_id": rid,
        "method": r["method"],
        "allocation": None,
        "seed": seed,
        "target_percent": None,
        "delta": r["delta"],
        "pruned_percent": r["total_pruned_percent"],
        "per_layer_pruned_percent": {"fc2": r["fc2_pruned_percent"], "fc3": r["fc3_pruned_percent"]},
        "mask_pruned_percent": None,
        "accuracy_dense": _dense_of(data, seed),
        "accuracy_pruned": r["accuracy_before_retrain"],
        "accuracy_retrained": r["accuracy"],
        "csr_memory_mb": r["csr_memory_mb"],
        "retrain_epochs": int(s["retrain_recipe"]["epochs"]),
        "retrain_max_batches": s.get("max_batches"),
        "seconds": {},
    }
    extra = {
        **_old_id(r["run_id"], rid),
        "level_of": LEVEL_OF["mlp_comparison"],
        "fc2_pruned_percent": r["fc2_pruned_percent"],
        "fc3_pruned_percent": r["fc3_pruned_percent"],
    }
    if "seconds" in r:
        extra["prune_and_retrain_seconds"] = r["seconds"]
    used = (
        "run_id",
        "method",
        "delta",
        "total_pruned_percent",
        "accuracy",
        "accuracy_before_retrain",
        "csr_memory_mb",
        "fc2_pruned_percent",
        "fc3_pruned_percent",
        "seconds",
    )
    return _make_record(fields, r, used, extra, path_name)


def _mipp_run(r: Mapping[str, Any], data: Mapping[str, Any], path_name: str) -> dict[str, Any]:
    s = data["settings"]
    seed = int(r["seed"])
    allocation = r.get("allocation")
    rid = run_id(allocation, seed, r["unit_sparsity"], r["method"])
    fields = {
        "run_id": rid,
        "method": r["method"],
        "allocation": allocation,
        "seed": seed,
        "target_percent": r.get("target_percent"),
        "delta": None,
        "pruned_percent": r["total_pruned_percent"],
        "per_layer_pruned_percent": copy.deepcopy(r["per_layer_pruned_percent"]),
        "mask_pruned_percent": None,
        "accuracy_dense": _dense_of(data, seed),
        "accuracy_pruned": r["accuracy_before_retrain"],
        "accuracy_retrained": r["accuracy_after_retrain"],
        "csr_memory_mb": None,
        "retrain_epochs": int(s["retrain_recipe"]["epochs"]),
        "retrain_max_batches": s.get("retrain_max_batches"),
        "seconds": _seconds(retrain=r["retrain_seconds"]),
    }
    used = (
        "run_id",
        "method",
        "allocation",
        "seed",
        "target_percent",
        "total_pruned_percent",
        "per_layer_pruned_percent",
        "accuracy_before_retrain",
        "accuracy_after_retrain",
        "retrain_seconds",
    )
    return _make_record(
        fields, r, used, {**_old_id(r["run_id"], rid), "level_of": LEVEL_OF["mipp_comparison"]}, path_name
    )


def _mipp_mlp_run(r: Mapping[str, Any], data: Mapping[str, Any], path_name: str) -> dict[str, Any]:
    s = data["settings"]
    seed = int(r["seed"])
    rid = run_id(None, seed, r["x"], r["method"])
    dense = data.get("seeds", {}).get(str(seed), {}).get("dense_accuracy")
    fields = {
        "run_id": rid,
        "method": r["method"],
        "allocation": None,
        "seed": seed,
        "target_percent": None,
        "delta": None,
        "pruned_percent": r["total_pruned_percent"],
        "per_layer_pruned_percent": copy.deepcopy(r["per_layer_pruned_percent"]),
        "mask_pruned_percent": None,
        "accuracy_dense": dense,
        "accuracy_pruned": r["accuracy_before_retrain"],
        "accuracy_retrained": r["accuracy"],
        "csr_memory_mb": None,
        "retrain_epochs": int(s["retrain_recipe"]["epochs"]),
        "retrain_max_batches": s.get("max_batches"),
        "seconds": _seconds(retrain=r["retrain_seconds"]),
    }
    used = (
        "run_id",
        "method",
        "seed",
        "total_pruned_percent",
        "per_layer_pruned_percent",
        "accuracy_before_retrain",
        "accuracy",
        "retrain_seconds",
    )
    return _make_record(
        fields, r, used, {**_old_id(r["run_id"], rid), "level_of": LEVEL_OF["mipp_mlp_comparison"]}, path_name
    )


_RUN_CONVERTERS = {
    "comparison": _comparison_run,
    "mlp_comparison": _mlp_run,
    "mipp_comparison": _mipp_run,
    "mipp_mlp_comparison": _mipp_mlp_run,
}


# --------------------------------------------------------------------------- files


@functools.lru_cache(maxsize=1)
def head_commit() -> str | None:
    """``git rev-parse HEAD`` of this repository (``None`` outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def schema_of(data: Any) -> int:
    """A file's schema version (1 where it has none)."""
    return data.get("schema_version", 1) if isinstance(data, dict) else 1


def convert(data: dict, path_name: str, *, commit: str | None = None) -> dict:
    """``data``, a results file's content, at schema 2 (a new dict; ``data`` is left as it is).

    A file already at schema 2 comes back as it is (the same object).

    Args:
        data: the file's JSON content.
        path_name: its path or name, for messages (``dense_*.json`` is refused).
        commit: ``provenance["converted_at_commit"]`` (default: :func:`head_commit`).

    Raises:
        ConversionError: a dense-network record, another schema version, a shape this script does not know, a
            run without a key its kind always has, two runs with one run id.
    """
    if is_dense_record(path_name):
        raise ConversionError(f"{path_name}: a dense-network record (results/dense_*.json) is never converted here")
    version = schema_of(data)
    if version == SCHEMA_VERSION:
        return data
    if version != 1:
        raise ConversionError(f"{path_name}: expected schema_version 1 or {SCHEMA_VERSION}, but got {version!r}")
    kind = classify(data, path_name)
    old = copy.deepcopy(data)
    old.pop("schema_version", None)
    provenance = {
        "commit": None,
        "dirty": None,
        "note": NOTE,
        "converted_at_commit": commit if commit is not None else head_commit(),
    }
    settings = old.get("settings")
    if isinstance(settings, dict) and "versions" in settings:
        provenance["versions_at_run"] = settings.pop("versions")
    if "provenance" in old:  # a schema-1 file with a provenance of its own: kept beside
        provenance["provenance_at_run"] = old.pop("provenance")
    if kind in CONVERSION_NOTES:
        provenance["conversion_notes"] = list(CONVERSION_NOTES[kind])
    new: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": kind, "provenance": provenance}
    if "kind" in old and old["kind"] != kind:
        raise ConversionError(f"{path_name}: says kind {old['kind']!r}, but its shape is {kind!r}")
    old.pop("kind", None)
    for key, value in old.items():
        new[key] = value
    if kind in _RUN_CONVERTERS:
        runs = []
        for r in data["runs"]:
            _check_required(r, kind, path_name)
            runs.append(_RUN_CONVERTERS[kind](r, data, path_name))
        ids = [r["run_id"] for r in runs]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ConversionError(f"{path_name}: converted run ids clash: {twice}")
        new["runs"] = runs
    return new


def indent_of(text: str) -> int | None:
    """The indent of a JSON text as ``json.dumps`` writes it (``None``: all on one line)."""
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    second = lines[1]
    return len(second) - len(second.lstrip(" "))


def dumps_like(obj: Any, text: str) -> str:
    """``obj`` as JSON text formatted as ``text`` was (its indent, non-ASCII characters escaped or not, a final
    newline if it had one)."""
    out = json.dumps(obj, indent=indent_of(text), ensure_ascii=text.isascii())
    return out + ("\n" if text.endswith("\n") else "")


def eligible_files(results: Path) -> list[Path]:
    """The results files: ``results/*.json`` and ``results/*/*.json``, without network records (``networks/``),
    caches (``*_cache/``, ``cache/``) and logs (``logs/``, the evidence job's ``evidence_log.json``); dense-network
    records (``dense_*.json``) are listed (and skipped)."""
    found = [*results.glob("*.json"), *results.glob("*/*.json")]
    return sorted(
        p
        for p in found
        if p.name != "evidence_log.json"
        and (
            p.parent == results
            or not (p.parent.name in ("networks", "logs", "cache") or p.parent.name.endswith("_cache"))
        )
    )


def convert_file(path: Path, *, check: bool) -> tuple[str, bool]:
    """Convert one file in place (unless ``check``). Returns its line and whether it is (or was) unconverted."""
    if is_dense_record(path.name):
        return f"{path}: skipped (dense-network record of mintlab.experiments.dense, never converted here)", False
    text = path.read_text()
    data = json.loads(text)
    new = convert(data, str(path))
    if new is data:
        return f"{path}: already schema {SCHEMA_VERSION} ({data.get('kind')}), left untouched", False
    runs = f", {len(new['runs'])} runs" if "runs" in new else ""
    if check:
        return f"{path}: would convert ({new['kind']}{runs})", True
    if path.read_text() != text:
        raise ConversionError(f"{path}: changed while it was being converted; run again")
    write_bytes_atomic(path, dumps_like(new, text).encode())
    return f"{path}: converted to schema {SCHEMA_VERSION} ({new['kind']}{runs})", True


def _shown(path: Path) -> Path:
    """``path`` relative to the working folder where it lies under it (shorter lines)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "paths", nargs="*", type=Path, help="results files (default: every results file under <repo>/results)"
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="write nothing; say what would change; exit 1 if any file is not at schema 2",
    )
    args = ap.parse_args(argv)
    paths = args.paths or eligible_files(ROOT / "results")
    unconverted = failed = 0
    for path in map(_shown, paths):
        try:
            line, changed = convert_file(path, check=args.check)
        except (ConversionError, OSError, json.JSONDecodeError) as err:
            message = str(err).removeprefix(f"{path}: ")
            print(f"{path}: error: {message}")
            failed += 1
            continue
        print(line)
        unconverted += changed
    if failed:
        return 1
    return 1 if args.check and unconverted else 0


if __name__ == "__main__":
    sys.exit(main())
