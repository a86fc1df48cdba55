"""Atomic writes: one implementation, usual permissions, nothing half-written on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from torch import nn

from mintlab.nets.checkpoints import save_checkpoint
from mintlab.utils.io import json_key, write_atomic, write_bytes_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_checkpoints_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        assert _mode(write_bytes_atomic(tmp_path / "a.bin", b"x")) == 0o644
        assert _mode(save_checkpoint(tmp_path / "c.pt", nn.Linear(2, 2))) == 0o644  # was 0600 before
    finally:
        os.umask(umask)


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_bytes_atomic(tmp_path / "a.bin", b"old")

    def broken(fh) -> None:
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_json_key_is_order_free_and_sensitive_to_values() -> None:
    assert json_key({"a": 1, "b": [1, 2]}) == json_key({"b": [1, 2], "a": 1})
    assert json_key({"a": 1}) != json_key({"a": 2})
    assert len(json_key({"a": 1})) == 16
