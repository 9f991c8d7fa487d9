"""The classroom load test and the kill-and-restart test, in short form (a few sessions).

The full-size figures come from the same code: `python benchmarks/load_test.py --sessions 25`
(docs/BENCHMARKS.md). Timings are printed, never asserted.
"""

import asyncio
import json
import time

from conftest import ARGS, ARTIFACTS, CHROMIUM, _need_browser

from benchmarks.load_test import Server, final_events, run_config, run_load


def test_a_few_sessions_at_once_all_complete_without_errors(tmp_path):
    _need_browser()
    with Server(tmp_path, env={"PLAYGROUND_MAX_JOBS": "1", "PLAYGROUND_CLASSROOM": "1"}) as server:
        result = asyncio.run(
            run_load(server.url, server.runs, server, sessions=3, train_limit=256, epochs=1, time_limit=300)
        )
    print(json.dumps(result))
    assert result["errors"] == []
    assert result["runs_submitted"] == 3 and result["runs_done"] == 3
    assert result["queue_wait"]["n"] == 3  # with one slot, the others queued and then started
    assert result["server_peak_mb"] > 0


def test_server_killed_mid_run_restarts_and_the_run_resumes_with_its_metrics(tmp_path):
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    cfg = run_config(train_limit=1000, epochs=40).to_url()
    server = Server(tmp_path).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(f"{server.url}/train?cfg={cfg}")
            page.get_by_role("button", name="Start training").click()
            page.wait_for_url("**run=*", timeout=60_000)
            run_id = page.url.split("run=")[1].split("&")[0]
            metrics = server.runs / run_id / "metrics.jsonl"

            def epochs() -> int:
                if not metrics.exists():
                    return 0
                return sum(
                    1
                    for line in metrics.read_text().splitlines()
                    if line.strip() and json.loads(line)["kind"] == "epoch"
                )

            deadline = time.time() + 120
            while time.time() < deadline and epochs() < 2:
                time.sleep(0.3)
            assert epochs() >= 2, "no epochs were written"
            server.kill()  # SIGKILL mid-run
            from playground.runs import RunStore

            # Its worker saves the step it reached and ends (it may finish the epoch in progress first):
            # count the epochs once it has let go of the run.
            run = RunStore(server.runs).open(run_id)
            deadline = time.time() + 60
            while time.time() < deadline and run.busy():
                time.sleep(0.2)
            assert not run.busy(), "the killed server's worker still holds the run"
            before = epochs()
            assert final_events(server.runs)[run_id]["final"] is None

            server.start()  # same port, same run store
            page.reload()
            expect(page.get_by_text("interrupted", exact=False).first).to_be_visible(timeout=60_000)
            resume = page.get_by_role("button", name="Resume from checkpoint")
            resume.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "restart-interrupted.png"), full_page=True)
            resume.click()
            deadline = time.time() + 120
            while time.time() < deadline and epochs() <= before:
                time.sleep(0.3)
            assert epochs() > before, "the resumed run wrote no new epoch"
            lines = [json.loads(x) for x in metrics.read_text().splitlines()]
            numbers = [e["epoch"] for e in lines if e["kind"] == "epoch"]
            assert numbers == list(range(len(numbers))), f"epochs lost or repeated: {numbers}"
            assert any(e["kind"] == "resumed" for e in lines)
            page.get_by_role("button", name="Stop").click()
            expect(page.get_by_text("stopped", exact=False).first).to_be_visible(timeout=60_000)
            browser.close()
    finally:
        server.stop()
