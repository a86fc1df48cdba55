"""MIPP against unit-level L1 / random (equal *unit* sparsity) and MINT (equal *parameter* sparsity), any network.

The evidence's MIPP stage (:func:`mipp_evidence`, ``python -m mintlab.experiments.mipp``: VGG16-BN ¼ on padded
Fashion-MNIST, the comparison's trained networks) runs through :func:`run_mipp_comparison`, which follows the
method comparison of :mod:`mintlab.experiments.compare` step for step, so that its numbers sit beside that comparison's:

* the same dense networks (one per seed, handed in by the caller: the comparison's cached checkpoints);
* per seed and unit sparsity ``u``: MIPP (:func:`mintlab.prune.mipp.mipp_select`, ``target=u`` in every
  selected layer, i.e. ``round((1 − u)·N)`` units kept, bisection of ``x`` plus the confidence
  fallback) on the activations of the same per-class sample MINT scores (``samples_per_class`` = the
  comparison's ``m``, same seed); ``l1_units`` and ``random_units`` keep the same number of units per
  layer (:func:`mintlab.prune.mipp.baseline_unit_keep`);
* ``mint``: MINT's blocks at the *parameter* sparsity MIPP's masks reach (zeroed weights of every
  Linear / Conv2d over all dense parameters): MINT's allocation (δ with the preset's γ caps,
  :func:`mintlab.prune.allocation.keep_for_level`); if that level is beyond what δ can reach
  under the caps, the ``global`` allocation (recorded as ``allocation``);
* every masked network: BatchNorm statistics re-estimated (:func:`~mintlab.prune.step.recalibrate_batchnorm`),
  evaluated, retrained once with the comparison's retrain recipe and batch cap, evaluated again; the
  masks are checked to hold through retraining.

Layer collapse is counted per run: ``collapsed_layers`` lists selected layers left with no unit
(for MINT: no unit with any outgoing weight), ``at_chance`` marks a retrained accuracy ≤ 1.5 × chance.
The JSON (schema in :func:`run_mipp_comparison`) is rewritten atomically after every step; a rerun
with the same settings skips what is done.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from mintlab.prune.methods import method_names
from mintlab.prune.mipp import PredictorConfig
from mintlab.utils.checks import check_int
from mintlab.utils.io import to_jsonable, write_json_atomic

__all__ = [
    "EVIDENCE_PREDICTOR",
    "EVIDENCE_UNIT_SPARSITIES",
    "MIPP_METHODS",
    "masked_accuracy_run",
    "main",
    "mipp_evidence",
    "run_mipp_comparison",
    "summarize_mipp",
    "unit_counts",
]

#: Methods :func:`run_mipp_comparison` knows.
MIPP_METHODS = (*method_names("units"), "mint")
#: The predictor of the CPU evidence runs (``scripts/run_mipp_{mlp,cnn}.py``, the MIPP benchmarks): width 16,
#: at most 40 epochs per fit and 5 per refit, patience 2; cut from MIPP's own settings to fit a CPU.
EVIDENCE_PREDICTOR = PredictorConfig(hidden=16, max_epochs=40, refit_epochs=5, patience=2)


def unit_counts(model: nn.Module, pairs: Sequence[Sequence[str]], unit_sparsity: float) -> dict[str, int]:
    """Units kept per parent layer at a uniform unit sparsity: ``round((1 − u)·N)``, at least one.

    Raises:
        ValueError: ``unit_sparsity`` outside [0, 1).

    >>> net = nn.Sequential(nn.Linear(2, 10), nn.ReLU(), nn.Linear(10, 3))
    >>> unit_counts(net, [("0", "2")], 0.34)
    {'0': 7}
    """
    from mintlab.prune.activations import normalize_pairs, pair_geometry

    if isinstance(unit_sparsity, bool) or not isinstance(unit_sparsity, (int, float)) or not 0 <= unit_sparsity < 1:
        raise ValueError(f"Expected `unit_sparsity` in [0, 1), but got {unit_sparsity!r}")
    return {
        p[0]: max(1, int(round((1.0 - unit_sparsity) * pair_geometry(model, p).n_parent)))
        for p in normalize_pairs(pairs)
    }


def masked_accuracy_run(
    dense: nn.Module,
    masks: Mapping[str, torch.Tensor],
    train_data: Dataset,
    test_data: Dataset,
    *,
    retrain_recipe: Any,
    retrain_max_batches: int | None,
    bn_images: int,
    seed: int,
    device: Any = None,
) -> tuple[nn.Module, dict[str, float]]:
    """:func:`mintlab.prune.step.run_step` with weight masks: mask a copy of ``dense``, re-estimate BatchNorm,
    evaluate, retrain once, evaluate, check the masks held.

    Returns:
        ``(retrained masked copy, {"accuracy_before_retrain", "accuracy_after_retrain", "retrain_seconds"})``,
        accuracies in percent.

    Raises:
        RuntimeError: a masked weight is not zero after retraining.
    """
    from mintlab.prune.step import run_step

    net, record = run_step(
        dense,
        dict(masks),
        train_data=train_data,
        test_data=test_data,
        recipe=retrain_recipe,
        seed=seed,
        bn_images=int(bn_images),
        max_batches=retrain_max_batches,
        device=device,
    )
    return net, {
        "accuracy_before_retrain": record.accuracy_pruned,
        "accuracy_after_retrain": record.accuracy_retrained,
        "retrain_seconds": record.seconds["retrain"],
    }


def _mint_keep(
    score_set: Any,
    level: float,
    gamma: Mapping[str, float],
    skip: Sequence[str],
    tolerance: float,
    total_params: int,
    active: int,
    seed: int,
) -> tuple[str, dict[str, np.ndarray]]:
    from mintlab.prune.allocation import keep_for_level
    from mintlab.prune.masks import masks_from_scores

    try:
        return "mint", keep_for_level(score_set, level, gamma=gamma, skip=skip, tolerance=tolerance, seed=seed)[1]
    except ValueError:  # beyond what δ reaches under the γ caps: rank all blocks globally
        return "global", masks_from_scores(
            score_set, prune_percent=min(100.0, level * total_params / active), skip=skip, seed=seed
        )


def run_mipp_comparison(
    output: str | Path,
    *,
    dense_model: Callable[[int], nn.Module],
    pairs: Sequence[Sequence[str]],
    train_data: Dataset,
    test_data: Dataset,
    unit_sparsities: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2),
    methods: Sequence[str] = MIPP_METHODS,
    samples_per_class: int = 50,
    mipp_options: Mapping[str, Any] | None = None,
    mint_groups: Mapping[tuple[str, str], tuple[int, int]] | None = None,
    mint_options: Mapping[str, Any] | None = None,
    mint_scorer: Any = None,
    gamma: Mapping[str, float] | None = None,
    skip: Sequence[str] = (),
    level_tolerance: float = 1.0,
    retrain_recipe: Any = "quick_cnn_retrain",
    retrain_max_batches: int | None = None,
    bn_recalibration_images: int = 1024,
    chance: float = 10.0,
    settings_extra: Mapping[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    device: Any = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or finish) MIPP vs L1 / random units vs MINT and write ``output`` (JSON).

    Args:
        output: the JSON file.
        dense_model: ``seed → trained dense network`` (not modified).
        pairs: (parent, child) names; the parents' units are selected (MIPP's layers; MINT's pairs).
        train_data, test_data: items ``(image, label)``; the sample, BN re-estimation and retraining
            use ``train_data``; accuracies are on ``test_data``.
        unit_sparsities: shares of units removed in every parent layer, each in [0, 1).
        seeds: one dense network, activation sample, MIPP selection and retrain per seed.
        methods: subset of :data:`MIPP_METHODS`; ``mint`` needs ``mipp`` (its level is MIPP's).
        samples_per_class: rows per class of the activation sample (MINT's ``m``).
        mipp_options: keyword options of :func:`mintlab.prune.mipp.mipp_select` (``repeats``,
            ``config``, ``min_keep``, ``max_bisect``, ``client``...).
        mint_groups: ``{(parent, child): (G_parent, G_child)}`` for MINT (required with ``mint``).
        mint_options: options of MINT's estimator (``get_scorer("mint", **mint_options)``; ``n_jobs`` /
            ``device`` change speed only and are not recorded).
        mint_scorer: the :class:`~mintlab.prune.scorers.Scorer` of method ``mint`` (default
            ``get_scorer("mint", **mint_options)``; its ``config()`` is recorded). Another scorer runs the
            same allocation and masks with other block scores (the tests use magnitude: no estimator compile).
        gamma, skip, level_tolerance: MINT's allocation (as :func:`mintlab.experiments.compare.run_comparison`).
        retrain_recipe: a name in :data:`mintlab.nets.recipes.RECIPES` or a :class:`mintlab.nets.recipes.Recipe`.
        retrain_max_batches: batches per retrain epoch (``None``: all).
        bn_recalibration_images: BatchNorm re-estimation after masking (0: off).
        chance: chance accuracy (%); a retrained run at or below 1.5 × chance is ``at_chance``.
        settings_extra: recorded in ``settings`` (and keyed: other values refuse to resume).
        cache_dir: MINT's score cache (default ``<output stem>_cache/``).
        device: torch device (``None``: CPU unless the dense network is elsewhere).
        log: called with one line per finished step.

    Returns:
        The JSON content: ``{"schema_version", "kind": "mipp_comparison", "provenance", "settings",
        "dense_accuracy": {seed: %} (BatchNorm re-estimated as for the pruned networks), "selections": {"seed/u":
        {"keep": {parent: [bool]}, "seconds": {parent: s}, "x": {parent: x}, "adjusted": {parent: n}}},
        "mint_score_seconds": {seed: s}, "runs": [RunRecord]}``: one :class:`mintlab.prune.record.RunRecord`
        per run (:func:`mintlab.prune.step.run_step`), its ``run_id`` ``"<allocation>/<seed>/<unit sparsity>/
        <method>"``, and in ``extra`` the ``unit_sparsity``, ``units_kept`` ``{parent: n}``,
        ``collapsed_layers`` and ``at_chance``.

    Raises:
        ValueError: unknown methods, ``mint`` without ``mipp`` or groups, bad sparsities or seeds,
            an ``output`` that holds other settings.
    """
    from mintlab.nets.recipes import get_recipe
    from mintlab.prune.activations import normalize_pairs
    from mintlab.prune.scorers import RUNTIME_OPTIONS, get_scorer

    say = log or (lambda _line: None)
    methods = list(methods)
    if not methods or any(m not in MIPP_METHODS for m in methods) or len(set(methods)) != len(methods):
        raise ValueError(f"Expected `methods` as distinct names among {MIPP_METHODS}, but got {methods}")
    if "mint" in methods and ("mipp" not in methods or mint_groups is None):
        raise ValueError(
            "Expected 'mipp' in `methods` and `mint_groups` for method 'mint' (its level is MIPP's "
            f"parameter sparsity), but got methods {methods} and mint_groups {mint_groups!r}"
        )
    levels = [float(u) for u in unit_sparsities]
    if not levels or any(not 0.0 <= u < 1.0 for u in levels):
        raise ValueError(f"Expected `unit_sparsities` as shares in [0, 1), but got {list(unit_sparsities)}")
    seeds = [check_int(s, "seeds", minimum=0) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"Expected `seeds` as distinct ints >= 0, but got {seeds}")
    samples_per_class = check_int(samples_per_class, "samples_per_class", minimum=2)
    pair_list = normalize_pairs(pairs)
    mopts = dict(mipp_options or {})
    client = mopts.pop("client", None)
    retrain = get_recipe(retrain_recipe)
    scorer = mint_scorer if mint_scorer is not None else get_scorer("mint", **dict(mint_options or {}))
    gamma = dict(gamma or {})
    output = Path(output)
    cache = Path(cache_dir) if cache_dir is not None else output.with_name(output.stem + "_cache")
    settings = {
        "pairs": [list(p) for p in pair_list],
        "samples_per_class": samples_per_class,
        "mipp_options": {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in mopts.items()},
        "mint_groups": [[list(k), list(v)] for k, v in (mint_groups or {}).items()],
        "mint_options": {k: v for k, v in (mint_options or {}).items() if k not in RUNTIME_OPTIONS},
        "mint_scorer": scorer.config() if "mint" in methods else None,
        "gamma": gamma,
        "skip": list(skip),
        "level_tolerance": float(level_tolerance),
        "retrain_recipe": dataclasses.asdict(retrain),
        "retrain_max_batches": retrain_max_batches,
        "bn_recalibration_images": int(bn_recalibration_images),
        "chance": float(chance),
        **dict(settings_extra or {}),
    }
    settings = json.loads(json.dumps(to_jsonable(settings)))
    result = _open_mipp_results(output, settings, levels, seeds, methods)
    write_json_atomic(output, result)
    for seed in seeds:
        _mipp_seed(
            result,
            output,
            seed,
            dense_model(seed),
            pair_list,
            levels,
            methods,
            train_data,
            test_data,
            samples_per_class=samples_per_class,
            mopts=mopts,
            client=client,
            scorer=scorer,
            mint_groups=mint_groups,
            gamma=gamma,
            skip=skip,
            level_tolerance=level_tolerance,
            retrain=retrain,
            retrain_max_batches=retrain_max_batches,
            bn_images=bn_recalibration_images,
            chance=chance,
            cache=cache,
            device=device,
            say=say,
        )
    return result


