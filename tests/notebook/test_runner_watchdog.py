"""The runner never waits forever (issue 25) and reports the real error first (issue 24).

* a kernel made to lose one cell's reply (its ``execute_reply`` and its ``idle`` status never reach the wire) is
  noticed by the silence watchdog, interrupted, the cell executed once more, and the event lands in run.json;
* a kernel that loses the reply every time fails its notebook, naming the notebook and the cell, in bounded time;
  the notebooks before it keep their outputs, the ones after are skipped;
* a kernel that computes without a word is left alone; a cell over the per-cell timeout fails, named;
* the mechanism behind the hang: a send on the shell socket can strand a reply that a wait without a timeout never
  sees, while the runner's sliced wait finds it;
* a failure's one-line description (notebook, cell, exception type, full message) comes before any cut.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mintlab.notebook import runner

#: The watchdog's limit in these tests (the default is 120 s).
SILENCE_S = 3.0

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

WRITE_SUMMARY = (
    "import json, pathlib\n"
    "p = pathlib.Path(output_dir); p.mkdir(parents=True, exist_ok=True)\n"
    "(p / 'summary.json').write_text(json.dumps({'done': True}))\n"
)

#: A cell that makes the kernel lose its own reply: ipykernel sends the ``execute_reply`` and then the ``idle``
#: status through ``kernel.session.send`` (kernelbase.py ``execute_request``, ``_publish_status``); this wrapper
#: swallows exactly those two messages of the running request (returning the message as if it had been sent) and
#: then removes itself. The client is left waiting while the kernel idles: the state of issue 25.
LOSE_REPLY = """\
# lose this cell's reply
import IPython
_kernel = IPython.get_ipython().kernel
_session, _target = _kernel.session, _kernel.get_parent()["header"]["msg_id"]
_dropped = set()


def _lossy_send(stream, msg_or_type, content=None, parent=None, *args, **kwargs):
    kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type["header"]["msg_type"]
    header = (parent or {}).get("header", parent or {})
    idle = kind == "status" and (content or {}).get("execution_state") == "idle"
    if header.get("msg_id") == _target and (kind == "execute_reply" or idle):
        _dropped.add(kind)
        if _dropped == {"execute_reply", "status"}:
            del _session.send  # both lost: from now on the kernel sends normally
        return _session.msg(kind, content=content, parent=parent)  # as if sent, but it never reaches the wire
    return type(_session).send(_session, stream, msg_or_type, content, parent, *args, **kwargs)


print("lossy cell ran")
"""
LOSE_ONCE = LOSE_REPLY + "if '_reply_lost' not in globals():\n    _reply_lost = True\n    _session.send = _lossy_send\n"
LOSE_ALWAYS = LOSE_REPLY + "_session.send = _lossy_send\n"

#: Six seconds of pure computation without any output (``time.sleep`` would be idle CPU).
BUSY = "import time\n_end = time.monotonic() + 6\nwhile time.monotonic() < _end:\n    pass\nprint('busy done')\n"


def _notebook(path: Path, *sources: str) -> Path:
    params = new_code_cell("output_dir = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, *(new_code_cell(s) for s in sources)], metadata={"kernelspec": KERNELSPEC})
    nbformat.write(nb, path)
    return path


def _executed(path: Path) -> list:
    """The cells of an executed notebook as papermill ran them (without the error markers it adds on failure)."""
    cells = nbformat.read(path, as_version=4).cells
    return [c for c in cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]


def _index_of(path: Path, first_line: str) -> int:
    return next(i for i, c in enumerate(_executed(path)) if c.source.startswith(first_line))


def _acted(events: list[dict]) -> list[dict]:
    """The watchdog's actions, without its ``late_reply`` diagnostics (a reply found late by the sliced wait)."""
    return [e for e in events if e["kind"] != "late_reply"]


def _texts(path: Path) -> list[str]:
    return [o.get("text", "") for c in _executed(path) for o in c.get("outputs", [])]


@pytest.fixture()
def nbs(tmp_path: Path) -> Path:
    folder = tmp_path / "nbs"
    folder.mkdir()
    return folder


