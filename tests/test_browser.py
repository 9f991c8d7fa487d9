"""One real-browser test: Debian's Chromium, driven by Playwright, against `streamlit run`.

Starts a short run on the Train page, sees the loss chart gain points, stops the
run, reloads and finds the run again. Screenshots go to test-artifacts/.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def _need_browser():
    msg = None
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} not found (apt-get install chromium)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            msg = "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if msg:
        if os.environ.get("PLAYGROUND_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + "; PLAYGROUND_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    _need_browser()
    port = _free_port()
    env = {**os.environ, "PLAYGROUND_RUNS": str(tmp_path / "runs"), "PLAYGROUND_UPLOADS": str(tmp_path / "up")}
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + (tmp_path / "server.log").read_text()[-2000:])
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _points(page) -> int:
    """Points in the first trace of the loss chart (read from plotly's own data)."""
    return page.evaluate("""() => {
        const g = document.querySelector('.js-plotly-plot');
        return g && g.calcdata && g.calcdata.length ? g.calcdata[0].length : 0;
    }""")


def test_train_stop_reload_in_chromium(server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server + "/train")
        page.get_by_role("button", name="Start training").wait_for(timeout=60_000)
        for label, value in (("use only the first N training images (0: all)", "1000"), ("epochs", "100")):
            box = page.get_by_label(label)
            box.fill(value)
            box.press("Enter")
            time.sleep(0.8)
        page.get_by_role("button", name="Start training").click()
        page.wait_for_url("**run=*", timeout=30_000)
        run_id = page.url.split("run=")[1].split("&")[0]
        deadline = time.time() + 60
        first = 0
        while time.time() < deadline and (first := _points(page)) < 2:
            time.sleep(0.5)
        assert first >= 2, "the loss chart got no points"
        time.sleep(3)
        later = _points(page)
        assert later > first, f"the chart did not gain points while training ({first} -> {later})"
        page.screenshot(path=str(ARTIFACTS / "train-live.png"), full_page=True)
        page.get_by_role("button", name="Stop").click()
        expect(page.get_by_text("stopped", exact=False).first).to_be_visible(timeout=30_000)
        page.reload()
        expect(page.get_by_text(f"Run {run_id}")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("stopped", exact=False).first).to_be_visible(timeout=30_000)
        deadline = time.time() + 30
        while time.time() < deadline and _points(page) < later:
            time.sleep(0.5)
        assert _points(page) >= later, "the reloaded page lost points"
        page.screenshot(path=str(ARTIFACTS / "train-reloaded.png"), full_page=True)
        browser.close()
