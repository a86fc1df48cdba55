"""The runner's papermill engine: a per-cell timeout, a watchdog for a kernel that went silent, and a shell wait
that cannot miss a reply.

``python -m mintlab.notebook.runner`` executes notebooks with papermill's engine ``"mintlab"``
(:class:`MintlabEngine`). It is papermill's own nbclient engine (parameters, the notebook written after every cell,
progress bar) with a client, :class:`WatchdogClient`, that changes these things:

* **The wait for a cell's ``execute_reply`` polls the shell socket in short slices** (at most 1 s) instead of one
  ``poll`` without a timeout. nbclient's Output-widget mimic sends ``comm_msg`` on that same socket while the wait
  runs, and ``jupyter_client.session.Session.send`` sends through a plain shadow of the asyncio socket: that raw
  send can consume the socket's edge-triggered wake-up, so a reply that arrived just before it is never noticed by
  a wait without a timeout (it waits forever, with the kernel idle). A new poll re-reads ``ZMQ_EVENTS`` and finds the
  reply; see ``docs/runner.md``.
* **A silence watchdog** (``silence_s``, default 120 s): while the client waits for a reply, if no message of that
  cell has come from the kernel for ``silence_s`` and the kernel is not computing (it already reported ``idle``, or
  its process tree used under 5 % of a core over the last ``min(silence_s, 10)`` s), the kernel is interrupted and
  the cell executed once more; the second time, the notebook fails with :class:`CellHangError` naming the notebook,
  the cell and its first line. A kernel that computes (uses CPU) is never interrupted by this watchdog; only the
  per-cell timeout stops it.
* **The per-cell timeout** fails the notebook with :class:`CellHangError` (kind ``"timeout"``) naming the cell.
* **No other unbounded wait:** once a reply is in, the rest of the cell's output is awaited ``IOPUB_TIMEOUT_S``
  (30 s, nbclient's 4 s is short on a loaded machine), and papermill's closing ``kernel_info`` wait is bounded.

Every event is appended to :attr:`Watchdog.events` (the runner copies them into ``run.json``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from nbclient.client import timestamp
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbclient.util import ensure_async, run_sync
from nbformat.v4 import new_output
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

from mintlab.notebook.runner import DEFAULT_SILENCE_S

__all__ = [
    "ENGINE_NAME",
    "CellHangError",
    "MintlabEngine",
    "Watchdog",
    "WatchdogClient",
    "process_tree_cpu_seconds",
]

#: papermill engine name the runner executes notebooks with.
ENGINE_NAME = "mintlab"
#: Below this CPU use (in cores, over the sampling window) the kernel counts as idle.
IDLE_CPU_CORES = 0.05
#: Seconds to wait, once a cell's reply is in, for the rest of its output up to the idle status (nbclient: 4 s,
#: short on a loaded machine; papermill then fails the notebook).
IOPUB_TIMEOUT_S = 30
#: A reply read this long after the kernel's idle status of the same cell had a lost wake-up (recorded as
#: ``late_reply``; the kernel sends the reply before the idle status).
LATE_REPLY_S = 0.5


def _first_line(source: str) -> str:
    lines = [line.strip() for line in str(source).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= 80 else line[:77] + "..."


@dataclass
class Watchdog:
    """Settings and record of the watchdog for one notebook (passed to papermill as the engine keyword ``watchdog``).

    Args:
        silence_s: seconds without a message of the running cell while the kernel is idle before the watchdog
            acts; ``None`` or 0 turns the silence watchdog off (the per-cell timeout still applies).
        retry: interrupt the kernel and execute the cell once more on the first silence (else fail at once).
        notebook: the notebook's name, for messages.

    The client fills ``events`` (one dict per event: ``cell``, ``source``, ``kind`` = ``"silent_kernel"`` or
    ``"timeout"``, ``seconds`` waited for the reply, ``quiet_seconds``, ``action`` = ``"interrupted_and_retried"`` or
    ``"failed"``, ``reason``), ``cell_index``/``cell_source`` (the cell executing last) and ``failed``.
    """

    silence_s: float | None = DEFAULT_SILENCE_S
    retry: bool = True
    notebook: str = "the notebook"
    events: list[dict[str, Any]] = field(default_factory=list)
    cell_index: int | None = None
    cell_source: str = ""
    failed: bool = False

    @property
    def active(self) -> bool:
        """Is the silence watchdog on?"""
        return bool(self.silence_s) and float(self.silence_s) > 0

    @property
    def poll_s(self) -> float:
        """Longest single wait on the shell socket (the reply is re-checked at least this often)."""
        return 1.0 if not self.active else max(0.05, min(1.0, float(self.silence_s) / 4))

    @property
    def cpu_window_s(self) -> float:
        """Span of the CPU measurement that decides whether the kernel is idle."""
        return min(10.0, float(self.silence_s or 10.0))

    @property
    def settle_s(self) -> float:
        """How long, after the interrupt, the reply of the interrupted request is awaited before the retry."""
        return min(10.0, float(self.silence_s or 10.0))


class CellHangError(CellExecutionError):
    """A cell that timed out or whose kernel went silent (after the retry, if any).

    A :class:`nbclient.exceptions.CellExecutionError`, so papermill marks the cell as failed, saves the notebook and
    raises :class:`papermill.exceptions.PapermillExecutionError` with ``ename`` = :attr:`ename`
    (``"KernelSilentError"`` or ``"CellTimeoutError"``) and ``evalue`` = the message.
    """

    def __init__(self, message: str, ename: str, cell_index: int, kind: str) -> None:
        super().__init__(message, ename, message)
        self.cell_index = cell_index
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.evalue, self.ename, self.cell_index, self.kind)

    def __str__(self) -> str:
        return f"{self.ename}: {self.evalue}"


class _SilentKernel(Exception):  # noqa: N818 - internal control flow, never leaves the client
    """The silence watchdog fired (deliberately not a CellControlSignal: nbclient then cancels the IOPub reader)."""

    def __init__(self, msg_id: str, waited_s: float, quiet_s: float, reason: str) -> None:
        super().__init__(reason)
        self.msg_id, self.waited_s, self.quiet_s, self.reason = msg_id, waited_s, quiet_s, reason


class _CellTimedOut(Exception):  # noqa: N818 - internal control flow, never leaves the client
    def __init__(self, timeout: float, waited_s: float) -> None:
        super().__init__(f"timed out after {timeout} s")
        self.timeout, self.waited_s = timeout, waited_s


def process_tree_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid``, its reaped children and its live descendants.

    ``None`` when it cannot be measured (no such process, no psutil and no ``/proc``).
    """
    if not pid:
        return None
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            proc = psutil.Process(pid)
            total = float(sum(proc.cpu_times()[:4]))  # user, system, children_user, children_system
            for child in proc.children(recursive=True):
                try:
                    total += float(sum(child.cpu_times()[:2]))
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass  # exited meanwhile: its time moves to its parent's children_* once reaped
            return total
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
    try:  # Linux without psutil: the kernel process alone (utime, stime, cutime, cstime)
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class _CpuProbe:
    """CPU samples of the kernel's process tree: is it computing?"""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.samples: deque[tuple[float, float]] = deque(maxlen=256)

    def sample(self, now: float) -> None:
        cpu = process_tree_cpu_seconds(self.pid)
        if cpu is None:
            self.samples.clear()
        else:
            self.samples.append((now, cpu))

    def rate(self, window_s: float) -> float | None:
        """Cores used over the last ``window_s`` seconds; ``None`` when not measured over at least half of it."""
        if len(self.samples) < 2:
            return None
        t1, c1 = self.samples[-1]
        t0, c0 = next((t, c) for t, c in self.samples if t >= t1 - window_s)
        if t1 - t0 < 0.5 * window_s or c1 < c0:  # too short, or a child's time vanished: do not judge
            return None
        return (c1 - c0) / (t1 - t0)