_GROW = ("unit_sparsities", "seeds", "methods")  # may be extended by a rerun; the rest of the settings must match


def _open_mipp_results(
    output: Path, settings: dict[str, Any], levels: list[float], seeds: list[int], methods: list[str]
) -> dict[str, Any]:
    """The results of ``output`` to continue, or a new record (schema :data:`~mintlab.prune.record.SCHEMA_VERSION`).

    Raises:
        ValueError: ``output`` holds other settings, or an older schema (convert it first).
    """
    from mintlab.prune.record import SCHEMA_VERSION
    from mintlab.utils.provenance import provenance

    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "mipp_comparison",
        "provenance": provenance(),
        "settings": settings,
        "dense_accuracy": {},
        "selections": {},
        "mint_score_seconds": {},
        "runs": [],
    }
    if output.exists():
        old = json.loads(output.read_text())
        if old.get("schema_version", 1) != SCHEMA_VERSION:
            raise ValueError(
                f"{output} has results-file schema {old.get('schema_version', 1)}, this code writes "
                f"{SCHEMA_VERSION}: convert it first (python scripts/convert_results.py {output})"
            )
        old_core = {k: v for k, v in old.get("settings", {}).items() if k not in _GROW}
        if old_core != settings:
            changed = sorted(k for k in set(settings) | set(old_core) if old_core.get(k) != settings.get(k))
            raise ValueError(f"{output} holds results for other settings (differing: {changed}); use another output")
        result = old
    prev = {k: result["settings"].get(k, []) for k in _GROW}
    result["settings"] = {
        **settings,
        "unit_sparsities": sorted(set(prev["unit_sparsities"]) | set(levels)),
        "seeds": sorted(set(prev["seeds"]) | set(seeds)),
        "methods": [m for m in MIPP_METHODS if m in set(prev["methods"]) | set(methods)],
    }
    return result


