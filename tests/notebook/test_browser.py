"""In a real browser: JupyterLab headless + Chromium (Debian's package) driven by Playwright.

Opens notebook 2, runs all cells, drags the δ slider to its left end, its middle and its right end, and
checks that the displayed pruned percentage moves at each, in order (the slider spans the scores that exist,
so no part of it is flat). Saves screenshots of each position.

Independent of the machine's speed: the fixture first runs the notebook headless (papermill, no time limit)
with the same parameters, so the dense network and the scores are cached and "Run All" in the browser only
reloads them. The browser part then waits on *conditions* (the panel appeared, an error was shown, or every
cell ran), polling, with bounds far above the work left (:data:`RUN_ALL_BOUND_S`), and says what it saw when
a bound is reached.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_layer_pair_pruning.ipynb"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Small enough that "Run All" finishes in a minute or two on a 2-core CPU (the fixture caches the dense MLP).
BROWSER_PARAMETERS = {
    "samples_per_class": 20,
    "group_options": {"10 groups": [[10, 10], [10, 10]], "20 groups": [[20, 20], [20, 10]]},
    "groups": "10 groups",
    "eval_examples": 300,
}
#: Upper bound for "Run All" once the scores are cached (it takes seconds): only a hung kernel reaches it.
RUN_ALL_BOUND_S = 1800
#: Upper bound for one slider update (milliseconds of work once the panel is up).
UPDATE_BOUND_S = 600
#: Where screenshots go (kept after the test for a human to look at).
SCREENSHOT_DIR = Path(os.environ.get("MINTLAB_SCREENSHOTS", Path(__file__).resolve().parents[2] / "runs" / "browser"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Expected Debian's chromium at {CHROMIUM} (apt-get install chromium); scripts/setup.sh "
            "--with-browser installs it"
        )
    import papermill

    from mintlab.nets.pretrained import pretrained

    pretrained("mlp", "fashion_mnist", recipe="quick", progress=False)  # cached for "Run All" (same MINTLAB_CACHE)
    root = tmp_path_factory.mktemp("lab")
    # the same notebook, headless and without a time limit: network and scores land in the cache, so the
    # browser's "Run All" below only reloads them, however slow or busy this machine is
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(root / "02_warmup.ipynb"),
        parameters={**BROWSER_PARAMETERS, "output_dir": str(root / "warmup")},
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(root / "02.ipynb"),
        parameters={**BROWSER_PARAMETERS, "output_dir": str(root / "out")},
        prepare_only=True,
    )
    port, token = _free_port(), "mintlab-test"
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.disable_check_xsrf=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        env={k: v for k, v in os.environ.items() if k != "MPLBACKEND"},  # the kernel should plot inline
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start: {(root / 'lab.log').read_text()[-2000:]}")
            time.sleep(1)
    yield {"url": f"{base}/lab/tree/02.ipynb?token={token}", "root": root}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _pruned_text(page) -> str:
    return page.locator(".mintlab-pruned").first.inner_text()


#: What the notebook shows, as one word: "panel" (the panel's numbers are up), "error:<text>" (a cell raised),
#: "done" (every code cell ran, no panel), or "running".
_NOTEBOOK_STATUS_JS = """() => {
  const panel = document.querySelector('.mintlab-pruned');
  if (panel && /pruned: /.test(panel.innerText)) return 'panel';
  const err = document.querySelector('[data-mime-type="application/vnd.jupyter.error"]');
  if (err) return 'error:' + err.innerText.slice(-1500);
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.innerText.trim());
  if (prompts.length && prompts.every(t => /\\[\\d+\\]/.test(t))) return 'done';
  if (!prompts.some(t => /\\[(\\*|\\d+)\\]/.test(t))) return 'idle';
  return 'running';
}"""


def _wait_for_kernel_idle(page, bound_s: float) -> None:
    """Poll until the status bar says the kernel is idle (started and connected)."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if page.evaluate(
            "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(e => /\\|\\s*Idle/.test(e.innerText))"
        ):
            return
        time.sleep(1)
    page.screenshot(path=str(SCREENSHOT_DIR / "kernel_waiting.png"))
    pytest.fail(f"the notebook's kernel was not idle {bound_s:.0f} s after the page opened")


