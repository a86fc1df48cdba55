"""Notebooks through the runner from scratch, idle and next to one busy process, every run reported (issue 25).

Each run uses a fresh, empty ``MINTLAB_CACHE`` (so the network is trained and the scores computed again: "from
scratch") and runs ``python -m mintlab.notebook.runner --notebooks <stems>`` as a user would. The runs go in the
order given by ``--order`` (default: idle, then busy three times, then idle); a busy run starts one CPU-bound
process (``python3 -c 'while True: pass'``) beside it. Prints per run: the condition, wall seconds, each
notebook's status and seconds, and the watchdog's events from ``run.json``, then the ratio of each busy run to
the mean idle one.

Usage::

    .venv/bin/python benchmarks/bench_runner_busy.py --notebooks 02
    .venv/bin/python benchmarks/bench_runner_busy.py --notebooks 02 --order idle busy busy busy busy busy idle
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(stems: list[str], busy: bool, folder: Path, params: list[str]) -> dict:
    env = {**os.environ, "MINTLAB_CACHE": str(folder / "cache")}
    out = folder / "run"
    cmd = [sys.executable, "-m", "mintlab.notebook.runner", "--notebooks", *stems, "--out", str(out)]
    for p in params:
        cmd += ["-p", p]
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    finally:
        if competitor is not None:
            competitor.kill()
    seconds = time.perf_counter() - start
    record = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {"notebooks": {}}
    notebooks = {
        k: {"status": v.get("status"), "seconds": v.get("seconds"),
            "events": [e.get("kind") for e in v.get("watchdog", [])]}
        for k, v in record["notebooks"].items()
    }  # fmt: skip
    return {"busy": busy, "seconds": seconds, "returncode": proc.returncode, "notebooks": notebooks,
            "stderr_tail": proc.stderr[-400:] if proc.returncode else ""}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="+", default=["02"])
    parser.add_argument(
        "--order", nargs="+", choices=("idle", "busy"), default=["idle", "busy", "busy", "busy", "idle"]
    )
    parser.add_argument("-p", dest="params", action="append", default=[], help="NAME=VALUE for the runner")
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args()
    runs = []
    for k, condition in enumerate(args.order):
        with tempfile.TemporaryDirectory() as tmp:
            r = one_run(args.notebooks, condition == "busy", Path(tmp), args.params)
        runs.append(r)
        parts = ", ".join(f"{n} {v['status']} {v['seconds']} s{' ' + str(v['events']) if v['events'] else ''}"
                          for n, v in r["notebooks"].items())  # fmt: skip
        print(f"run {k + 1} ({condition}): {r['seconds']:.1f} s, exit {r['returncode']}: {parts} {r['stderr_tail']}",
              flush=True)  # fmt: skip
    idle = [r["seconds"] for r in runs if not r["busy"]]
    if idle:
        base = statistics.mean(idle)
        ratios = [f"{r['seconds'] / base:.2f}" for r in runs if r["busy"]]
        print(f"idle mean {base:.1f} s; busy / idle: {', '.join(ratios) or 'no busy run'}")
    if args.json:
        args.json.write_text(json.dumps({"order": args.order, "notebooks": args.notebooks, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
