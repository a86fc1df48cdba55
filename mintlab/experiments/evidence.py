"""The project's evidence, as one resumable job: trained dense networks, then the method comparisons on them.

Stages (``python -m mintlab.experiments.evidence [--stages ...]``), each resumable at any point and each
writing its results file after every finished unit:

* ``dense-vgg16``: VGG16-BN ¼ on all of Fashion-MNIST 32×32, seeds 0–2 (:mod:`mintlab.experiments.dense`);
* ``compare-vgg16``: the six methods × both allocations × levels 50, 75, 83.5 % (the paper's VGG16 point:
  83.46 %) × seeds 0–2, m = 650, one full retraining epoch per run;
* ``characterize-vgg16``: at 75 % under MINT's allocation, MINT, magnitude, random and Taylor pruned once per
  seed (networks kept), then attacks, calibration and GradCAM against the seed's own dense network
  (:mod:`mintlab.experiments.characterization`);
* ``mipp-vgg16``: MIPP against L1 / random channels (equal channel counts) and MINT (equal parameter share) at
  30 % and 50 % of every selected layer's channels, on the comparison's networks and settings
  (:func:`mintlab.experiments.mipp.mipp_evidence`);
* ``dense-resnet56``, ``compare-resnet56``, ``characterize-resnet56``: the same for ResNet56 ½, at levels 30,
  52.4 (the paper's 52.41 %) and 75 %, m = 500, characterized at 52.4 %;
* ``precision-mlp``: whether bf16 autocast trains to float32's accuracy: the MLP (784-500-300-10) on all of
  Fashion-MNIST, the paper's recipe (30 epochs), seeds 0–2 once in ``"fp32"`` and once in ``"bf16"`` (each
  seed the same initial weights and batches in both); a CPU without native bf16 emulates it, slowly, which is
  why this runs on the MLP and not on the CNNs there;
* ``point-vgg16``, ``point-resnet56``: two more seeds (3, 4; each its own dense network, recorded with the
  first three) at the paper's operating point only (83.5 % / 52.4 %), both allocations, the six methods, into
  the same comparison file: where three seeds cannot decide there, five are asked for.

The dense networks live in ``results/networks`` and the scores in ``results/cache/<stage>`` (both committed,
so a later session on another machine resumes them). ``results/evidence_log.json`` records, per stage and
piece, the start and end time, the wall seconds and the load average at both ends (a running piece records
a heartbeat every minute, so one killed outright is timed to its last): an evidence run has the CPU to itself,
and the log is how a reader checks that it did.

Run it with the machine otherwise idle, and threads set: ``OMP_NUM_THREADS=2 NUMBA_NUM_THREADS=2 python -m
mintlab.experiments.evidence``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mintlab.nets.networks import get_network

__all__ = [
    "CHARACTERIZATION_LEVELS",
    "NETWORKS",
    "PAPER_POINTS",
    "POINT_SEEDS",
    "PRECISIONS",
    "STAGES",
    "comparison_arguments",
    "precision_record",
    "run_evidence",
    "main",
]

#: How often (seconds) a running piece records that it is alive, and for how long: a job killed outright
#: (SIGKILL, the machine stopped) is timed to its last heartbeat on the next start.
HEARTBEAT_SECONDS = 60.0

_SIX = ("mint", "mint_paper", "magnitude", "random", "wanda", "taylor")


def _dense(model: str, width: float, results: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> Callable[[], Any]:
    from mintlab.experiments.dense import train_dense_networks

    return lambda: train_dense_networks(
        results / f"dense_{model}_fashion_mnist32.json",
        model=model,
        width=width,
        seeds=seeds,
        networks=results / "networks",
    )


#: The evidence's networks: model → (width, the comparison's levels, % of all parameters).
NETWORKS: dict[str, tuple[float, tuple[float, ...]]] = {
    "vgg16": (0.25, (50.0, 75.0, 83.5)),
    "resnet56": (0.5, (30.0, 52.4, 75.0)),
}
#: The comparison level (% of all parameters) that stands for the paper's operating point of each network (its
#: Table I: :data:`mintlab.experiments.evidence_comparison.PAPER_TABLE_I`), and the seeds the ``point-<model>``
#: stage adds there.
PAPER_POINTS = {"vgg16": 83.5, "resnet56": 52.4}
POINT_SEEDS = (3, 4)
#: The level each characterization runs at: high, yet every method's networks stay connected there.
CHARACTERIZATION_LEVELS = {"vgg16": 75.0, "resnet56": 52.4}


def comparison_arguments(model: str, results: str | Path) -> dict[str, Any]:
    """The keyword arguments of :func:`mintlab.experiments.compare.run_comparison` for the evidence's comparison of
    ``model`` (all but the output file); the characterization reruns part of it with them."""
    width, levels = NETWORKS[model]
    results = Path(results)
    return dict(
        model=model,
        width=width,
        dataset="fashion_mnist32",
        methods=_SIX,
        levels=levels,
        seeds=(0, 1, 2),
        allocations=("mint", "global"),
        train_recipe=get_network(model).recipe,
        retrain_recipe="cnn_fashion_retrain",
        networks=results / "networks",
        cache_dir=results / "cache" / f"compare-{model}",
    )


def _compare(model: str, results: Path, *, points: bool = False) -> Callable[[], Any]:
    """The comparison of ``model``; ``points``: first the point seeds' dense networks, then the comparison with
    them at the paper's operating point (the file's other runs kept)."""
    from mintlab.experiments.compare import run_comparison

    output = results / f"cnn_{model}_fashion_mnist32.json"

    def run() -> Any:
        extra = {}
        if points or _has_points(output):  # once added, the point seeds stay part of the comparison's plan
            _dense(model, NETWORKS[model][0], results, seeds=POINT_SEEDS)()
            extra = {"point_levels": (PAPER_POINTS[model],), "point_seeds": POINT_SEEDS}
        return run_comparison(
            output,
            **comparison_arguments(model, results),
            **extra,
            log=lambda line: print(line, flush=True),
        )

    return run


def _has_points(output: Path) -> bool:
    """Whether the comparison ``output`` was run with point seeds (its settings list some)."""
    import json

    return output.is_file() and bool(json.loads(output.read_text()).get("settings", {}).get("point_seeds"))


def _characterize(model: str, results: Path) -> Callable[[], Any]:
    from mintlab.experiments.characterization import characterize_evidence

    return lambda: characterize_evidence(
        model, level=CHARACTERIZATION_LEVELS[model], results=results, log=lambda line: print(line, flush=True)
    )


def _mipp(model: str, results: Path) -> Callable[[], Any]:
    from mintlab.experiments.mipp import mipp_evidence

    return lambda: mipp_evidence(model, results=results, log=lambda line: print(line, flush=True))


#: The precisions the ``precision-mlp`` stage trains the MLP in, each into ``results/dense_mlp_<p>_fashion_mnist.json``.
PRECISIONS = ("fp32", "bf16")


def precision_record(results: str | Path, precision: str) -> Path:
    """The ``precision-mlp`` stage's record of the MLP trained in ``precision`` (one of :data:`PRECISIONS`)."""
    return Path(results) / f"dense_mlp_{precision}_fashion_mnist.json"


