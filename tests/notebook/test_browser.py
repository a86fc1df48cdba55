"""In a real browser: JupyterLab headless + Chromium (Debian's package) driven by Playwright.

Opens notebook 2, runs all cells, moves the δ slider (through its editable readout, as a user can), and
checks that the displayed pruned percentage changes. Saves screenshots before and after.
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
    "delta": 0.1,
    "eval_examples": 300,
    "delta_grid": [0.0, 0.5],
}
#: Where screenshots go (kept after the test for a human to look at).
SCREENSHOT_DIR = Path(os.environ.get("MINTLAB_SCREENSHOTS", Path(__file__).resolve().parents[2] / "runs" / "browser"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Expected Debian's chromium at {CHROMIUM} (apt-get install chromium); scripts/setup.sh "
                    "--with-browser installs it")
    import papermill

    from mintlab.nets.pretrained import pretrained

    pretrained("mlp", "fashion_mnist", recipe="quick", progress=False)  # cached for "Run All" (same MINTLAB_CACHE)
    root = tmp_path_factory.mktemp("lab")
    papermill.execute_notebook(str(NOTEBOOK), str(root / "02.ipynb"),
                               parameters={**BROWSER_PARAMETERS, "output_dir": str(root / "out")},
                               prepare_only=True)
    port, token = _free_port(), "mintlab-test"
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.disable_check_xsrf=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root,
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


def test_delta_slider_changes_pruned_percentage(lab: dict) -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(lab["url"])
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        time.sleep(2)  # kernel start
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        # scores + the panel: generous, the CPU may be busy
        page.wait_for_selector(".mintlab-pruned", timeout=600_000)
        page.wait_for_function(
            "() => { const e = document.querySelector('.mintlab-pruned'); return e && /pruned: /.test(e.innerText); }",
            timeout=120_000,
        )
        before = _pruned_text(page)
        panel = page.locator(".mintlab-pruned").first
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOT_DIR / "panel_before.png"))

        readout = page.locator(".widget-slider .widget-readout").first  # the δ slider comes first
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("0.6")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "(old) => { const e = document.querySelector('.mintlab-pruned'); return e && e.innerText !== old; }",
            arg=before, timeout=120_000,
        )
        after = _pruned_text(page)
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOT_DIR / "panel_after.png"))
        browser.close()

    def percent(text: str) -> float:
        match = re.search(r"pruned: ([0-9.]+) %", text)
        assert match, f"no pruned percentage in {text!r}"
        return float(match.group(1))

    assert percent(after) > percent(before), f"δ 0.1 → 0.6 must prune more: {before!r} → {after!r}"
    assert (SCREENSHOT_DIR / "panel_after.png").stat().st_size > 10_000
