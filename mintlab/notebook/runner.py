"""Run the notebooks headless through papermill: one run folder, optional parameter sweeps.

Every notebook in ``notebooks/`` has a cell tagged ``parameters`` with fast defaults and an
``output_dir`` parameter; it writes its figures (PNG) and a ``summary.json`` there. This module executes
them in reading order and gathers what they recorded::

    python -m mintlab.notebook.runner                          # all notebooks → runs/<timestamp>/
    python -m mintlab.notebook.runner -p samples_per_class=20  # override a parameter wherever a notebook has it
    python -m mintlab.notebook.runner --notebooks 02 --sweep delta=0,0.02,0.05     # one run folder per value

A run folder holds ``<notebook>.ipynb`` (executed), ``<notebook>/`` (figures + summary.json) and
``run.json`` (parameters, timings, status and summaries of every notebook), rewritten as each notebook finishes.

No cell can make a run wait forever (``docs/runner.md``): every cell has a timeout (``--timeout``, default
30 min, ``0`` for none), and a watchdog interrupts the kernel and executes the cell once more when the kernel has
been silent and idle for ``--silence`` seconds (default 120, ``0`` turns it off) while the runner waits for the
cell's reply; a second silence fails the notebook. ``run.json`` records each such event under the notebook's
``"watchdog"``. A failure is reported by its exception type and message, notebook and cell first, then the
traceback (cut to its last 4,000 characters; the executed notebook has it whole).

The kernels get explicit thread counts (:func:`mintlab.utils.runtime.thread_env`, recorded in
``run.json``): one torch/BLAS thread and numba threads on every core, unless ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS`` or ``NUMBA_NUM_THREADS`` are set, so a run keeps its pace on a shared CPU.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mintlab.utils.checks import InvalidArgumentError
from mintlab.utils.io import write_json_atomic
from mintlab.utils.runtime import thread_env

__all__ = [
    "DEFAULT_CELL_TIMEOUT_S",
    "DEFAULT_SILENCE_S",
    "check_parameter",
    "declared_parameters",
    "describe_error",
    "find_notebooks",
    "main",
    "parse_assignment",
    "parse_values",
    "resolve_parameters",
    "run_notebooks",
    "run_sweep",
]

#: Where ``python -m mintlab.notebook.runner`` looks for notebooks when none are given.
DEFAULT_NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
#: Per-cell timeout of a run, seconds (``--timeout``; 0 or None: no limit).
DEFAULT_CELL_TIMEOUT_S = 1800
#: Seconds of silence from an idle kernel before the watchdog interrupts and retries a cell (``--silence``; 0: off).
DEFAULT_SILENCE_S = 120.0
#: The traceback shown after a failure's one-line description keeps its last this many characters.
ERROR_TRACEBACK_CHARS = 4000


def find_notebooks(notebook_dir: str | Path = DEFAULT_NOTEBOOK_DIR, select: Sequence[str] | None = None) -> list[Path]:
    """The notebooks of ``notebook_dir`` in reading order (by file name), optionally filtered.

    Args:
        notebook_dir: folder holding ``NN_name.ipynb`` files.
        select: prefixes or stems to keep (``["01", "03_retraining"]``); ``None`` keeps all.

    Raises:
        ValueError: if the folder holds no notebooks or a selection matches none.
    """
    folder = Path(notebook_dir)
    found = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not found:
        raise ValueError(f"Expected notebooks (*.ipynb) in {folder}, but found none")
    if select is None:
        return found
    chosen = [p for p in found if any(p.stem == s or p.stem.startswith(s) for s in select)]
    if not chosen:
        raise ValueError(f"Expected --notebooks to match some of {[p.stem for p in found]}, but got {list(select)}")
    return chosen


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``NAME=VALUE`` with ``VALUE`` a Python literal, or a plain string when it is not one.

    >>> parse_assignment("delta=0.5")
    ('delta', 0.5)
    >>> parse_assignment("dataset=fashion_mnist")
    ('dataset', 'fashion_mnist')
    """
    name, sep, raw = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ValueError(f"Expected a parameter as NAME=VALUE, but got {text!r}")
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), value