def _mipp_seed(
    result: dict[str, Any],
    output: Path,
    seed: int,
    dense: nn.Module,
    pair_list: list,
    levels: list,
    methods: list,
    train_data: Dataset,
    test_data: Dataset,
    **o: Any,
) -> None:
    """Every unit sparsity and method of one seed: MIPP's selection (cached in ``result``), then one
    :func:`mintlab.prune.step.run_step` per method, MIPP first (its parameter sparsity is MINT's level)."""
    from mintlab.prune.activations import collect_activations
    from mintlab.prune.masks import weight_masks
    from mintlab.prune.metrics import disconnected_units
    from mintlab.prune.mipp import baseline_unit_keep, mipp_select, unit_weight_masks
    from mintlab.prune.record import run_id
    from mintlab.prune.scores import compute_scores
    from mintlab.prune.step import dense_accuracy, run_step

    say, parents, children = o["say"], [p for p, _ in pair_list], [c for _, c in pair_list]
    dev = o["device"] if o["device"] is not None else next(dense.parameters()).device
    total_params = int(sum(p.numel() for p in dense.parameters()))
    modules = dict(dense.named_modules())
    active = sum(int(modules[c].weight.numel()) for c in children if c not in o["skip"])
    if str(seed) not in result["dense_accuracy"]:  # measured as the pruned networks are: BN re-estimated
        result["dense_accuracy"][str(seed)] = dense_accuracy(
            dense, train_data, test_data, bn_images=o["bn_images"], seed=seed, device=dev
        )
        write_json_atomic(output, result)
    done = {(int(r["seed"]), float(r["extra"]["unit_sparsity"]), r["method"]): r for r in result["runs"]}
    acts, score_set = None, None
    for u in levels:
        tag = f"{seed}/{u:g}"
        counts = unit_counts(dense, pair_list, u)
        if "mipp" in methods and tag not in result["selections"]:
            if acts is None:
                acts = collect_activations(
                    dense, train_data, pair_list, samples_per_class=o["samples_per_class"], seed=seed, progress=False
                )
            sel = mipp_select(acts, target=u, seed=seed, client=o["client"], **o["mopts"])
            result["selections"][tag] = {
                "keep": {n: r["keep"].tolist() for n, r in sel.items()},
                "seconds": {n: r["seconds"] for n, r in sel.items()},
                "x": {n: r["x"] for n, r in sel.items()},
                "adjusted": {n: r["adjusted"] for n, r in sel.items()},
                "passes": {n: len(r["bisection"]) for n, r in sel.items()},
                "constant": {n: int(r["constant"].sum()) for n, r in sel.items()},
            }
            write_json_atomic(output, result)
            say(f"seed {seed} u={u:g}: MIPP selected in {sum(result['selections'][tag]['seconds'].values()):.0f} s")
        mipp_level = None
        for method in [m for m in MIPP_METHODS if m in methods]:  # mipp first: its level is MINT's
            if (seed, u, method) in done:
                if method == "mipp":
                    mipp_level = done[(seed, u, method)]["pruned_percent"]
                continue
            extra: dict[str, Any] = {"unit_sparsity": u, "level_of": "units removed (fraction)"}
            alloc, level = None, None
            if method == "mint":
                if score_set is None:
                    t0 = time.perf_counter()
                    score_set = compute_scores(
                        dense,
                        train_data,
                        pair_list,
                        o["scorer"],
                        groups=dict(o["mint_groups"]),
                        samples_per_class=o["samples_per_class"],
                        seed=seed,
                        cache_dir=o["cache"] / "scores",
                        progress=False,
                    )
                    result["mint_score_seconds"].setdefault(str(seed), time.perf_counter() - t0)
                alloc, keep_blocks = _mint_keep(
                    score_set, mipp_level, o["gamma"], o["skip"], o["level_tolerance"], total_params, active, seed
                )
                masks, level = weight_masks(dense, keep_blocks, score_set), mipp_level
            else:
                keep = (
                    {n: np.asarray(v, dtype=bool) for n, v in result["selections"][tag]["keep"].items()}
                    if method == "mipp"
                    else baseline_unit_keep(dense, pair_list, counts, method=method, seed=seed)
                )
                masks = unit_weight_masks(dense, pair_list, keep)
                extra["units_kept"] = {n: int(k.sum()) for n, k in keep.items()}
            if method == "mint":
                score_seconds = result["mint_score_seconds"].get(str(seed))
            else:  # MIPP's selection time; the unit baselines take none worth recording
                score_seconds = sum(result["selections"][tag]["seconds"].values()) if method == "mipp" else None
            net, record = run_step(
                dense,
                masks,
                train_data=train_data,
                test_data=test_data,
                recipe=o["retrain"],
                seed=seed,
                method=method,
                allocation=alloc,
                target_percent=level,
                accuracy_dense=result["dense_accuracy"][str(seed)],
                bn_images=o["bn_images"],
                max_batches=o["retrain_max_batches"],
                score_seconds=score_seconds,
                device=dev,
            )
            record.run_id = run_id(alloc, seed, u, method)  # the level of a MIPP run is its unit sparsity
            if method == "mint":
                disc = disconnected_units(net, pair_list)
                extra["units_kept"] = {
                    p: int(modules[p].weight.shape[0]) - len(disc[c]["parent_without_outputs"]) for p, c in pair_list
                }
            extra["collapsed_layers"] = [p for p in parents if extra["units_kept"][p] == 0]
            extra["at_chance"] = bool(record.accuracy_retrained <= 1.5 * o["chance"])
            record.extra = extra
            if method == "mipp":
                mipp_level = record.pruned_percent
            result["runs"].append(record.to_json())
            done[(seed, u, method)] = result["runs"][-1]
            write_json_atomic(output, result)
            say(
                f"{record.run_id}: params {record.pruned_percent:.2f} %, accuracy {record.accuracy_pruned:.2f} → "
                f"{record.accuracy_retrained:.2f} %"
            )


