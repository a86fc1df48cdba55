"""What produced a results file: the code (git commit, a dirty tree, a hash of the package), versions, machine."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["provenance", "package_fingerprint", "git_state"]

_PACKAGE = Path(__file__).resolve().parents[1]


def git_state(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the git work tree holding ``path`` (the package).

    ``dirty`` is True when tracked files differ from the commit (untracked files do not count). Outside a git
    checkout (an installed wheel) both are ``None``.
    """
    where = str(Path(path) if path is not None else _PACKAGE)
    try:
        commit = subprocess.run(
            ["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(status.strip())}


@functools.lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) over the path and bytes of every ``.py`` file of the ``mintlab`` package:
    it tells two runs' code apart even where git cannot (a dirty tree, an installed copy)."""
    h = hashlib.sha256()
    for file in sorted(_PACKAGE.rglob("*.py")):
        h.update(file.relative_to(_PACKAGE).as_posix().encode())
        h.update(file.read_bytes())
    return h.hexdigest()[:16]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance() -> dict[str, Any]:
    """The record every results file carries: git commit and dirty flag, mintlab's version, the package's
    fingerprint, library versions, and the machine (CPU, cores, GPU, native bf16).

    >>> sorted(provenance())[:3]
    ['commit', 'cores', 'cpu']
    """
    import numba
    import numpy
    import torch

    from mintlab import __version__
    from mintlab.nets.precision import native_bf16
    from mintlab.utils.runtime import available_cores

    return {
        **git_state(),
        "mintlab": __version__,
        "package_fingerprint": package_fingerprint(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "cpu": _cpu_model(),
        "cores": available_cores(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "native_bf16_cpu": native_bf16("cpu"),
    }
