"""The README's own-model example ("Using mintlab on your own model") is seeded and prints the numbers written
under it (issue 12, case 6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "README.md"
#: What the example prints (the README shows the same line under it).
EXPECTED = "{'3': 81.2, '5': 59.4} 17.0"


def _blocks(text: str) -> list[str]:
    return re.findall(r"```(?:python)?\n(.*?)```", text, flags=re.DOTALL)


def test_example_prints_the_documented_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = DOC.read_text()
    section = text[text.index("## Using mintlab on your own model") :]
    code = _blocks(section)[0]
    assert "torch.manual_seed(0)" in code
    assert f"prints `{EXPECTED}`" in section
    monkeypatch.chdir(tmp_path)  # its score cache ("scores/") goes here
    for _ in range(2):  # computed, then reloaded from the cache: the same line
        exec(compile(code, str(DOC), "exec"), {"__name__": "own_model_example"})  # noqa: S102 - our own README
        # the last line is the example's print (compute_scores may print a time projection before it)
        assert capsys.readouterr().out.strip().splitlines()[-1] == EXPECTED
