"""Where and how computations run: device choice, seeds and thread counts."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch

from mintlab.utils.checks import InvalidArgumentError, check_int

__all__ = [
    "SMALL_MODEL_PARAMS",
    "available_cores",
    "configure_threads",
    "limit_torch_threads",
    "seed_everything",
    "select_device",
    "thread_env",
    "torch_threads",
]

#: Models with fewer parameters train with one torch thread unless told otherwise (see :func:`torch_threads`).
SMALL_MODEL_PARAMS = 5_000_000
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def select_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` checked to exist on this machine; ``None`` picks CUDA when available, else the CPU.

    Raises:
        InvalidArgumentError: not a torch device name (e.g. ``"gpu"``), or a CUDA / MPS device this
            machine does not have (CUDA absent, or fewer devices than the index).

    >>> select_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise InvalidArgumentError(f"Expected `device` as a str or torch.device, but got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InvalidArgumentError(
            f"Expected `device` as a torch device such as 'cpu' or 'cuda:0', but got {device!r}"
        ) from err
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (dev.index is not None and dev.index >= count):
            why = "CUDA is not available" if count == 0 else f"CUDA reports {count} device(s)"
            raise InvalidArgumentError(f"Expected `device` available on this machine, but got {device!r}: {why}")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise InvalidArgumentError(f"Expected `device` available on this machine, but got {device!r}: no MPS")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise InvalidArgumentError(f"Expected `device` of type 'cpu', 'cuda' or 'mps', but got {device!r}")
    return dev


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators.

    With ``deterministic`` also switch cuDNN to deterministic kernels (no autotuning).
    """
    check_int(seed, "seed")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


# --------------------------------------------------------------------------- threads
#
# Why: on a CPU shared with another busy process, torch's intra-op (OpenMP) threads wait for each other at
# every small parallel region, and a thread that lost its core holds all the others up: measured here,
# training the MLP took 884 s instead of 64 s with two threads. One thread per process for small models
# loses little when the machine is idle and at most the competitor's share when it is not.


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _env_threads(name: str, environ: Mapping[str, str] | None = None) -> int | None:
    """A positive thread count from ``environ[name]``, ``None`` when unset; ``ValueError`` when malformed."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"Expected ${name} as an int >= 1, but got {raw!r}")
    return value


def _check_threads(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Expected `{name}` as an int >= 1 or None, but got {value!r}")
    return int(value)


def torch_threads(model: torch.nn.Module | None = None, threads: int | None = None) -> int:
    """torch intra-op threads for work on ``model``: ``threads``, else ``$OMP_NUM_THREADS``, else 1 for a small model.

    A model with fewer than :data:`SMALL_MODEL_PARAMS` parameters (the paper's MLP has 0.27 M) gets one
    thread; a larger one, or none given, every available core.

    >>> torch_threads(threads=3)
    3
    """
    if threads is not None:
        return _check_threads("threads", threads)
    user = _env_threads("OMP_NUM_THREADS")
    if user is not None:
        return user
    if model is not None and sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS:
        return 1
    return available_cores()


@contextmanager
def limit_torch_threads(n: int) -> Iterator[int]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count."""
    n = _check_threads("n", n)
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(previous)


def configure_threads(
    model: torch.nn.Module | None = None, *, threads: int | None = None, numba_threads: int | None = None
) -> dict[str, int]:
    """Set this process's thread counts explicitly; returns ``{"torch": n, "numba": m}``.

    torch: :func:`torch_threads`. numba (MINT's MST kernels, whose parallel batches are coarse enough to
    share a CPU well): ``numba_threads``, else ``$NUMBA_NUM_THREADS``, else every available core (at most
    numba's launch-time ``NUMBA_NUM_THREADS``).

    Raises:
        ValueError: for a thread count below 1, also in ``$OMP_NUM_THREADS`` / ``$NUMBA_NUM_THREADS``.
    """
    import numba

    n_torch = torch_threads(model, threads)
    if numba_threads is not None:
        n_numba = _check_threads("numba_threads", numba_threads)
    else:
        n_numba = _env_threads("NUMBA_NUM_THREADS") or available_cores()
    n_numba = min(n_numba, numba.config.NUMBA_NUM_THREADS)
    torch.set_num_threads(n_torch)
    numba.set_num_threads(n_numba)
    return {"torch": n_torch, "numba": n_numba}


def thread_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Thread variables for child processes (papermill kernels, Dask workers) that hold up on a shared CPU.

    What ``environ`` (default ``os.environ``) already sets is kept. Otherwise ``OMP_NUM_THREADS`` and
    ``MKL_NUM_THREADS`` are 1 (torch and BLAS: the notebooks' models are small) and ``NUMBA_NUM_THREADS``
    is the number of available cores (MINT's MST kernels).

    >>> thread_env({"OMP_NUM_THREADS": "4"})["OMP_NUM_THREADS"]
    '4'
    """
    environ = os.environ if environ is None else environ
    out = {}
    for name in _THREAD_VARS:
        user = _env_threads(name, environ)
        default = available_cores() if name == "NUMBA_NUM_THREADS" else 1
        out[name] = str(user if user is not None else default)
    return out
