"""How a network trains at the machine's speed: bf16 autocast, memory layout and ``torch.compile``.

:func:`resolve_precision` turns a recipe's ``precision`` (:data:`mintlab.nets.recipes.PRECISIONS`) into a
:class:`TrainingMode`:

- ``"fp32"``: float32, the default memory layout, eager.
- ``"bf16"``: ``torch.autocast(dtype=torch.bfloat16)`` around the forward pass and the loss (weights, optimizer
  state and gradients stay float32: mixed precision), default layout, eager.
- ``"auto"``: bf16 autocast where the device has native bf16 arithmetic (a CUDA device that supports it; a CPU
  with AVX512-BF16 or AMX-BF16), float32 elsewhere. Then, for a run long enough to pay for the measurement,
  ``channels_last`` is kept only where a few timed steps show it faster for *this* network (measured on
  Intel AMX: 2.2× for VGG16-BN ¼, slower for ResNet56 ½), and ``torch.compile`` only where the run is long
  enough to pay for compiling and timed steps show it faster (measured on an AVX2 CPU: 1.4× for ResNet56 ½,
  whose 56 small convolutions are dominated by per-layer overhead). Short runs (tests, a few batches; under
  :data:`MEASURE_MIN_SECONDS`) skip the measurements and train in the default layout, eager, so they stay
  exact and quick.

The decision is recorded in the training history and the checkpoint, and a resumed run reuses it, so the
weights of an interrupted run equal those of an uninterrupted one. Only training uses bf16: evaluation, the
activations recorded for scoring, the scores and the MSTs are float32 (float64 in the estimator).

bf16 is faster, not free: the MLP on Fashion-MNIST (paper's recipe, three paired seeds, evidence stage
``precision-mlp``) ended 0.38 points below float32 under bf16 autocast, every seed lower, outside float32's seed
spread (``docs/training.md``). Where ``"auto"`` picks bf16, check one seed against ``"fp32"``.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mintlab.utils.checks import check_choice
from mintlab.utils.model_state import copy_model

__all__ = ["TrainingMode", "native_bf16", "resolve_precision", "MEASURE_MIN_SECONDS", "COMPILE_MIN_SECONDS"]

#: A run projected (eager float32 step time × steps) shorter than this trains without measuring layouts.
MEASURE_MIN_SECONDS = 30.0
#: ``torch.compile`` is tried only for runs projected at least this long (compiling takes ≈ 30–60 s on 2 cores).
COMPILE_MIN_SECONDS = 900.0
#: A candidate must be at least this much faster per step to replace the simpler one (noise margin).
_SPEEDUP_MARGIN = 1.10


@dataclasses.dataclass(frozen=True)
class TrainingMode:
    """The arithmetic a training run uses (:func:`resolve_precision`).

    Attributes:
        dtype: ``"fp32"`` or ``"bf16"`` (autocast; parameters stay float32).
        channels_last: inputs and 4-D weights in ``torch.channels_last`` memory format.
        compile: the forward pass runs through ``torch.compile``.
        reason: why ``"auto"`` chose this, with the measured steps per second (empty otherwise).
    """

    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    reason: str = ""

    def autocast(self, device: torch.device) -> Any:
        """The autocast context of this mode on ``device`` (a no-op for float32)."""
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=self.dtype == "bf16")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> TrainingMode:
        return cls(**{k: value[k] for k in ("dtype", "channels_last", "compile", "reason") if k in value})


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` does bf16 arithmetic natively (CUDA: ``torch.cuda.is_bf16_supported``; CPU: the
    ``avx512_bf16`` or ``amx_bf16`` flags of ``/proc/cpuinfo``; elsewhere False). ``$MINTLAB_NATIVE_BF16``
    (``0``/``1``) overrides the answer.

    Without native support bf16 is emulated and slow: one VGG16-BN ¼ SGD step ran 13× slower in bf16 than in
    float32 on an AVX2-only AMD EPYC (docs/training.md).
    """
    forced = os.environ.get("MINTLAB_NATIVE_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})
    return False


class _Candidate:
    """One training mode stepping a copy of the model on one batch, for timing."""

    def __init__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mode: TrainingMode, device: torch.device
    ) -> None:
        self.mode, self.device = mode, device
        self.net = copy_model(model).to(device)
        self.net.train()
        self.x, self.y = x.to(device), y.to(device)
        if mode.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=1e-3, momentum=0.9)
        self.forward: Callable[[torch.Tensor], torch.Tensor] = torch.compile(self.net) if mode.compile else self.net

    def step(self) -> float:
        """Seconds of one SGD step."""
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        with self.mode.autocast(self.device):
            loss = nn.functional.cross_entropy(self.forward(self.x).float(), self.y)
        loss.backward()
        self.opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0


