"""The papermill runner: parameters reach only the notebooks that declare them, sweeps get one folder each,
failures are recorded and stop later notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mintlab.notebook import runner


def _write_notebook(path: Path, params: str, body: str) -> Path:
    cell = new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[cell, new_code_cell(body)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


WRITE_SUMMARY = (
    "import json, pathlib\n"
    "p = pathlib.Path(output_dir); p.mkdir(parents=True, exist_ok=True)\n"
    "(p / 'summary.json').write_text(json.dumps({'value': {expr}}))\n"
)


@pytest.fixture()
def notebook_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "nbs"
    folder.mkdir()
    summary = WRITE_SUMMARY.replace("{expr}", "delta * 2")
    _write_notebook(folder / "01_a.ipynb", "delta = 0.5\noutput_dir = 'x'", summary)
    _write_notebook(folder / "02_b.ipynb", "gamma = 1\noutput_dir = 'x'", WRITE_SUMMARY.replace("{expr}", "gamma + 1"))
    return folder


def test_parse_assignment_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="NAME=VALUE"):
        runner.parse_assignment("no equals sign")
    assert runner.parse_assignment("xs=[1, 2]") == ("xs", [1, 2])


def test_find_notebooks_order_and_selection(notebook_dir: Path) -> None:
    assert [p.stem for p in runner.find_notebooks(notebook_dir)] == ["01_a", "02_b"]
    assert [p.stem for p in runner.find_notebooks(notebook_dir, ["02"])] == ["02_b"]
    with pytest.raises(ValueError, match="to match some of"):
        runner.find_notebooks(notebook_dir, ["99"])


def test_run_notebooks_routes_parameters(notebook_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    rec = runner.run_notebooks(out, notebooks=runner.find_notebooks(notebook_dir),
                               parameters={"delta": 0.25}, progress=False)
    assert rec["status"] == "ok"
    assert rec["notebooks"]["01_a"]["summary"] == {"value": 0.5}
    # gamma not given and delta not declared by 02_b: it keeps its own default
    assert rec["notebooks"]["02_b"]["summary"] == {"value": 2}
    assert "delta" not in rec["notebooks"]["02_b"]["parameters"]
    assert (out / "01_a.ipynb").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "ok"


def test_sweep_makes_one_folder_per_value(notebook_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    code = runner.main(["--notebook-dir", str(notebook_dir), "--notebooks", "01", "--out", str(out),
                        "--sweep", "delta=0.1,0.2"])
    assert code == 0
    values = {d.name: json.loads((d / "01_a" / "summary.json").read_text())["value"] for d in out.iterdir()}
    assert values == {"delta=0.1": pytest.approx(0.2), "delta=0.2": pytest.approx(0.4)}


def test_failure_is_recorded_and_stops_later_notebooks(notebook_dir: Path, tmp_path: Path) -> None:
    _write_notebook(notebook_dir / "01_a.ipynb", "delta = 0.5\noutput_dir = 'x'", "raise RuntimeError('boom')")
    rec = runner.run_notebooks(tmp_path / "run", notebooks=runner.find_notebooks(notebook_dir), progress=False)
    assert rec["status"] == "failed"
    assert "boom" in rec["notebooks"]["01_a"]["error"]
    assert rec["notebooks"]["02_b"]["status"] == "skipped"


def test_sweep_of_lists_and_unknown_names(notebook_dir: Path, tmp_path: Path) -> None:
    assert runner.parse_values("[1, 30],[1, 10]") == [[1, 30], [1, 10]]
    with pytest.raises(SystemExit):
        runner.main(["--notebook-dir", str(notebook_dir), "--out", str(tmp_path / "x"), "-p", "detla=0.3"])
    with pytest.raises(ValueError, match="distinct folder names"):
        runner.run_sweep(tmp_path / "s", {"delta": ["a b", "ab"]}, notebooks=runner.find_notebooks(notebook_dir))


def test_stale_summary_is_not_reported(notebook_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "01_a").mkdir(parents=True)
    (out / "01_a" / "summary.json").write_text('{"from": "previous run"}')
    _write_notebook(notebook_dir / "01_a.ipynb", "delta = 0.5\noutput_dir = 'x'", "raise RuntimeError('boom')")
    rec = runner.run_notebooks(out, notebooks=runner.find_notebooks(notebook_dir), progress=False)
    assert rec["notebooks"]["01_a"]["status"] == "failed" and "summary" not in rec["notebooks"]["01_a"]


def test_kernels_get_explicit_thread_counts(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "nbs"
    folder.mkdir()
    expr = "{k: os.environ.get(k) for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMBA_NUM_THREADS')}"
    _write_notebook(folder / "01_env.ipynb", "output_dir = 'x'",
                    "import os\n" + WRITE_SUMMARY.replace("{expr}", expr))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice is kept
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    rec = runner.run_notebooks(tmp_path / "run", notebooks=runner.find_notebooks(folder), progress=False)
    seen = rec["notebooks"]["01_env"]["summary"]["value"]
    assert seen["OMP_NUM_THREADS"] == "3" and seen["MKL_NUM_THREADS"] == "1" and int(seen["NUMBA_NUM_THREADS"]) >= 1
    assert rec["threads"] == seen
    assert "MKL_NUM_THREADS" not in __import__("os").environ, "this process's environment is restored"