class WatchdogClient(PapermillNotebookClient):
    """papermill's notebook client with the sliced shell wait, the silence watchdog and bounded waits.

    ``watchdog`` (a :class:`Watchdog`) holds the settings and receives the events.
    """

    #: Seconds to wait for the ``kernel_info`` reply after the last cell (papermill waits without limit there).
    kernel_info_timeout_s = 30.0

    def __init__(self, nb_man: Any, watchdog: Watchdog | None = None, **kw: Any) -> None:
        super().__init__(nb_man, **kw)
        self.watchdog = watchdog if watchdog is not None else Watchdog()
        self._wd_last_activity = monotonic()
        self._wd_idle_seen = False
        self._wd_idle_at = 0.0

    # --- papermill's execute(), with a bounded kernel_info wait ------------------------------------------------------

    def execute(self, **kwargs: Any) -> Any:
        """papermill's ``execute``: run the cells (writing the notebook after each), then ask for ``language_info``.

        Unlike papermill, the closing ``kernel_info`` wait is bounded (:attr:`kernel_info_timeout_s`) and skipped
        after a hang, so a silent kernel cannot stall the end of a run (papermill issues 711, 726).
        """
        self.reset_execution_trackers()
        if sys.platform.startswith("win"):  # as papermill: https://bugs.python.org/issue37373
            asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())
        with self.setup_kernel(**kwargs):
            self.log.info(f"Executing notebook with kernel: {self.kernel_name}")
            self.papermill_execute_cells()
            if not self.watchdog.failed:
                info_msg = self._kernel_info(self.kernel_info_timeout_s)
                if info_msg is not None and "language_info" in info_msg["content"]:
                    self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            self.set_widgets_metadata()
        return self.nb

    async def _async_shell_reply(self, msg_id: str, timeout_s: float) -> dict[str, Any] | None:
        """The shell reply to ``msg_id`` within ``timeout_s`` seconds, else None; the socket is looked at at
        least once a second (never one long wait: see the module docstring) and the kernel checked alive."""
        deadline = monotonic() + timeout_s
        while (left := deadline - monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(1.0, left)))
            except Empty:
                await self._async_check_alive()
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    async def _async_kernel_info(self, timeout_s: float) -> dict[str, Any] | None:
        msg = await self._async_shell_reply(await ensure_async(self.kc.kernel_info()), timeout_s)
        if msg is None:
            self.log.warning(f"No kernel_info reply within {timeout_s:g} s; language_info not updated")
        return msg

    _kernel_info = run_sync(_async_kernel_info)

    # --- one cell: the retry loop ------------------------------------------------------------------------------------

    async def async_execute_cell(
        self, cell: Any, cell_index: int, execution_count: int | None = None, store_history: bool = True
    ) -> Any:
        """nbclient's ``async_execute_cell``, executed once more if the silence watchdog fired the first time."""
        wd = self.watchdog
        wd.cell_index, wd.cell_source = cell_index, str(cell.get("source", ""))
        retried = False
        while True:
            self._wd_last_activity, self._wd_idle_seen = monotonic(), False
            try:
                return await super().async_execute_cell(
                    cell, cell_index, execution_count=execution_count, store_history=store_history
                )
            except _SilentKernel as silent:
                retry = wd.retry and not retried
                self._record(
                    cell,
                    cell_index,
                    "silent_kernel",
                    silent.waited_s,
                    silent.quiet_s,
                    "interrupted_and_retried" if retry else "failed",
                    silent.reason,
                )
                if retry:
                    retried = True
                    await self._async_interrupt_and_settle(silent.msg_id)
                    continue
                how = (
                    "the watchdog interrupted the kernel and retried the cell once, and the retry went silent too"
                    if retried
                    else "not retried"
                )
                raise self._fail(
                    cell,
                    cell_index,
                    "silent_kernel",
                    "KernelSilentError",
                    f"no reply from the kernel: {silent.reason}; {how} (watchdog limit "
                    f"{float(wd.silence_s or 0):g} s of silence; --silence 0 turns it off)",
                ) from None
            except _CellTimedOut as late:
                self._record(
                    cell,
                    cell_index,
                    "timeout",
                    late.waited_s,
                    monotonic() - self._wd_last_activity,
                    "failed",
                    f"per-cell timeout of {late.timeout:g} s",
                )
                raise self._fail(
                    cell,
                    cell_index,
                    "timeout",
                    "CellTimeoutError",
                    f"the cell ran longer than the per-cell timeout of {late.timeout:g} s "
                    f"(--timeout N sets it, --timeout 0 removes it)",
                ) from None
            except CellTimeoutError:  # the reply came, but the IOPub output never reached its idle status
                self._record(
                    cell,
                    cell_index,
                    "timeout",
                    float(self.iopub_timeout),
                    monotonic() - self._wd_last_activity,
                    "failed",
                    f"no idle status on IOPub within {self.iopub_timeout} s of the reply",
                )
                raise self._fail(
                    cell,
                    cell_index,
                    "timeout",
                    "CellTimeoutError",
                    f"the kernel replied, but its output (IOPub) did not end with an idle status within "
                    f"{self.iopub_timeout} s",
                ) from None

    execute_cell = run_sync(async_execute_cell)  # nbclient's execute_cell wraps the base class's coroutine

    def _record(
        self, cell: Any, cell_index: int, kind: str, waited_s: float, quiet_s: float, action: str, reason: str
    ) -> None:
        event = {
            "cell": cell_index,
            "source": _first_line(cell.get("source", "")),
            "kind": kind,
            "seconds": round(waited_s, 1),
            "quiet_seconds": round(quiet_s, 1),
            "action": action,
            "reason": reason,
        }
        self.watchdog.events.append(event)
        self.log.warning(
            f"watchdog: {self.watchdog.notebook}, cell {cell_index} (`{event['source']}`): {kind} "
            f"after {waited_s:.0f} s ({reason}) -> {action}"
        )

    def _fail(self, cell: Any, cell_index: int, kind: str, ename: str, reason: str) -> CellHangError:
        """The error to raise; also written into the cell as an error output, so the executed notebook shows it."""
        self.watchdog.failed = True
        message = f"cell {cell_index} (`{_first_line(cell.get('source', ''))}`) of {self.watchdog.notebook}: {reason}"
        cell.setdefault("outputs", []).append(
            new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])
        )
        return CellHangError(message, ename, cell_index, kind)

    async def _async_interrupt_and_settle(self, msg_id: str) -> None:
        """Interrupt the kernel, then give the interrupted request up to ``settle_s`` to answer.

        Waiting for that answer matters: a request that fails (KeyboardInterrupt) makes ipykernel abort the requests
        already queued behind it, which would turn the retry into a silent no-op.
        """
        try:
            await ensure_async(self.km.interrupt_kernel())
        except Exception as err:  # noqa: BLE001 - the retry is still worth trying
            self.log.warning(f"watchdog: could not interrupt the kernel: {err}")
        if await self._async_shell_reply(msg_id, self.watchdog.settle_s) is not None:
            await asyncio.sleep(0.2)  # let the kernel publish its idle status and clear its abort window

    # --- the wait for the reply --------------------------------------------------------------------------------------

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        """papermill's ``process_message``, noting when the running cell last heard from the kernel."""
        self._wd_last_activity = monotonic()
        if msg.get("msg_type") == "status" and msg.get("content", {}).get("execution_state") == "idle":
            self._wd_idle_seen, self._wd_idle_at = True, self._wd_last_activity
        return super().process_message(msg, cell, cell_index)

    def _kernel_pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None) or getattr(getattr(provisioner, "process", None), "pid", None)
        return int(pid) if pid else None

    async def _async_poll_for_reply(
        self,
        msg_id: str,
        cell: Any,
        timeout: int | None,
        task_poll_output_msg: asyncio.Future[Any],
        task_poll_kernel_alive: asyncio.Future[Any],
    ) -> dict[str, Any]:
        """nbclient's wait for the ``execute_reply``, in slices of at most :attr:`Watchdog.poll_s`.

        Each slice ends with a fresh ``zmq_poll``, so a reply whose wake-up was consumed by a send on the same socket
        is still found; between slices the per-cell timeout and the silence watchdog are checked.
        """
        wd = self.watchdog
        started = monotonic()
        deadline = None if timeout is None else started + timeout
        probe = _CpuProbe(self._kernel_pid()) if wd.active else None
        while True:
            wait = wd.poll_s if deadline is None else max(0.0, min(wd.poll_s, deadline - monotonic()))
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=wait))
            except Empty:
                now = monotonic()
                if deadline is not None and now >= deadline:
                    task_poll_kernel_alive.cancel()
                    await self._async_check_alive()
                    raise _CellTimedOut(timeout, now - started) from None
                if probe is not None:
                    reason = self._silence(probe, now)
                    if reason is not None:
                        task_poll_kernel_alive.cancel()
                        raise _SilentKernel(msg_id, now - started, now - self._wd_last_activity, reason) from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            late = monotonic() - self._wd_idle_at if self._wd_idle_seen else 0.0
            if late > LATE_REPLY_S:  # the stranded reply of docs/runner.md, found by a later slice
                self._record(
                    cell,
                    wd.cell_index if wd.cell_index is not None else -1,
                    "late_reply",
                    monotonic() - started,
                    late,
                    "recovered",
                    f"reply read {late:.1f} s after the kernel's idle status: its wake-up was lost",
                )
            if self.record_timing:
                cell["metadata"]["execution"]["shell.execute_reply"] = timestamp(msg)
            try:  # as nbclient: the reply is in, now the rest of the IOPub output up to the idle status
                await asyncio.wait_for(task_poll_output_msg, self.iopub_timeout)
            except (asyncio.TimeoutError, Empty):
                if self.raise_on_iopub_timeout:
                    task_poll_kernel_alive.cancel()
                    raise CellTimeoutError.error_from_timeout_and_cell(
                        "Timeout waiting for IOPub output", self.iopub_timeout, cell
                    ) from None
                self.log.warning("Timeout waiting for IOPub output")
            task_poll_kernel_alive.cancel()
            return msg

    def _silence(self, probe: _CpuProbe, now: float) -> str | None:
        """Why the kernel counts as silent and idle now, or ``None`` while it does not."""
        wd = self.watchdog
        silence_s = float(wd.silence_s or 0)
        quiet = now - self._wd_last_activity
        if quiet >= silence_s - wd.cpu_window_s - wd.poll_s:
            probe.sample(now)  # sample only when a decision is near
        if quiet < silence_s:
            return None
        if self._wd_idle_seen:
            return f"the kernel reported idle {quiet:.0f} s ago, but its execute_reply never came"
        rate = probe.rate(wd.cpu_window_s)
        if rate is None or rate >= IDLE_CPU_CORES:
            return None  # computing, or not measurable: only the per-cell timeout applies
        return (
            f"no message from the kernel for {quiet:.0f} s while it was idle ({100 * rate:.1f} % of a core over "
            f"the last {wd.cpu_window_s:g} s)"
        )


class MintlabEngine(NBClientEngine):
    """papermill's nbclient engine with :class:`WatchdogClient` (engine keyword ``watchdog``: a :class:`Watchdog`)."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        watchdog: Watchdog | None = None,
        **kwargs: Any,
    ) -> Any:
        """As ``NBClientEngine.execute_managed_notebook``, with the watchdog client."""
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        safe_kwargs.setdefault("iopub_timeout", IOPUB_TIMEOUT_S)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        return WatchdogClient(nb_man, watchdog=watchdog, **final_kwargs).execute()


papermill_engines.register(ENGINE_NAME, MintlabEngine)