def _time_modes(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, modes: list[TrainingMode], device: torch.device, rounds: int
) -> tuple[list[float], list[float]]:
    """(median seconds per step, seconds of the two warm-up steps) per mode, the modes' steps interleaved round by
    round so that a change in the machine's load falls on every mode alike."""
    candidates = [_Candidate(model, x, y, m, device) for m in modes]
    warm = [c.step() + c.step() for c in candidates]
    times: list[list[float]] = [[] for _ in candidates]
    for _ in range(rounds):
        for c, t in zip(candidates, times):
            t.append(c.step())
    return [float(sorted(t)[len(t) // 2]) for t in times], warm


def resolve_precision(
    precision: str,
    model: nn.Module,
    example: tuple[torch.Tensor, torch.Tensor] | None,
    device: torch.device,
    total_steps: int,
    *,
    timing_steps: int = 7,
) -> TrainingMode:
    """The :class:`TrainingMode` for ``precision`` (``"auto"``, ``"fp32"``, ``"bf16"``).

    Args:
        precision: the recipe's precision.
        model: the network to train (only a copy is stepped; ``model`` is untouched).
        example: one training batch ``(inputs, labels)``, timed for ``"auto"``.
        device: where training runs.
        total_steps: SGD steps the run will take (projects the run's length for ``"auto"``).
        timing_steps: steps timed per candidate (interleaved; the median counts).

    Raises:
        InvalidArgumentError: an unknown ``precision``.
    """
    check_choice(precision, "precision", ("auto", "fp32", "bf16"))
    if precision == "fp32":
        return TrainingMode("fp32")
    if precision == "bf16":
        return TrainingMode("bf16")
    dtype = "bf16" if native_bf16(device) else "fp32"
    why = "native bf16" if dtype == "bf16" else "no native bf16 on this device"
    if example is None:
        return TrainingMode(dtype, reason=f"{why}; no example batch to time: not measured")
    x, y = example
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # the caller's RNG untouched
        (base,), _ = _time_modes(model, x, y, [TrainingMode(dtype)], device, 1)
        projected = base * total_steps
        if projected < MEASURE_MIN_SECONDS:
            return TrainingMode(dtype, reason=f"{why}; run projected at {projected:.0f} s: not measured")
        modes = [TrainingMode(dtype)] + ([TrainingMode(dtype, True)] if x.dim() == 4 else [])
        seconds, _ = _time_modes(model, x, y, modes, device, timing_steps)
        notes = [
            f"{m.dtype}{' channels_last' if m.channels_last else ''} {x.shape[0] / t:.0f} img/s"
            for m, t in zip(modes, seconds)
        ]
        best, best_s = modes[0], seconds[0]
        if len(modes) > 1 and seconds[1] * _SPEEDUP_MARGIN < best_s:
            best, best_s = modes[1], seconds[1]
        if projected >= COMPILE_MIN_SECONDS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    compiled = dataclasses.replace(best, compile=True)
                    (comp, eager), (warm, _) = _time_modes(model, x, y, [compiled, best], device, timing_steps)
                notes.append(
                    f"compiled {x.shape[0] / comp:.0f} img/s against {x.shape[0] / eager:.0f} (compiling {warm:.0f} s)"
                )
                if comp * _SPEEDUP_MARGIN < eager and (eager - comp) * total_steps > warm:
                    best = compiled
            except Exception as err:  # no C++ compiler, an unsupported op: train eager
                notes.append(f"torch.compile failed ({type(err).__name__}): eager")
    return dataclasses.replace(best, reason=f"{why}; measured {', '.join(notes)}")