#: The unit sparsities of the evidence's MIPP stage: 30 % and 50 % of every selected layer's units, about 50 % and
#: 75 % of the pruned layers' parameters (a conv's weights scale with its input and output units), two of the
#: comparison's levels.
EVIDENCE_UNIT_SPARSITIES = (0.3, 0.5)


def mipp_evidence(
    model: str,
    *,
    results: str | Path = "results",
    unit_sparsities: Sequence[float] = EVIDENCE_UNIT_SPARSITIES,
    seeds: Sequence[int] = (0, 1, 2),
    methods: Sequence[str] = MIPP_METHODS,
    mipp_options: Mapping[str, Any] | None = None,
    output: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """MIPP against L1 / random units and MINT on the evidence comparison's own networks and settings.

    Reads ``<results>/cnn_<model>_fashion_mnist32.json`` (the comparison, run first): its preset as run (pairs, G,
    γ, m, :func:`~mintlab.experiments.compare.recorded_preset`), its data, its dense networks (never trained
    here: :func:`~mintlab.experiments.compare.load_dense_network`) and its retraining (recipe, batch cap, BN
    re-estimation), then :func:`run_mipp_comparison` into ``<results>/mipp_<model>_fashion_mnist32.json``, MINT's
    scores cached under ``<results>/cache/mipp-<model>``. Resumable as :func:`run_mipp_comparison` is.

    Args:
        model: a network of :data:`mintlab.experiments.evidence.NETWORKS`.
        unit_sparsities, seeds, methods: as :func:`run_mipp_comparison`.
        mipp_options: :func:`mintlab.prune.mipp.mipp_select`'s options (default: 5 repeats,
            :data:`EVIDENCE_PREDICTOR`, ``min_keep=0``, at most 4 bisection passes), e.g. ``{"reference":
            "current"}`` for the literal TERC baseline (with another ``output``).
        output: the results file (default ``<results>/mipp_<model>_fashion_mnist32.json``).

    Returns:
        The results' JSON content.

    Raises:
        FileNotFoundError: the comparison's file or one of its dense networks is missing.
        RuntimeError: a dense network's accuracy (BN re-estimated) differs from the comparison's: not its network.
    """
    from mintlab.experiments.compare import comparison_inputs, load_dense_network
    from mintlab.experiments.evidence import comparison_arguments

    results = Path(results)
    comparison_file = results / f"cnn_{model}_fashion_mnist32.json"
    if not comparison_file.is_file():
        raise FileNotFoundError(f"Expected the comparison {comparison_file} (stage compare-{model}) first")
    comparison = json.loads(comparison_file.read_text())
    st = comparison["settings"]
    args = comparison_arguments(model, results)
    preset, train_data, test_data = comparison_inputs(st)

    def dense_model(seed: int) -> nn.Module:
        return load_dense_network(st, args["cache_dir"], seed, preset, networks=args.get("networks"))

    options = {"repeats": 5, "config": EVIDENCE_PREDICTOR, "min_keep": 0, "max_bisect": 4, **dict(mipp_options or {})}
    result = run_mipp_comparison(
        output or results / f"mipp_{model}_fashion_mnist32.json", dense_model=dense_model, pairs=preset.pairs,
        train_data=train_data, test_data=test_data, unit_sparsities=unit_sparsities, seeds=seeds, methods=methods,
        samples_per_class=preset.samples_per_class, mipp_options=options, mint_groups=preset.groups,
        mint_options=st["mint_options"], gamma=preset.gamma, skip=preset.skip,
        level_tolerance=st["level_tolerance"], retrain_recipe=args["retrain_recipe"],
        retrain_max_batches=st["retrain_max_batches"], bn_recalibration_images=st["bn_recalibration_images"],
        settings_extra={"comparison": comparison_file.name, "model": model, "model_options": st["model_options"],
                        "dataset": st["dataset"], "mipp_target": "uniform unit sparsity per selected layer"},
        cache_dir=results / "cache" / f"mipp-{model}", log=log,
    )  # fmt: skip
    for seed, got in result["dense_accuracy"].items():
        want = comparison["dense_accuracy"].get(seed)
        if want is not None and abs(want - got) > 1e-6:
            raise RuntimeError(
                f"Expected seed {seed}'s dense network to measure {want} % as in the comparison, but got {got} %"
            )
    return result


def summarize_mipp(result: Mapping[str, Any], *, reference: str = "mipp") -> str:
    """Markdown table: per unit sparsity and method, mean ± sd (n − 1) over seeds, collapse counts, and the paired
    difference of the retrained accuracy from ``reference`` on the same seeds (95 % Student-t interval and paired
    t-test p-value, as :func:`mintlab.experiments.comparison_report.comparison_statistics` reports them)."""
    from mintlab.characterize.compare import holm_adjusted
    from mintlab.experiments.comparison_report import _fmt_paired, _paired

    tests: list[tuple[str, dict[str, Any]]] = []
    rows = [
        "| units removed | method | seeds | params pruned (%) | acc. masked + BN (%) | acc. retrained (%) | "
        f"retrained − {reference} (points) | layer collapse | at chance |",
        "|" + "---|" * 9,
    ]

    def ms(values: Sequence[float]) -> str:
        return f"{np.mean(values):.1f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.1f}"

    for u in sorted({r["extra"]["unit_sparsity"] for r in result["runs"]}):
        at = {
            m: [r for r in result["runs"] if r["extra"]["unit_sparsity"] == u and r["method"] == m]
            for m in MIPP_METHODS
        }
        ref = {int(r["seed"]): r["accuracy_retrained"] for r in at.get(reference, [])}
        for method, rs in at.items():
            if not rs:
                continue
            paired = (
                None if method == reference else _paired({int(r["seed"]): r["accuracy_retrained"] for r in rs}, ref)
            )
            if paired is not None:
                tests.append((f"{method} at {100 * u:.0f} %", paired))
            rows.append(
                f"| {100 * u:.0f} % | {method} | {len(rs)} | "
                f"{ms([r['pruned_percent'] for r in rs])} | "
                f"{ms([r['accuracy_pruned'] for r in rs])} | "
                f"{ms([r['accuracy_retrained'] for r in rs])} | "
                f"{_fmt_paired(paired)} | "
                f"{sum(bool(r['extra']['collapsed_layers']) for r in rs)} | "
                f"{sum(r['extra']['at_chance'] for r in rs)} |"
            )
    dense = list(result["dense_accuracy"].values())
    if dense:
        sd = np.std(dense, ddof=1) if len(dense) > 1 else 0.0
        rows.append(f"\ndense accuracy {np.mean(dense):.2f} ± {sd:.2f} % over {len(dense)} seeds")
    if tests:
        adjusted = holm_adjusted([t["p"] for _, t in tests])
        kept = [f"{name} (adjusted p = {a:.3f})" for (name, _), a in zip(tests, adjusted, strict=True) if a < 0.05]
        rows.append(
            f"\nCorrected for the {len(tests)} paired tests together (Holm's step-down, family-wise error 5 %): "
            + (f"{len(kept)} survive{'s' if len(kept) == 1 else ''}: " + "; ".join(kept) if kept else "none survives")
            + f" (smallest adjusted p {min(adjusted):.3f})."
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m mintlab.experiments.mipp``: :func:`mipp_evidence` (resumable), or ``--summary`` of a results file."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mintlab.experiments.mipp", description=mipp_evidence.__doc__.splitlines()[0]
    )
    parser.add_argument("--model", default="vgg16", help="a network of the evidence (run its comparison first)")
    parser.add_argument("--results", default="results", help="the results folder")
    parser.add_argument("--unit-sparsities", type=float, nargs="+", default=list(EVIDENCE_UNIT_SPARSITIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(MIPP_METHODS), choices=list(MIPP_METHODS))
    parser.add_argument("--reference", choices=["original", "current"], default="original",
                        help="MIPP's baseline of Δ (docs/mipp.md); 'current' wants another --output")  # fmt: skip
    parser.add_argument("--output", default=None, help="default <results>/mipp_<model>_fashion_mnist32.json")
    parser.add_argument("--summary", action="store_true", help="print the table of --output (or the default) only")
    args = parser.parse_args(argv)
    output = Path(args.output or Path(args.results) / f"mipp_{args.model}_fashion_mnist32.json")
    if args.summary:
        if not output.is_file():
            parser.error(f"Expected a results file at {output}, but there is none")
        print(summarize_mipp(json.loads(output.read_text())))
        return 0
    options = {} if args.reference == "original" else {"reference": args.reference}
    result = mipp_evidence(
        args.model, results=args.results, unit_sparsities=args.unit_sparsities, seeds=args.seeds,
        methods=args.methods, mipp_options=options, output=output, log=lambda line: print(line, flush=True),
    )  # fmt: skip
    print(summarize_mipp(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