@pytest.mark.timeout(120)
def test_lost_reply_is_interrupted_and_the_cell_retried(nbs: Path, tmp_path: Path) -> None:
    _notebook(nbs / "01_lossy.ipynb", "print('before')", LOSE_ONCE, WRITE_SUMMARY)
    out = tmp_path / "run"
    rec = runner.run_notebooks(out, notebooks=runner.find_notebooks(nbs), silence_s=SILENCE_S, progress=False)
    entry = rec["notebooks"]["01_lossy"]
    assert entry["status"] == "ok", entry.get("error")
    assert entry["summary"] == {"done": True}, "the cells after the retried one ran"
    [event] = _acted(entry["watchdog"])
    cell = _index_of(out / "01_lossy.ipynb", "# lose this cell's reply")
    assert event["cell"] == cell and event["source"] == "# lose this cell's reply"
    assert event["kind"] == "silent_kernel" and event["action"] == "interrupted_and_retried"
    assert event["quiet_seconds"] >= SILENCE_S and event["seconds"] >= SILENCE_S
    assert _texts(out / "01_lossy.ipynb").count("lossy cell ran\n") == 1, "the retry's output replaces the first's"
    on_disk = json.loads((out / "run.json").read_text())
    assert _acted(on_disk["notebooks"]["01_lossy"]["watchdog"]) == [event]
    assert on_disk["silence_s"] == SILENCE_S and on_disk["status"] == "ok"


@pytest.mark.timeout(120)
def test_reply_lost_every_time_fails_naming_notebook_and_cell(nbs: Path, tmp_path: Path) -> None:
    _notebook(nbs / "01_ok.ipynb", "print('first notebook')", WRITE_SUMMARY)
    _notebook(nbs / "02_hang.ipynb", "print('before the hang')", LOSE_ALWAYS, WRITE_SUMMARY)
    _notebook(nbs / "03_after.ipynb", WRITE_SUMMARY)
    out = tmp_path / "run"
    start = time.monotonic()
    rec = runner.run_notebooks(out, notebooks=runner.find_notebooks(nbs), silence_s=SILENCE_S, progress=False)
    elapsed = time.monotonic() - start
    entries = rec["notebooks"]
    assert {k: v["status"] for k, v in entries.items()} == {"01_ok": "ok", "02_hang": "failed", "03_after": "skipped"}
    assert rec["status"] == "failed"
    assert elapsed < 90, f"a hang must end in bounded time, took {elapsed:.0f} s"

    # what finished stays: the notebook before the hung one, and the hung one's cells before the hang
    assert entries["01_ok"]["summary"] == {"done": True} and _acted(entries["01_ok"]["watchdog"]) == []
    assert "first notebook\n" in _texts(out / "01_ok.ipynb")
    assert "before the hang\n" in _texts(out / "02_hang.ipynb")
    assert not (out / "02_hang" / "summary.json").exists() and not (out / "03_after.ipynb").exists()

    hang = entries["02_hang"]
    cell = _index_of(out / "02_hang.ipynb", "# lose this cell's reply")
    assert [(e["cell"], e["kind"], e["action"]) for e in _acted(hang["watchdog"])] == [
        (cell, "silent_kernel", "interrupted_and_retried"),
        (cell, "silent_kernel", "failed"),
    ]
    exc = hang["exception"]
    assert exc["type"] == "KernelSilentError" and exc["cell"] == cell and exc["notebook"] == "02_hang.ipynb"
    first = hang["error"].splitlines()[0]
    assert first == exc["headline"] and first.startswith(f"notebook 02_hang.ipynb, cell {cell}")
    assert "KernelSilentError: " in first and "# lose this cell's reply" in first and "retried the cell once" in first
    on_disk = json.loads((out / "run.json").read_text())
    assert on_disk["notebooks"]["02_hang"]["watchdog"] == hang["watchdog"]
    assert on_disk["notebooks"]["02_hang"]["status"] == "failed" and on_disk["notebooks"]["01_ok"]["status"] == "ok"


