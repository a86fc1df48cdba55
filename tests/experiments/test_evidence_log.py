"""The evidence job's log: every piece ends with a status, even one whose process was killed outright."""

import json
import os
import subprocess
import sys
import time

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


def test_a_live_job_is_not_joined_and_a_reused_pid_is_not_alive(tmp_path, monkeypatch):
    """While another evidence job runs on the folder, a second one refuses to start and leaves the log as it
    was; a pid that runs something else, or this process's own, does not keep a dead piece alive."""
    calls = []
    monkeypatch.setattr(evidence, "_stages", _fake_stages(calls))
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "mintlab.experiments.evidence"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = [{"stage": "ok", "status": "running", "pid": pid} for pid in (other.pid, os.getpid(), job.pid)]
        log = json.dumps({"pieces": running})
        (tmp_path / "evidence_log.json").write_text(log)
        with pytest.raises(RuntimeError, match=rf"but pid {job.pid} is running stage 'ok'.*kill -TERM {job.pid}"):
            evidence.run_evidence(["ok"], results=tmp_path)
        assert (tmp_path / "evidence_log.json").read_text() == log and calls == []
        (tmp_path / "evidence_log.json").write_text(json.dumps({"pieces": running[:2]}))
        evidence.run_evidence(["ok"], results=tmp_path)
    finally:
        job.kill()
        other.kill()
    pieces = json.loads((tmp_path / "evidence_log.json").read_text())["pieces"]
    assert [p["status"].split(" (")[0] for p in pieces] == ["stopped: ended without logging"] * 2 + ["done"]
    assert calls == ["ok"]


@pytest.mark.parametrize("module", ["mintlab.experiments.evidence", "mintlab.experiments.evidence_report"])
def test_alive_means_another_process_that_runs_the_job(module):
    """A process whose argv names the evidence module is a job, one naming another module that starts with the
    same name is not; and a job asked about its own pid says no (pids are reused, the piece is not its own)."""
    own = "from mintlab.experiments import evidence; import os, sys; sys.exit(int(evidence._alive(os.getpid())))"
    assert subprocess.run([sys.executable, "-c", own, module], check=False).returncode == 0
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", module])
    try:
        deadline = time.monotonic() + 10  # on a busy machine the child may not have exec'd yet: poll
        while not evidence._alive(other.pid) and time.monotonic() < deadline and other.poll() is None:
            time.sleep(0.05)
        assert evidence._alive(other.pid) is (module == "mintlab.experiments.evidence")
    finally:
        other.kill()


def test_a_killed_piece_is_timed_to_its_last_heartbeat(tmp_path, monkeypatch):
    """While a stage runs, its piece records a heartbeat; a piece whose job died without logging its end is
    timed to its last heartbeat when the next job starts (one without a heartbeat stays untimed)."""
    monkeypatch.setattr(evidence, "HEARTBEAT_SECONDS", 0.05)
    seen = []

    def slow():
        t0 = time.perf_counter()
        time.sleep(0.4)
        seen.append(json.loads((tmp_path / "evidence_log.json").read_text())["pieces"][-1])
        seen.append(time.perf_counter() - t0)

    monkeypatch.setattr(evidence, "_stages", lambda results: {"slow": slow, "ok": lambda: None})
    evidence.run_evidence(["slow"], results=tmp_path)
    beat, elapsed = seen
    assert beat["status"] == "running" and 0.0 < beat["seconds_so_far"] <= elapsed + 0.1 and "last_seen" in beat
    killed = {**beat, "pid": None}  # as the job left it when killed: running, with a heartbeat
    (tmp_path / "evidence_log.json").write_text(
        json.dumps({"pieces": [killed, {"stage": "slow", "status": "running"}]})
    )
    evidence.run_evidence(["ok"], results=tmp_path)
    timed, untimed, _ = json.loads((tmp_path / "evidence_log.json").read_text())["pieces"]
    assert timed["seconds"] == beat["seconds_so_far"] and timed["end"] == beat["last_seen"]
    assert timed["timed_to"] == "last heartbeat" and timed["status"].startswith("stopped: ended without logging")
    assert "seconds" not in untimed
