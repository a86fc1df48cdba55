"""Every command-line script and benchmark answers ``--help`` with its usage and does nothing else.

A script without an argument parser would start its job instead (a benchmark that trains, a script
that reads ``sys.argv[1]`` as a path): that is what this catches, within a time limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(
    p for p in [*ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py")] if not p.name.startswith("_")
)  # _name.py: modules the scripts import

_RUNNER = r"""
import contextlib, io, runpy, sys
failed = []
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    sys.path.insert(0, path.rsplit("/", 1)[0])
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name="__main__")
        failed.append(f"{path}: returned without exiting")
    except SystemExit as stop:
        if stop.code not in (0, None) or "usage:" not in out.getvalue():
            failed.append(f"{path}: exit {stop.code!r}, printed {out.getvalue()[:200]!r}")
    except BaseException as err:
        failed.append(f"{path}: {type(err).__name__}: {err}")
    finally:
        sys.path.pop(0)
print("\n".join(failed))
"""


def test_every_script_answers_help(tmp_path: Path) -> None:
    assert len(SCRIPTS) > 10
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, *map(str, SCRIPTS)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", done.stdout
    assert list(tmp_path.iterdir()) == [], "a script wrote files when asked for --help"