def parse_values(raw: str) -> list[Any]:
    """Comma-separated values of a sweep, each a Python literal (lists allowed) or a plain string.

    >>> parse_values("0.1,0.2")
    [0.1, 0.2]
    >>> parse_values("[1, 30],[1, 10]")
    [[1, 30], [1, 10]]
    >>> parse_values("mnist,fashion_mnist")
    ['mnist', 'fashion_mnist']
    """
    try:
        values = ast.literal_eval(f"[{raw}]")
    except (ValueError, SyntaxError):
        values = [parse_assignment(f"v={v}")[1] for v in raw.split(",")]
    if not values:
        raise ValueError(f"Expected at least one value, but got {raw!r}")
    return list(values)


#: Python type names papermill reports for annotated parameters (``progress: bool = True``).
_ANNOTATED_TYPES: dict[str, type] = {
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "list": list,
    "tuple": tuple,
    "dict": dict,
}
_NO_DEFAULT = object()  # a default that is not a literal (``1 / 255``, a function call): its type is unknown


def declared_parameters(path: str | Path) -> dict[str, Any]:
    """The parameters a notebook declares in its ``parameters`` cell: name → default value.

    Read with papermill's ``inspect_notebook``. A default is the Python literal it is written as
    (``groups = [8, 4]`` → ``[8, 4]``); a default that is not a literal (``1 / 255``) is returned as
    the annotated type when the cell annotates it (``eps: float = 1 / 255`` → ``float``), else as a
    marker that accepts any literal.
    """
    import papermill

    declared: dict[str, Any] = {}
    for name, info in papermill.inspect_notebook(str(path)).items():
        try:
            default: Any = ast.literal_eval(str(info.get("default")))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            default = _ANNOTATED_TYPES.get(str(info.get("inferred_type_name")), _NO_DEFAULT)
        declared[name] = default
    return declared


def _notebook_parameters(path: Path) -> set[str]:
    return set(declared_parameters(path))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a bool (True or False)"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a str"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a dict"
    return f"a {type(value).__name__}"


def _fits(value: Any, default: Any) -> bool:
    """Does ``value`` have the type of ``default`` (recursively for containers whose items share one type)?"""
    if default is _NO_DEFAULT or default is None:
        return True  # unknown type, or an optional parameter declared as None: any literal
    if isinstance(default, type):
        default = {bool: False, int: 0, float: 0.0, str: "", list: [], tuple: (), dict: {}}[default]
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return False
        items = list(default)
        if items and all(_kind(i) == _kind(items[0]) for i in items):
            return all(_fits(v, items[0]) for v in value)
        return True
    if isinstance(default, dict):
        if not isinstance(value, dict):
            return False
        items = list(default.values())
        if items and all(_kind(i) == _kind(items[0]) for i in items):
            return all(_fits(v, items[0]) for v in value.values())
        return True
    return True


def _convert(value: Any, default: Any) -> Any:
    """``value`` in the container type the notebook declared (a tuple given for a list default becomes a list)."""
    if isinstance(default, list) and isinstance(value, tuple):
        return [_convert(v, default[0]) if default else v for v in value]
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(_convert(v, default[0]) if default else v for v in value)
    if isinstance(default, list) and isinstance(value, list) and default:
        return [_convert(v, default[0]) for v in value]
    return value


