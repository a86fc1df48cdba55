"""The papermill runner: parameters reach only the notebooks that declare them, sweeps get one folder each,
failures are recorded and stop later notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mintlab.notebook import runner
from mintlab.utils.checks import InvalidArgumentError


def _write_notebook(path: Path, params: str, body: str) -> Path:
    cell = new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb = new_notebook(
        cells=[cell, new_code_cell(body)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
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
    rec = runner.run_notebooks(
        out, notebooks=runner.find_notebooks(notebook_dir), parameters={"delta": 0.25}, progress=False
    )
    assert rec["status"] == "ok"
    assert rec["notebooks"]["01_a"]["summary"] == {"value": 0.5}
    # gamma not given and delta not declared by 02_b: it keeps its own default
    assert rec["notebooks"]["02_b"]["summary"] == {"value": 2}
    assert "delta" not in rec["notebooks"]["02_b"]["parameters"]
    assert (out / "01_a.ipynb").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "ok"


def test_sweep_makes_one_folder_per_value(notebook_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    code = runner.main(
        ["--notebook-dir", str(notebook_dir), "--notebooks", "01", "--out", str(out), "--sweep", "delta=0.1,0.2"]
    )
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


# --- issue 12 case 4: values are Python literals checked against the declared parameter's type -----------------

ECHO = (
    "import json, pathlib\n"
    "p = pathlib.Path(output_dir); p.mkdir(parents=True, exist_ok=True)\n"
    "(p / 'summary.json').write_text(json.dumps({'groups': groups, 'groups_type': type(groups).__name__,\n"
    "                                            'progress': progress, 'progress_type': type(progress).__name__}))\n"
)


@pytest.fixture()
def typed_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "typed"
    folder.mkdir()
    _write_notebook(folder / "01_typed.ipynb", "groups = [8, 4]\nprogress = True\noutput_dir = 'x'", ECHO)
    return folder


def test_default_notebook_folder_is_the_repository_one() -> None:
    assert (runner.DEFAULT_NOTEBOOK_DIR / "02_layer_pair_pruning.ipynb").exists()


def test_declared_parameters_are_literals(typed_dir: Path) -> None:
    assert runner.declared_parameters(typed_dir / "01_typed.ipynb") == {
        "groups": [8, 4],
        "progress": True,
        "output_dir": "x",
    }


@pytest.mark.parametrize(
    ("name", "value", "default", "expected"),
    [
        ("groups", (16, 4), [8, 4], [16, 4]),
        ("progress", False, True, False),
        ("lr", 1, 0.5, 1),
        ("groups", ((10, 10), (10, 5)), [[25, 25], [25, 10]], [[10, 10], [10, 5]]),
        ("delta", 0.3, None, 0.3),
        ("name", "mnist", "fashion_mnist", "mnist"),
    ],
)
def test_check_parameter_accepts_fitting_values(name, value, default, expected) -> None:
    got = runner.check_parameter(name, value, default)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("name", "value", "default"),
    [
        ("progress", "false", True),
        ("progress", 0, True),
        ("groups", "(16, 4)", [8, 4]),
        ("seed", 1.5, 0),
        ("seed", True, 0),
        ("groups", [16, "4"], [8, 4]),
        ("groups", [16, 4], [[25, 25], [25, 10]]),
        ("lr", "0.1", 0.5),
        ("name", 3, "mnist"),
    ],
)
def test_check_parameter_refuses_what_does_not_fit(name, value, default) -> None:
    with pytest.raises(InvalidArgumentError, match=f"Expected `{name}` as .* declares {name} = "):
        runner.check_parameter(name, value, default)


def test_cli_parses_literals_and_matches_run_notebooks(typed_dir: Path, tmp_path: Path) -> None:
    """``-p groups=(16, 4) -p progress=False`` reaches the notebook as [16, 4] and False, as the same values do
    through run_notebooks(...)."""
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    code = runner.main(
        ["--notebook-dir", str(typed_dir), "--out", str(cli_out), "-p", "groups=(16, 4)", "-p", "progress=False"]
    )
    assert code == 0
    cli = json.loads((cli_out / "01_typed" / "summary.json").read_text())
    rec = runner.run_notebooks(
        api_out,
        notebooks=runner.find_notebooks(typed_dir),
        parameters={"groups": (16, 4), "progress": False},
        progress=False,
    )
    api = rec["notebooks"]["01_typed"]["summary"]
    assert cli == api == {"groups": [16, 4], "groups_type": "list", "progress": False, "progress_type": "bool"}


def test_false_string_is_refused_before_anything_runs(typed_dir: Path, tmp_path: Path, capsys) -> None:
    """``progress=false`` is not a Python literal: it stays the string 'false' (truthy), so it is refused, by the CLI
    and by run_notebooks alike, with the same message and before any folder is written."""
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    with pytest.raises(SystemExit) as exit_info:
        runner.main(
            ["--notebook-dir", str(typed_dir), "--out", str(cli_out), "-p", "groups=(16, 4)", "-p", "progress=false"]
        )
    assert exit_info.value.code == 2
    cli_message = capsys.readouterr().err
    with pytest.raises(InvalidArgumentError) as err:
        runner.run_notebooks(
            api_out,
            notebooks=runner.find_notebooks(typed_dir),
            parameters={"groups": (16, 4), "progress": "false"},
            progress=False,
        )
    message = "Expected `progress` as a bool (True or False) (01_typed declares progress = True), but got 'false'"
    assert str(err.value) == message and message in cli_message
    assert not cli_out.exists() and not api_out.exists()


def test_unknown_parameters_refused_by_both_paths(typed_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"a selected notebook declares .* but got \['progres'\]"):
        runner.run_notebooks(
            tmp_path / "api", notebooks=runner.find_notebooks(typed_dir), parameters={"progres": False}, progress=False
        )
    with pytest.raises(SystemExit):
        runner.main(["--notebook-dir", str(typed_dir), "--out", str(tmp_path / "cli"), "-p", "progres=False"])
    with pytest.raises(InvalidArgumentError, match="per_notebook"):
        runner.run_notebooks(
            tmp_path / "api",
            notebooks=runner.find_notebooks(typed_dir),
            per_notebook={"99_missing": {"progress": False}},
            progress=False,
        )
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


def test_sweep_checks_every_value_before_the_first_run(typed_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="`progress` as a bool"):
        runner.run_sweep(
            tmp_path / "s", {"progress": [True, "no"]}, notebooks=runner.find_notebooks(typed_dir), progress=False
        )
    assert not (tmp_path / "s").exists()


def test_kernels_get_explicit_thread_counts(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "nbs"
    folder.mkdir()
    expr = "{k: os.environ.get(k) for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMBA_NUM_THREADS')}"
    _write_notebook(folder / "01_env.ipynb", "output_dir = 'x'", "import os\n" + WRITE_SUMMARY.replace("{expr}", expr))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice is kept
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    rec = runner.run_notebooks(tmp_path / "run", notebooks=runner.find_notebooks(folder), progress=False)
    seen = rec["notebooks"]["01_env"]["summary"]["value"]
    assert seen["OMP_NUM_THREADS"] == "3" and seen["MKL_NUM_THREADS"] == "1" and int(seen["NUMBA_NUM_THREADS"]) >= 1
    assert rec["threads"] == seen
    assert "MKL_NUM_THREADS" not in __import__("os").environ, "this process's environment is restored"