def _precision(results: Path) -> Callable[[], Any]:
    from mintlab.experiments.dense import train_dense_networks

    def run() -> None:
        for precision in PRECISIONS:
            train_dense_networks(
                precision_record(results, precision),
                model="mlp",
                width=1.0,
                dataset="fashion_mnist",
                seeds=(0, 1, 2),
                recipe="mlp",
                networks=results / "networks" / f"precision-{precision}",
                precision=precision,
            )

    return run


def _stages(results: Path) -> dict[str, Callable[[], Any]]:
    return {
        "dense-vgg16": _dense("vgg16", NETWORKS["vgg16"][0], results),
        "compare-vgg16": _compare("vgg16", results),
        "characterize-vgg16": _characterize("vgg16", results),
        "mipp-vgg16": _mipp("vgg16", results),
        "dense-resnet56": _dense("resnet56", NETWORKS["resnet56"][0], results),
        "compare-resnet56": _compare("resnet56", results),
        "characterize-resnet56": _characterize("resnet56", results),
        "precision-mlp": _precision(results),
        "point-vgg16": _compare("vgg16", results, points=True),
        "point-resnet56": _compare("resnet56", results, points=True),
    }


#: The stages in the order they run.
STAGES = tuple(_stages(Path("results")))


def run_evidence(stages: Sequence[str] = STAGES, *, results: str | Path = "results") -> None:
    """Run (or finish) ``stages`` in order, logging each piece to ``<results>/evidence_log.json``.

    Raises:
        ValueError: an unknown stage name. RuntimeError: another evidence job is running on ``results``.
    """
    from mintlab.utils.io import write_json_atomic
    from mintlab.utils.provenance import git_state

    results = Path(results)
    table = _stages(results)
    unknown = [s for s in stages if s not in table]
    if unknown:
        raise ValueError(f"Expected stages among {tuple(table)}, but got {unknown}")
    log_path = results / "evidence_log.json"
    log: dict[str, Any] = {"pieces": []}
    if log_path.is_file():
        import json

        log = json.loads(log_path.read_text())
    live = [p for p in log["pieces"] if p["status"] == "running" and _alive(p.get("pid"))]
    if live:
        pid, stage = live[-1]["pid"], live[-1]["stage"]
        raise RuntimeError(
            f"Expected no other evidence job on {results}, but pid {pid} is running stage {stage!r}: two jobs "
            f"would share the CPU and overwrite each other's results and log. Wait for it, or stop it between two "
            f"runs with `kill -TERM {pid}` (it resumes where it stopped)"
        )
    for stale in log["pieces"]:  # a job killed outright (SIGKILL, the machine stopped) could not log its end
        if stale["status"] == "running":
            stale["status"] = "stopped: ended without logging (killed, or the machine stopped)"
            if "last_seen" in stale:  # timed to its last heartbeat: at most HEARTBEAT_SECONDS short
                stale.update(end=stale["last_seen"], seconds=stale["seconds_so_far"], timed_to="last heartbeat")
    lock = threading.Lock()
    for stage in stages:
        piece = {
            "stage": stage,
            "start": _now(),
            "load_average_start": os.getloadavg(),
            **git_state(),
            "status": "running",
            "pid": os.getpid(),
            "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")},
        }
        log["pieces"].append(piece)
        write_json_atomic(log_path, log)
        t0 = time.perf_counter()
        stop = threading.Event()

        def beat(piece: dict[str, Any] = piece, t0: float = t0, stop: threading.Event = stop) -> None:
            while not stop.wait(HEARTBEAT_SECONDS):
                with lock:
                    piece.update(last_seen=_now(), seconds_so_far=time.perf_counter() - t0)
                    try:
                        write_json_atomic(log_path, log)
                    except OSError as err:  # a full disk must not stop the heartbeat, nor the stage
                        print(f"evidence: heartbeat not written ({err})", file=sys.stderr, flush=True)

        heart = threading.Thread(target=beat, name=f"evidence-heartbeat-{stage}", daemon=True)
        heart.start()
        try:
            table[stage]()
            piece["status"] = "done"
        except BaseException as err:  # an interrupted piece is logged as such, then the error goes on
            piece["status"] = f"stopped: {type(err).__name__}"
            raise
        finally:
            stop.set()
            heart.join()
            with lock:
                piece.update(end=_now(), seconds=time.perf_counter() - t0, load_average_end=os.getloadavg())
                write_json_atomic(log_path, log)