def check_parameter(name: str, value: Any, default: Any, notebook: str = "the notebook") -> Any:
    """``value`` checked against the type of the declared ``default``, in the declared container type.

    A bool parameter takes only ``True``/``False`` (the string ``'false'`` is truthy in Python, so it is
    refused, not guessed); an int takes an int; a float an int or float; a list a list or tuple (converted
    to a list) whose items have the type of the default's items; a parameter declared ``None`` takes any
    value.

    Raises:
        InvalidArgumentError: the value does not fit the declared type.

    >>> check_parameter("groups", (16, 4), [8, 4])
    [16, 4]
    >>> check_parameter("progress", "false", True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mintlab.utils.checks.InvalidArgumentError: Expected `progress` as a bool (True or False) ... but got 'false'
    """
    if not _fits(value, default):
        shown = default.__name__ if isinstance(default, type) else repr(default)
        kind = _kind(default() if isinstance(default, type) else default)
        raise InvalidArgumentError(
            f"Expected `{name}` as {kind} ({notebook} declares {name} = {shown}), but got {value!r}"
        )
    return _convert(value, default)


def resolve_parameters(
    paths: Sequence[Path],
    parameters: Mapping[str, Any] | None = None,
    per_notebook: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The checked parameters each notebook receives, by notebook stem, before anything runs.

    ``parameters`` go to every notebook that declares them; ``per_notebook[stem]`` to that notebook only.
    Each value is checked with :func:`check_parameter` against the notebook's declared default.

    Raises:
        InvalidArgumentError: a parameter no selected notebook declares, a ``per_notebook`` key that is not
            a selected notebook, a parameter that notebook does not declare, or a value of the wrong type.
    """
    common = dict(parameters or {})
    extra = {str(k): dict(v) for k, v in (per_notebook or {}).items()}
    declared = {path.stem: declared_parameters(path) for path in paths}
    all_names = set().union(*declared.values()) if declared else set()
    unknown = sorted(set(common) - all_names)
    if unknown:
        raise InvalidArgumentError(
            f"Expected parameters that a selected notebook declares ({sorted(all_names)}), but got {unknown}"
        )
    stray = sorted(set(extra) - set(declared))
    if stray:
        raise InvalidArgumentError(f"Expected `per_notebook` keys among {sorted(declared)}, but got {stray}")
    resolved: dict[str, dict[str, Any]] = {}
    for stem, defaults in declared.items():
        missing = sorted(set(extra.get(stem, {})) - set(defaults))
        if missing:
            raise InvalidArgumentError(
                f"Expected parameters that {stem} declares ({sorted(defaults)}), but got {missing}"
            )
        given = {k: v for k, v in common.items() if k in defaults}
        given.update(extra.get(stem, {}))
        resolved[stem] = {k: check_parameter(k, v, defaults[k], stem) for k, v in given.items()}
    return resolved


def run_notebooks(
    output_dir: str | Path,
    *,
    notebooks: Iterable[str | Path] | None = None,
    parameters: Mapping[str, Any] | None = None,
    per_notebook: Mapping[str, Mapping[str, Any]] | None = None,
    kernel_name: str | None = None,
    timeout_s: int | None = DEFAULT_CELL_TIMEOUT_S,
    silence_s: float | None = DEFAULT_SILENCE_S,
    stop_on_error: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Execute notebooks in order with papermill into ``output_dir`` and collect their summaries.

    Args:
        output_dir: the run folder (created).
        notebooks: notebook paths; default: every notebook of ``notebooks/``.
        parameters: values given to every notebook that declares that parameter (others are left alone,
            so one ``-p`` can target several notebooks without papermill warnings).
        per_notebook: extra values by notebook stem, applied after ``parameters``.
            Every value is checked against the type of the notebook's declared default before any notebook
            runs (:func:`resolve_parameters`); the command line goes through the same check.
        kernel_name: Jupyter kernel; default: the notebook's own (``python3`` = this interpreter).
        timeout_s: per-cell timeout in seconds (default 1800); ``None`` or 0: no limit. A cell over it fails its
            notebook (``CellTimeoutError``).
        silence_s: the watchdog's limit (default 120 s): when the runner has waited that long for a cell's reply
            with no message from the kernel while the kernel is idle (it reported ``idle``, or its processes used
            under 5 % of a core), the kernel is interrupted and the cell executed once more; if that happens again,
            the notebook fails (``KernelSilentError``). A kernel that computes is never interrupted by it.
            ``None`` or 0 turns it off.
        stop_on_error: stop at the first failing notebook (later ones usually depend on earlier ones).
        progress: show papermill's progress bars.

    Returns:
        The run record also written to ``output_dir/run.json`` (after every notebook): per notebook its parameters,
        seconds, status (``ok``/``failed``/``skipped``; ``running``/``interrupted`` while or if the run was cut
        short), summary, ``watchdog`` events (cell, kind ``silent_kernel``/``timeout``, seconds waited, action
        ``interrupted_and_retried``/``failed``) and, after a failure, ``error`` (one line naming the notebook, the
        cell, the exception type and its full message, then the traceback's last 4,000 characters) and
        ``exception`` (the same, field by field); and the kernels' thread variables, ``cell_timeout_s`` and
        ``silence_s``.

    Raises:
        InvalidArgumentError: a parameter that no notebook declares or that does not fit the declared type
            (see :func:`resolve_parameters`); raised before anything runs or is written.
    """
    paths = [Path(p) for p in notebooks] if notebooks is not None else find_notebooks()
    common = dict(parameters or {})
    extra = resolve_parameters(paths, common, per_notebook)  # checked, per notebook, before anything runs
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = thread_env()
    cell_timeout = max(1, math.ceil(timeout_s)) if timeout_s and timeout_s > 0 else None  # nbclient takes an int
    silence = float(silence_s) if silence_s and silence_s > 0 else None
    record: dict[str, Any] = {
        "output_dir": str(out.resolve()),
        "parameters": common,
        "threads": threads,
        "cell_timeout_s": cell_timeout,
        "silence_s": silence,
        "notebooks": {},
    }
    saved_env = {k: os.environ.get(k) for k in threads}
    os.environ.update(threads)  # the kernels papermill starts inherit them
    try:
        _run_each(paths, out, common, extra, record, kernel_name, cell_timeout, silence, stop_on_error, progress)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    failed = any(e.get("status") == "failed" for e in record["notebooks"].values())
    record["status"] = "failed" if failed else "ok"
    write_json_atomic(out / "run.json", record)
    return record


def _first_line(source: Any) -> str:
    text = "".join(source) if isinstance(source, list) else str(source or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= 80 else line[:77] + "..."


def describe_error(
    err: BaseException, notebook: str, cell: int | None = None, limit: int = ERROR_TRACEBACK_CHARS
) -> dict[str, Any]:
    """What a failed notebook's record says about ``err``: the real error first, then the (cut) traceback.

    For papermill's ``PapermillExecutionError`` (an exception raised inside the notebook) the type, message, cell
    index (its position in the executed notebook, 0-based) and execution count come from the kernel; for another
    exception (the kernel died, ...) they come from ``err`` itself, with ``cell`` the cell that was executing.

    Returns:
        ``headline`` (``notebook 02_x.ipynb, cell 7 (exec 5): ValueError: <message>``, the message in full),
        ``type``, ``message``, ``notebook``, ``cell``, ``exec_count``, ``source`` (first line of the cell) and
        ``error``: the headline, then the traceback cut to its last ``limit`` characters.
    """
    from papermill.exceptions import PapermillExecutionError, strip_color

    if isinstance(err, PapermillExecutionError):
        ename, evalue = str(err.ename), str(err.evalue)
        cell, exec_count, source = err.cell_index, err.exec_count, _first_line(err.source)
        trace = strip_color("\n".join(err.traceback or []))
    else:
        ename, evalue = type(err).__name__, str(err)
        exec_count, source = None, ""
        trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    where = f"notebook {notebook}"
    if cell is not None:
        where += f", cell {cell}"
    if exec_count is not None:
        where += f" (exec {exec_count})"
    headline = f"{where}: {ename}: {evalue}" if evalue else f"{where}: {ename}"
    trace = trace.strip("\n")
    if len(trace) > limit:
        trace = f"[... first {len(trace) - limit} characters of the traceback cut ...]\n" + trace[-limit:]
    shown = trace and trace not in (headline, f"{ename}: {evalue}")  # not when it only repeats the headline
    text = headline + ("\n" + trace if shown else "")
    return {
        "headline": headline,
        "type": ename,
        "message": evalue,
        "notebook": notebook,
        "cell": cell,
        "exec_count": exec_count,
        "source": source,
        "error": text,
    }


def _run_each(paths, out, common, extra, record, kernel_name, timeout_s, silence_s, stop_on_error, progress) -> None:
    import papermill

    from mintlab.notebook._watchdog import ENGINE_NAME, Watchdog

    failed = False
    for path in paths:
        stem = path.stem
        entry: dict[str, Any] = {"input": str(path)}
        record["notebooks"][stem] = entry
        if failed and stop_on_error:
            entry["status"] = "skipped"
            continue
        declared = _notebook_parameters(path)
        params = dict(extra[stem])  # checked by resolve_parameters in run_notebooks
        if "output_dir" in declared:
            params["output_dir"] = str((out / stem).resolve())
        entry["parameters"] = params
        summary = out / stem / "summary.json"
        summary.unlink(missing_ok=True)  # a summary from an earlier run in this folder must not pass as this one's
        watchdog = Watchdog(silence_s=silence_s, notebook=path.name)
        entry["watchdog"] = watchdog.events  # the same list: filled as events happen
        entry["status"] = "running"
        write_json_atomic(out / "run.json", record)  # a run killed from outside still shows where it was
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(path),
                str(out / path.name),
                parameters=params,
                kernel_name=kernel_name,
                cwd=str(path.parent),
                progress_bar=progress,
                engine_name=ENGINE_NAME,
                execution_timeout=timeout_s,
                watchdog=watchdog,
            )
            entry["status"] = "ok"
        except KeyboardInterrupt:
            entry["status"] = "interrupted"
            entry["seconds"] = round(time.perf_counter() - start, 2)
            write_json_atomic(out / "run.json", record)
            raise
        except Exception as err:  # noqa: BLE001 - recorded, then re-raised or reported
            entry["status"] = "failed"
            described = describe_error(err, path.name, cell=watchdog.cell_index)
            entry["error"] = described.pop("error")
            entry["exception"] = described
            print(f"mintlab runner: {described['headline']}", file=sys.stderr, flush=True)
            failed = True
        entry["seconds"] = round(time.perf_counter() - start, 2)
        if entry["status"] == "ok" and summary.exists():
            entry["summary"] = json.loads(summary.read_text())
        write_json_atomic(out / "run.json", record)


def run_sweep(
    output_dir: str | Path,
    sweep: Mapping[str, Sequence[Any]],
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Run the notebooks once per combination of swept values, each in its own sub-folder.

    ``sweep={"delta": [0.2, 0.4]}`` gives ``output_dir/delta=0.2/`` and ``output_dir/delta=0.4/``.
    Other keyword arguments go to :func:`run_notebooks` (``parameters`` are combined with the swept values).
    """
    if not sweep:
        raise ValueError("Expected at least one swept parameter, but got none")
    names = list(sweep)
    for name in names:
        if len(sweep[name]) == 0:
            raise ValueError(f"Expected at least one value for swept parameter `{name}`, but got none")
    base = dict(kwargs.pop("parameters", None) or {})
    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*(sweep[n] for n in names))]
    folders = [",".join(f"{k}={v}" for k, v in combo.items()).replace("/", "_").replace(" ", "") for combo in combos]
    if len(set(folders)) != len(folders):
        raise ValueError(f"Expected swept values that give distinct folder names, but got {folders}")
    paths = [Path(p) for p in kwargs.pop("notebooks", None) or find_notebooks()]
    for combo in combos:  # every combination is checked before the first one runs
        resolve_parameters(paths, {**base, **combo}, kwargs.get("per_notebook"))
    return [
        run_notebooks(Path(output_dir) / folder, notebooks=paths, parameters={**base, **combo}, **kwargs)
        for folder, combo in zip(folders, combos, strict=True)
    ]


def _default_output_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def _point_latest(run_dir: Path) -> None:
    latest = run_dir.parent / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_dir.name)
    except OSError:
        pass  # a convenience only (e.g. file systems without symlinks)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m mintlab.notebook.runner --help``)."""
    parser = argparse.ArgumentParser(prog="python -m mintlab.notebook.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<timestamp>)")
    parser.add_argument("--notebook-dir", type=Path, default=DEFAULT_NOTEBOOK_DIR)
    parser.add_argument("--notebooks", nargs="*", default=None, help="prefixes/stems to run (default: all)")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="parameter for every notebook that declares it (Python literal or string)",
    )
    parser.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="run once per value, each in its own folder (several --sweep: all combinations)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_CELL_TIMEOUT_S,
        help=f"per-cell timeout in seconds (default {DEFAULT_CELL_TIMEOUT_S}; 0: no limit)",
    )
    parser.add_argument(
        "--silence",
        type=float,
        default=DEFAULT_SILENCE_S,
        help=f"seconds the runner waits for a cell's reply from a silent, idle kernel before the "
        f"watchdog interrupts it and retries the cell once (default {DEFAULT_SILENCE_S:g}; "
        f"0: off)",
    )
    parser.add_argument("--keep-going", action="store_true", help="run later notebooks after a failure")
    args = parser.parse_args(argv)

    params = dict(parse_assignment(p) for p in args.param)
    sweep: dict[str, list[Any]] = {}
    for item in args.sweep:
        name, _, raw = item.partition("=")
        if not raw:
            parser.error(f"--sweep expects NAME=V1,V2,..., got {item!r}")
        sweep[name] = parse_values(raw)
    notebooks = find_notebooks(args.notebook_dir, args.notebooks)
    try:  # the same check as run_notebooks(...), reported before anything runs
        combos = [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())] or [{}]
        for combo in combos:
            resolve_parameters(notebooks, {**params, **combo})
    except InvalidArgumentError as err:
        parser.error(str(err))
    out = args.out or _default_output_dir()
    common = {
        "notebooks": notebooks,
        "parameters": params,
        "timeout_s": args.timeout,
        "silence_s": args.silence,
        "stop_on_error": not args.keep_going,
    }
    if sweep:
        records = run_sweep(out, sweep, **common)
        ok = all(r["status"] == "ok" for r in records)
    else:
        records = [run_notebooks(out, **common)]
        ok = records[0]["status"] == "ok"
    if args.out is None:
        _point_latest(out)
    for rec in records:
        _print_record(rec)
    return 0 if ok else 1


def _print_record(rec: Mapping[str, Any]) -> None:
    """The console summary of one run folder: a line per notebook, then each watchdog event and each failure
    (its one-line description first, then the cut traceback)."""
    print(f"\n{rec['output_dir']}: {rec['status']}")
    for stem, entry in rec["notebooks"].items():
        status, seconds = entry.get("status", "?"), entry.get("seconds", 0)
        kind = entry.get("exception", {}).get("type", "")
        print(f"  {stem:32s} {status:8s} {seconds:8.1f} s  {kind}".rstrip())
    for stem, entry in rec["notebooks"].items():
        for event in entry.get("watchdog", []):
            print(
                f"  watchdog: {stem}, cell {event['cell']} (`{event['source']}`): {event['kind']} after "
                f"{event['seconds']:.0f} s ({event['reason']}) -> {event['action']}"
            )
    for stem, entry in rec["notebooks"].items():
        if entry.get("status") == "failed" and entry.get("error"):
            print(f"\n{stem} failed: {entry['error']}")


if __name__ == "__main__":
    sys.exit(main())
