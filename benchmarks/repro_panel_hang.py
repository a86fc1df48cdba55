"""Try to reproduce issue 25's panel-cell hang: many cells that draw into an ipywidgets Output, next to a busy process.

Each cell of a generated notebook does what the old panel's refresh did (``with out: clear_output(wait=True);
display(fig)``, the figure displayed *into* an Output widget: ``--mode display``) or what it does now (the PNG put
into the Output widget's state, :func:`mintlab.notebook.widgets._png_output`: ``--mode state``). The notebook runs
through papermill either with its stock nbclient engine (``--engine papermill``: an unbounded reply wait, here
bounded by ``--cell-timeout`` so a hang shows up as a timeout) or with mintlab's engine (``--engine mintlab``:
the sliced reply wait, the silence watchdog and a per-cell timeout). With ``--busy`` one CPU-bound process
(``python3 -c 'while True: pass'``) runs beside it, as in the issue.

Prints, per run: cells run, the cells that waited at least 90 % of the cell timeout (a reply the client found only
when the timeout made it look again: without a timeout, papermill's default, such a cell waits forever), the
error, the watchdog events and the wall time. A hang in ``display`` mode with
the stock engine that never occurs with mintlab's engine, or in ``state`` mode, supports the cause in
``docs/runner.md`` (the client missing a reply while it answers the Output widget's messages); no hang in any
mode means the race did not show in that many cells, which is reported as such.

Usage::

    .venv/bin/python benchmarks/repro_panel_hang.py --cells 150 --busy --engine papermill --mode display
    .venv/bin/python benchmarks/repro_panel_hang.py --cells 150 --busy --engine mintlab --mode display
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETUP = """\
import io
import ipywidgets as w
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import clear_output, display
from mintlab.notebook.widgets import _png_output

out = w.Output()
display(out)
rng = np.random.default_rng(0)
"""

CELL = {
    "display": """\
fig, ax = plt.subplots(figsize=(4, 3))
ax.imshow(rng.random((16, 16)))
with out:
    clear_output(wait=True)
    display(fig)
plt.close(fig)
""",
    "state": """\
fig, ax = plt.subplots(figsize=(4, 3))
ax.imshow(rng.random((16, 16)))
out.outputs = (_png_output(fig),)
plt.close(fig)
""",
}


def notebook(cells: int, mode: str) -> dict:
    def code(src: str) -> dict:
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": src}

    return {
        "cells": [code(SETUP)] + [code(CELL[mode]) for _ in range(cells)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def run_once(cells: int, mode: str, engine: str, cell_timeout: int, folder: Path) -> dict:
    import papermill

    from mintlab.notebook._watchdog import ENGINE_NAME, Watchdog

    src = folder / f"hang_{mode}.ipynb"
    src.write_text(json.dumps(notebook(cells, mode)))
    dst = folder / f"hang_{mode}_{engine}_out.ipynb"
    kw = (
        {"engine_name": ENGINE_NAME, "watchdog": Watchdog(silence_s=30, notebook=src.name)}
        if engine == "mintlab"
        else {}
    )
    start = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(str(src), str(dst), execution_timeout=cell_timeout, progress_bar=False, **kw)
    except Exception as err:  # noqa: BLE001 - a hang surfaces as a timeout error: count it
        error = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    seconds = time.perf_counter() - start
    events = kw["watchdog"].events if kw else []
    done, stalls, longest = 0, [], 0.0
    if dst.is_file():
        nb = json.loads(dst.read_text())
        done = sum(1 for c in nb["cells"][1:] if c.get("execution_count") is not None)
        for k, c in enumerate(nb["cells"][1:], start=1):  # a reply found only when the timeout made the client look
            duration = c["metadata"].get("papermill", {}).get("duration") or 0.0
            longest = max(longest, duration)
            if duration >= 0.9 * cell_timeout:
                stalls.append((k, round(duration, 2)))
    return {
        "cells": cells,
        "executed": done,
        "error": error,
        "events": events,
        "seconds": seconds,
        "stalls": stalls,
        "longest": longest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=150)
    parser.add_argument("--mode", choices=tuple(CELL), default="display")
    parser.add_argument("--engine", choices=("papermill", "mintlab"), default="papermill")
    parser.add_argument("--cell-timeout", type=int, default=60, help="seconds; a cell over it counts as a hang")
    parser.add_argument("--busy", action="store_true", help="one CPU-bound process beside the run")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(args.repeats):
                r = run_once(args.cells, args.mode, args.engine, args.cell_timeout, Path(tmp))
                kinds = [e.get("kind") for e in r["events"]]
                print(f"run {k + 1}: mode {args.mode}, engine {args.engine}, busy {args.busy}: "
                      f"{r['executed']}/{r['cells']} cells in {r['seconds']:.1f} s, the longest "
                      f"{r['longest']:.1f} s; cells that waited >= 90 % of the timeout (cell, s): "
                      f"{r['stalls'] or 'none'}; error: {r['error']}; watchdog events: {kinds or 'none'}",
                      flush=True)  # fmt: skip
    finally:
        if busy is not None:
            busy.kill()


if __name__ == "__main__":
    main()