def _now() -> str:
    """The UTC time, ISO 8601 to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _alive(pid: int | None) -> bool:
    """Whether process ``pid`` still runs an evidence job (``None``, a piece logged before pids were: no).

    A pid that is this process's own, or (where ``/proc`` tells) a process whose arguments do not name the
    module (``-m mintlab.experiments.evidence``, or its file), is not the piece's: pids are reused, after a restart
    or on another machine that resumes the results folder. Two jobs started within the same second can both pass
    the check; start one at a time.
    """
    if pid is None or pid == os.getpid():
        return False
    if Path("/proc/self/cmdline").is_file():  # Linux: read what the process runs
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:  # no such process
            return False
        return any(a == b"mintlab.experiments.evidence" or a.endswith(b"mintlab/experiments/evidence.py") for a in argv)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mintlab.experiments.evidence", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    parser.add_argument("--results", default="results", help="the results folder")
    args = parser.parse_args(argv)
    _interruptible()
    run_evidence(args.stages, results=args.results)
    return 0


def _interruptible() -> None:
    """Make SIGINT and SIGTERM stop the job as Ctrl-C does (the piece logged as stopped, finished runs kept).

    A job started in the background of a non-interactive shell (``nohup python -m ... &``) inherits SIGINT as
    ignored, and Python then installs no handler for it: ``kill -INT`` would do nothing and ``kill`` would end it
    without logging the piece.
    """
    import signal

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


if __name__ == "__main__":
    sys.exit(main())
