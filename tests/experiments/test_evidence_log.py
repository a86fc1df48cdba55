"""The evidence job's log: every piece ends with a status, even one whose process was killed outright."""

import json
import os

import pytest

from mintlab.experiments import evidence


def _fake_stages(calls):
    def table(results):
        return {"ok": lambda: calls.append("ok"), "boom": lambda: (_ for _ in ()).throw(KeyboardInterrupt())}

    return table


def test_pieces_log_done_stopped_and_stale(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(evidence, "_stages", _fake_stages(calls))
    # a piece left "running" by a killed job (no pid logged, as before pids were) and one by a dead pid
    dead = os.getpid() + 10**6
    stale = [{"stage": "ok", "status": "running"}, {"stage": "ok", "status": "running", "pid": dead}]
    (tmp_path / "evidence_log.json").write_text(json.dumps({"pieces": stale}))
    evidence.run_evidence(["ok"], results=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        evidence.run_evidence(["boom"], results=tmp_path)
    pieces = json.loads((tmp_path / "evidence_log.json").read_text())["pieces"]
    assert [p["status"].split(" (")[0] for p in pieces] == [
        "stopped: ended without logging",
        "stopped: ended without logging",
        "done",
        "stopped: KeyboardInterrupt",
    ]
    assert calls == ["ok"]
    assert pieces[2]["pid"] == os.getpid() and pieces[2]["seconds"] >= 0


def test_running_piece_of_a_live_process_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(evidence, "_stages", _fake_stages([]))
    (tmp_path / "evidence_log.json").write_text(
        json.dumps({"pieces": [{"stage": "ok", "status": "running", "pid": os.getpid()}]})
    )
    evidence.run_evidence(["ok"], results=tmp_path)
    pieces = json.loads((tmp_path / "evidence_log.json").read_text())["pieces"]
    assert [p["status"] for p in pieces] == ["running", "done"]
