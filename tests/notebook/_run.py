"""The notebook tests' shared run: notebooks through the runner into one folder, every one required to pass."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mintlab.notebook import runner

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_all_ok(
    out: Path, stems: tuple[str, ...] | None, parameters: Mapping[str, Any], per_notebook: Mapping[str, Any]
) -> dict:
    """Run the notebooks whose names start with ``stems`` (all: ``None``) and return ``run.json`` with ``_dir``."""
    paths = [p for p in runner.find_notebooks(NOTEBOOKS) if stems is None or p.stem.startswith(stems)]
    record = runner.run_notebooks(out, notebooks=paths, parameters=parameters, per_notebook=per_notebook,
                                  progress=False)  # fmt: skip
    failures = {k: v.get("error") for k, v in record["notebooks"].items() if v.get("status") != "ok"}
    assert not failures, f"notebooks failed: {failures}"
    record["_dir"] = out
    return record


def summary(run: dict, stem: str) -> dict:
    return run["notebooks"][stem]["summary"]
