"""Exported compacted models load and run with plain PyTorch, in a process where mintlab cannot be imported."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from mintlab.prune.compaction import compact
from mintlab.prune.export import load_compact, save_compact

_LOADER = """
import sys
sys.modules["mintlab"] = None  # any `import mintlab` now fails
import torch
path, fmt, x_path, y_path = sys.argv[1:]
x = torch.load(x_path)
if fmt == "export":
    model = torch.export.load(path).module()
else:
    model = torch.jit.load(path)
with torch.no_grad():
    torch.save(model(x), y_path)
"""


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn(self.conv(x)))


def _compacted() -> tuple[nn.Module, torch.Tensor]:
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        _Block(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 8),
        nn.ReLU(),
        nn.Linear(8, 3),
    )
    m = torch.ones(3, 8)
    m[:, [1, 5]] = 0
    prune.custom_from_mask(net[6], "weight", m)
    x = torch.randn(4, 1, 6, 6)
    return compact(net, x), x


@pytest.mark.parametrize("fmt", [pytest.param("export", marks=pytest.mark.slow), "torchscript"])
def test_saved_model_runs_without_mintlab(tmp_path, fmt):
    small, x = _compacted()
    assert small[4].out_features == 6
    path = save_compact(small, x, tmp_path / f"model.{fmt}", format=fmt)
    x2 = torch.randn(7, 1, 6, 6)  # another batch size
    torch.save(x2, tmp_path / "x.pt")
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-c", _LOADER, str(path), fmt, str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
        check=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
    )
    y = torch.load(tmp_path / "y.pt")
    with torch.no_grad():
        expected = small(x2)
    assert torch.allclose(y, expected, atol=1e-6)
    assert torch.allclose(load_compact(path, format=fmt)(x2), expected, atol=1e-6)


def test_bad_arguments(tmp_path):
    small, x = _compacted()
    with pytest.raises(ValueError, match="format"):
        save_compact(small, x, tmp_path / "m", format="onnx")
    masked = nn.Sequential(nn.Linear(2, 2))
    prune.identity(masked[0], "weight")
    with pytest.raises(ValueError, match="masks"):
        save_compact(masked, torch.randn(2, 2), tmp_path / "m")
    with pytest.raises(TypeError, match="example_inputs"):
        save_compact(small, [x], tmp_path / "m")


def test_an_interrupted_save_leaves_the_previous_file(tmp_path, monkeypatch):
    model, x = _compacted()
    path = save_compact(model, x, tmp_path / "m.pt", format="torchscript")
    before = path.read_bytes()

    def killed(obj, fh):
        fh.write(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.jit, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_compact(model, x, path, format="torchscript")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left