def _run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()


def _wait_for_panel(page, bound_s: float) -> None:
    """Poll until the panel shows its numbers; fail at once on an error output, or at the bound. "Run All" is
    asked again when no cell has started a while after it was asked (a click lost while the page was busy)."""
    deadline = time.monotonic() + bound_s
    status, asked, shots = "running", time.monotonic(), 0
    while time.monotonic() < deadline:
        status = page.evaluate(_NOTEBOOK_STATUS_JS)
        if status == "panel":
            return
        if status.startswith("error:"):
            page.screenshot(path=str(SCREENSHOT_DIR / "panel_error.png"))
            pytest.fail(f"notebook 2 raised in the browser:\n{status[6:]}")
        if status == "idle" and time.monotonic() - asked > 60:
            page.keyboard.press("Escape")  # a dialog in the way (e.g. kernel selection) is dismissed first
            _run_all(page)
            asked = time.monotonic()
        if time.monotonic() - asked > 30 * (shots + 1):
            shots += 1
            page.screenshot(path=str(SCREENSHOT_DIR / "panel_waiting.png"))  # what a hung run looked like
        time.sleep(2)
    page.screenshot(path=str(SCREENSHOT_DIR / "panel_waiting.png"))
    if status == "done":
        pytest.fail("every cell of notebook 2 ran in the browser but no panel (.mintlab-pruned) showed its numbers")
    pytest.fail(
        f"no panel after {bound_s:.0f} s of Run All with cached scores (last status: {status}): the kernel looks hung"
    )


def _wait_for_change(page, old: str, bound_s: float) -> str:
    """Poll until the panel's text differs from ``old``; return the new text."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        text = _pruned_text(page)
        if text != old:
            return text
        status = page.evaluate(_NOTEBOOK_STATUS_JS)
        if status.startswith("error:"):
            pytest.fail(f"the panel raised after a slider move:\n{status[6:]}")
        time.sleep(0.5)
    pytest.fail(f"the panel still shows {old!r} {bound_s:.0f} s after the slider moved")


def test_delta_slider_changes_pruned_percentage(lab: dict) -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(lab["url"])
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        _wait_for_kernel_idle(page, RUN_ALL_BOUND_S)  # "Run All" before the kernel is up is silently lost
        _run_all(page)
        _wait_for_panel(page, RUN_ALL_BOUND_S)  # scores are cached: this is the reload plus the panel
        opened = _pruned_text(page)
        panel = page.locator(".mintlab-pruned").first
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOT_DIR / "panel_opened.png"))

        seen = {}
        text = opened
        for name, where in (("left", 0.0), ("right", 1.0), ("middle", 0.5)):
            _drag_delta_slider(page, where)
            text = _wait_for_change(page, text, UPDATE_BOUND_S)
            seen[name] = text
            panel.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOT_DIR / f"panel_{name}.png"))
        browser.close()

    def percent(text: str) -> float:
        match = re.search(r"pruned: ([0-9.]+) %", text)
        assert match, f"no pruned percentage in {text!r}"
        return float(match.group(1))

    left, middle, right = (percent(seen[k]) for k in ("left", "middle", "right"))
    assert left < middle < right, f"δ left → middle → right must prune more each time: {seen}"
    assert percent(opened) > 0.0, f"the panel must open on a pruned network: {opened!r}"
    assert (SCREENSHOT_DIR / "panel_right.png").stat().st_size > 10_000


def _drag_delta_slider(page, where: float) -> None:
    """Drag the δ slider's handle with the mouse to ``where`` (0 = left end, 1 = right end) of its track."""
    track = page.locator(".mintlab-delta .noUi-base").first
    handle = page.locator(".mintlab-delta .noUi-handle").first
    track.scroll_into_view_if_needed()
    box, grip = track.bounding_box(), handle.bounding_box()
    assert box and grip, "the δ slider is not on screen"
    x = box["x"] - 20 if where <= 0 else box["x"] + box["width"] + 20 if where >= 1 else box["x"] + where * box["width"]
    y = grip["y"] + grip["height"] / 2
    page.mouse.move(grip["x"] + grip["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(x, y, steps=12)
    page.mouse.up()