@pytest.mark.timeout(120)
def test_a_busy_silent_kernel_is_not_interrupted(nbs: Path, tmp_path: Path) -> None:
    _notebook(nbs / "01_busy.ipynb", BUSY, WRITE_SUMMARY)
    rec = runner.run_notebooks(tmp_path / "run", notebooks=runner.find_notebooks(nbs), silence_s=2.0, progress=False)
    entry = rec["notebooks"]["01_busy"]
    assert entry["status"] == "ok", entry.get("error")
    assert _acted(entry["watchdog"]) == [] and entry["summary"] == {"done": True}
    assert "busy done\n" in _texts(tmp_path / "run" / "01_busy.ipynb")


@pytest.mark.timeout(120)
def test_cell_over_the_timeout_fails_naming_the_cell(nbs: Path, tmp_path: Path) -> None:
    _notebook(nbs / "01_slow.ipynb", "import time\ntime.sleep(120)")
    rec = runner.run_notebooks(
        tmp_path / "run", notebooks=runner.find_notebooks(nbs), timeout_s=3, silence_s=0, progress=False
    )
    entry = rec["notebooks"]["01_slow"]
    assert entry["status"] == "failed" and rec["cell_timeout_s"] == 3 and rec["silence_s"] is None
    [event] = _acted(entry["watchdog"])
    assert event["kind"] == "timeout" and event["action"] == "failed" and event["source"] == "import time"
    first = entry["error"].splitlines()[0]
    assert first.startswith(f"notebook 01_slow.ipynb, cell {event['cell']}")
    assert "CellTimeoutError: " in first and "per-cell timeout of 3 s" in first


def test_batch_runs_have_finite_defaults() -> None:
    params = inspect.signature(runner.run_notebooks).parameters
    assert params["timeout_s"].default == runner.DEFAULT_CELL_TIMEOUT_S == 1800
    assert params["silence_s"].default == runner.DEFAULT_SILENCE_S == 120
    from mintlab.notebook._watchdog import Watchdog

    assert Watchdog().silence_s == runner.DEFAULT_SILENCE_S


# --- the mechanism (docs/runner.md) ---------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_send_on_the_shell_socket_can_strand_a_reply_that_a_sliced_wait_finds() -> None:
    """nbclient waits for ``execute_reply`` with ``shell_channel.get_msg(timeout=None)`` while its Output-widget mimic
    sends ``comm_msg`` on the same socket; ``Session.send`` sends through a plain shadow of the asyncio socket, and
    that raw send consumes the socket's edge-triggered wake-up of a reply that just arrived. The wait without a
    timeout never returns; a new poll (one slice of the runner's wait) finds the reply at once."""
    import zmq
    import zmq.asyncio
    from jupyter_client.channels import AsyncZMQSocketChannel
    from jupyter_client.session import Session

    async def scenario() -> tuple[bool, dict]:
        session = Session(key=b"mintlab-test")
        kernel_ctx, client_ctx = zmq.Context(), zmq.asyncio.Context()
        router = kernel_ctx.socket(zmq.ROUTER)  # the kernel's shell socket
        port = router.bind_to_random_port("tcp://127.0.0.1")
        dealer = client_ctx.socket(zmq.DEALER)  # the client's
        dealer.connect(f"tcp://127.0.0.1:{port}")
        shell = AsyncZMQSocketChannel(dealer, session)
        try:
            request = session.msg("execute_request", content={"code": ""})
            shell.send(request)
            assert router.poll(5000), "the request did not arrive"
            idents, _ = session.feed_identities(router.recv_multipart())
            wait = asyncio.ensure_future(shell.get_msg(timeout=None))  # nbclient's wait without a timeout
            await asyncio.sleep(0.3)  # the wait is registered, the socket watched by the event loop
            # no await from here on: the reply arrives and the mimic sends while the loop does not run
            session.send(router, "execute_reply", {"status": "ok"}, parent=request, ident=idents)
            time.sleep(1.0)  # the reply is queued in the client's socket, its wake-up pending
            shell.send(session.msg("comm_msg", content={"comm_id": "c", "data": {"method": "update"}}))
            done, _ = await asyncio.wait({wait}, timeout=2.0)
            if done:
                return False, wait.result()
            wait.cancel()
            try:
                await wait
            except asyncio.CancelledError:
                pass
            return True, await shell.get_msg(timeout=1.0)  # one slice of the runner's wait
        finally:
            dealer.close(linger=0)
            router.close(linger=0)
            kernel_ctx.term()
            client_ctx.term()

    stranded, reply = asyncio.run(scenario())
    assert reply["msg_type"] == "execute_reply"
    if not stranded:
        pytest.skip("this pyzmq/jupyter_client no longer strands the reply; the sliced wait is then only a safeguard")


