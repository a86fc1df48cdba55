"""Small file helpers: atomic writes, so an interrupted run never leaves a half-written file."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "resolve_dir",
    "write_atomic",
    "write_json_atomic",
    "write_bytes_atomic",
    "to_jsonable",
    "json_key",
    "npz_bytes",
    "save_figure",
]


def resolve_dir(value: str | os.PathLike | None, name: str, env: str, default: str) -> Path:
    """A folder from an argument, else ``$env``, else ``default`` (``~`` expanded; not created).

    >>> str(resolve_dir("/tmp/x", "root", "NO_SUCH_VAR", "~/y"))
    '/tmp/x'
    """
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"Expected `{name}` as a str or path, but got {type(value).__name__}")
    if value is None or str(value) == "":
        value = os.environ.get(env) or default
    return Path(value).expanduser()


def write_atomic(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Create ``path`` by calling ``write(file)`` on a temporary file in the same folder, then ``os.replace``.

    Readers see either the old file or the complete new one, never a half-written file, even if the
    process is killed. The file gets the usual permissions (``0666`` less the umask), not ``mkstemp``'s
    ``0600``. Every atomic write in mintlab goes through here.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`write_atomic`)."""
    return write_atomic(path, lambda fh: fh.write(data))


def to_jsonable(obj: Any) -> Any:
    """Turn numpy / torch scalars and arrays, tuples and paths into plain JSON values (NaN → None).

    >>> import numpy as np
    >>> to_jsonable({"a": np.float32(0.5), "b": (1, np.int64(2)), "c": float("nan")})
    {'a': 0.5, 'b': [1, 2], 'c': None}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return to_jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` (made JSON-safe with :func:`to_jsonable`) to ``path`` atomically, indented."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n"
    return write_bytes_atomic(path, text.encode())


def json_key(obj: Any, length: int = 16) -> str:
    """A short cache key: the first ``length`` hex digits of the SHA-256 of ``obj``'s canonical JSON.

    Keys are sorted and values JSON cannot hold are written with ``str``, so equal settings give
    equal keys in any order and on any machine.

    >>> json_key({"b": 1, "a": [1, 2]}) == json_key({"a": [1, 2], "b": 1})
    True
    """
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


def npz_bytes(arrays: dict[str, np.ndarray], *, compressed: bool = False) -> bytes:
    """The bytes of an ``.npz`` file holding ``arrays`` (for :func:`write_bytes_atomic`)."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def save_figure(figure: Any, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically (rendered in memory, then :func:`write_bytes_atomic`)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return write_bytes_atomic(path, buffer.getvalue())
