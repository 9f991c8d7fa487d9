"""The server's load test at the protocol level (benchmarks/server_load.py), in short form: a few
sessions, tiny runs, short windows. The full figures come from the same code
(`python -m benchmarks.server_load`, docs/BENCHMARKS.md); here only that it works and reports sane
values, never a speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from benchmarks.load_test import cpu_seconds, run_config
from benchmarks.server_load import run, summary


def test_summary_is_nearest_rank():
    s = summary([0.5, 0.1, 0.3, 0.2, 0.4] * 4)
    assert (s["n"], s["median_s"], s["p95_s"], s["max_s"]) == (20, 0.3, 0.5, 0.5)
    assert summary([2.0])["p95_s"] == 2.0 and summary([]) == {"n": 0}


def test_cpu_seconds_counts_a_child_as_a_child_also_after_it_ended():
    before = cpu_seconds(os.getpid())
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"]
    )
    time.sleep(0.3)
    running = cpu_seconds(os.getpid())  # a live child: read from its own /proc entry
    child.wait()
    after = cpu_seconds(os.getpid())  # reaped: in this process's cutime + cstime
    assert running["children"] > before["children"]
    assert after["children"] - before["children"] >= 0.5
    assert after["server"] - before["server"] < 0.4  # waiting is not this process's CPU


def test_a_small_classroom_over_the_protocol_completes_and_reports_every_figure():
    live = run_config(train_limit=2000, epochs=200)  # a run that outlasts its windows; stopped after them
    res = run(
        sessions=3,
        arrivals=(0.0,),
        max_jobs=2,
        train_limit=128,
        epochs=1,
        limit_s=240,
        views=1,
        viewers=2,
        rounds=1,
        window_s=3.0,
        data_root=None,
        live_cfg=live,
    )
    print(json.dumps({k: v for k, v in res.items() if k != "live_view"}))
    (room,) = res["classrooms"]
    assert room["errors"] == [] and res["targets"]["no session error"]
    assert room["runs_submitted"] == room["runs_done"] == 3 and room["runs_unfinished"] == 0
    assert res["targets"]["every run completes or is cleanly queued"]
    for name in ("data", "train (set up by link)", "Start training"):
        page = room["pages"][name]
        assert page["n"] == 3 and 0 < page["median_s"] <= page["p95_s"] <= page["max_s"]
    ticks = room["live_view_redraw"]  # each page polled its run's live view while it trained
    assert ticks["n"] >= 3 and 0 < ticks["median_s"] <= ticks["p95_s"] <= ticks["max_s"]
    assert room["epoch_redraw"]["n"] >= 3  # and redrew itself whole when its run ended
    # every page polled every second while its run trained; a queued one every 3 s (2 slots, 3 runs: the
    # third queues unless the first has ended by its press). A queued run of 128 images may start and end
    # between two of its page's 3 s polls on a quiet machine: that page never sees it training (no 1 s timer).
    timers = room["live_view_timers"]
    assert timers.get("1 s", 0) >= 2 and timers.get("1 s", 0) + timers.get("3 s", 0) >= 3  # 2 slots, 3 pages
    assert room["live_view_timers"].get("3 s", 0) >= room["queued_sessions"]
    assert room["cpu_s"]["page_serving"] > 0 and room["cpu_s"]["training"] > room["cpu_s"]["training_per_run"] > 0
    assert room["server_memory_mb"]["peak_mb"] >= room["server_memory_mb"]["rss_mb"] > 0
    assert room["cold_start_page_s"] > 0 and room["wall_s"] > 0
    costs = res["page_costs"]
    for name in ("start", "data", "conv", "train (set up by link)", "train (a finished run)"):
        assert costs[name]["n"] == 1 and costs[name]["cpu_s_per_view"] > 0 and costs[name]["errors"] == []
    lv = res["live_view"]
    assert lv["errors"] == [], lv["errors"]
    ((without, viewers),) = lv["rounds_detail"]
    assert (without["viewers"], viewers["viewers"]) == (0, 2) and without["fragment_runs"] == 0
    assert viewers["fragment_runs"] >= 2 * 2  # two viewers, a fragment rerun a second each, for 3 s
    assert viewers["server_cpu_per_s"] > without["server_cpu_per_s"] >= 0
    assert without["images_per_s"] > 0 and viewers["images_per_s"] > 0 and lv["images_per_s_ratio"] > 0
    assert lv["per_viewer_core"] == lv["per_viewer_core_rounds"][0] > 0 and lv["cpu_s_per_fragment_run"] > 0
    assert set(res["load_average"]) == {"start", "end"} and len(res["targets"]) == 5