# --- issue 24: the real error first -----------------------------------------------------------------------------


def test_error_report_names_notebook_cell_type_and_message_before_the_cut() -> None:
    from papermill.exceptions import PapermillExecutionError

    network = [f'  File "/lib/urllib/request.py", line {i}, in urlopen\n    sock.connect(sa)' for i in range(300)]
    message = "groups must divide the layer width, got [7, 3] " + "x" * 5000  # longer than any cut
    err = PapermillExecutionError(
        cell_index=7,
        exec_count=5,
        source="\nscores = score_layers(model, groups)\nmore()",
        ename="ValueError",
        evalue=message,
        traceback=[
            "\x1b[31mConnectionRefusedError\x1b[0m: [Errno 111]",
            *network,
            f"\x1b[31mValueError\x1b[0m: {message}",
        ],
    )
    d = runner.describe_error(err, "02_layer_pair_pruning.ipynb")
    first, _, rest = d["error"].partition("\n")
    assert first == f"notebook 02_layer_pair_pruning.ipynb, cell 7 (exec 5): ValueError: {message}"
    assert d["headline"] == first and d["message"] == message and d["type"] == "ValueError"
    assert (d["cell"], d["exec_count"], d["source"]) == (7, 5, "scores = score_layers(model, groups)")
    assert rest.startswith("[... first ") and "characters of the traceback cut" in rest.splitlines()[0]
    assert len(rest) <= runner.ERROR_TRACEBACK_CHARS + 100
    assert rest.endswith(message[-1000:]), "the traceback's end (the real error) is what is kept"
    assert "ConnectionRefusedError" not in rest, "the start of the traceback is what is cut"
    assert "\x1b" not in d["error"]


def test_error_report_of_a_runner_side_failure_names_the_running_cell() -> None:
    from nbclient.exceptions import DeadKernelError

    try:
        raise DeadKernelError("Kernel died")
    except DeadKernelError as caught:
        err = caught
    d = runner.describe_error(err, "03_retraining.ipynb", cell=4)
    assert d["headline"] == "notebook 03_retraining.ipynb, cell 4: DeadKernelError: Kernel died"
    assert d["error"].startswith(d["headline"] + "\n") and "Traceback" in d["error"]


def test_console_shows_the_headline_before_the_traceback(capsys) -> None:
    rec = {
        "output_dir": "/runs/x",
        "status": "failed",
        "notebooks": {
            "01_a": {
                "status": "ok",
                "seconds": 3.0,
                "watchdog": [
                    {
                        "cell": 2,
                        "source": "display(panel.widget())",
                        "kind": "silent_kernel",
                        "seconds": 121.0,
                        "quiet_seconds": 120.0,
                        "action": "interrupted_and_retried",
                        "reason": "idle",
                    }
                ],
            },
            "02_b": {
                "status": "failed",
                "seconds": 9.0,
                "watchdog": [],
                "exception": {
                    "type": "ValueError",
                    "headline": "notebook 02_b.ipynb, cell 7 (exec 5): ValueError: real",
                },
                "error": "notebook 02_b.ipynb, cell 7 (exec 5): ValueError: real\nTraceback line",
            },
        },
    }
    runner._print_record(rec)
    shown = capsys.readouterr().out
    assert "watchdog: 01_a, cell 2 (`display(panel.widget())`): silent_kernel after 121 s" in shown
    assert shown.index("ValueError: real") < shown.index("Traceback line")
