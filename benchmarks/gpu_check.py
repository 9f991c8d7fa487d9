"""The prepared GPU check: one command for the minutes a GPU machine is lent (docs/BENCHMARKS.md, "GPU").

    python -m benchmarks.gpu_check --data DATA_ROOT [--out gpu.json] [--quick] [--device auto]

DATA_ROOT holds MNIST/raw/ (the four idx files, 53 MB: carry ``data/MNIST`` to the device machine). It runs
on the core alone (torch + torchvision; the device machine has no Streamlit, plotly or pandas) and prints one
line per figure, then writes them all as JSON (to --out, also after each section) and prints them as its last
line, one JSON object (``status``: ok, failed or timed_out; ``failed``: the sections that failed). Each section
stands alone: one that fails prints FAIL and the reason, and the rest still run. SIGTERM (the time limit of
``benchmarks/gpu_check.sh``, which wraps this in ``timeout``) stops the section that runs and still ends with
that line. On the device machine: ``bash benchmarks/gpu_check.sh --data data --out gpu-check.json``.

1. environment: torch, torchvision, the GPUs (name, memory);
2. the core imports and trains with the app's packages blocked (a subprocess);
3. ``playground bench``: textbook vs engine vs compute bound in interleaved rounds, MNIST to 99% (targets on
   a GPU: the engine >= 10x the textbook, 99% in <= 2 s);
4. jobs on one GPU: 1, 2 and 4 small jobs at once through the job manager (PLAYGROUND_JOBS_PER_GPU), each
   job's device (``auto`` placement) and the total images/s;
5. feature visualisation: 16 channels of a first layer at 32 px.
``--quick`` shrinks every section (a CPU run of the whole script in the test suite keeps it working).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
APP_PACKAGES = ("streamlit", "plotly", "pandas", "onnxscript", "onnxruntime", "skimage", "ray", "torchinfo",
                "streamlit_drawable_canvas")
CORE_ONLY = f"""
import sys
for m in {APP_PACKAGES!r}:
    sys.modules[m] = None  # as on the device machine: not installed
from playground.config import RunConfig
from playground.train import fit
cfg = RunConfig().replace(data={{"params": {{"n_train": 512, "n_test": 128}}}},
                          train={{"epochs": 1, "batch_size": 64, "device": sys.argv[1]}})
final = list(fit(cfg))[-1]
print(final["kind"], final.get("device"), final.get("test_acc"))
"""


def environment() -> dict[str, Any]:
    import torch
    import torchvision

    from playground.device import gpus

    return {"python": sys.version.split()[0], "torch": torch.__version__, "torchvision": torchvision.__version__,
            "cuda": torch.version.cuda, "threads": torch.get_num_threads(), "gpus": gpus()}


def core_only(device: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CORE_ONLY, device], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    kind, dev, acc = out.stdout.split()[-3:]
    return {"final": kind, "device": dev, "test_acc": float(acc)}


def bench(data: str, device: str, quick: bool) -> dict[str, Any]:
    from playground.bench import run_bench

    return run_bench(data_root=data, device=device, steps=20 if quick else 200, mnist99=not quick,
                     rounds=1 if quick else 3)


def jobs_on_one_gpu(device: str, quick: bool) -> list[dict[str, Any]]:
    """n small jobs at once (n = 1, 2, 4), all allowed on one GPU: wall, total images/s, each job's device."""
    from playground.config import RunConfig
    from playground.runs import RunStore
    from playground.train.jobs import JobManager

    n_train, epochs = (256, 1.0) if quick else (8000, 3.0)
    cfg = RunConfig().replace(data={"params": {"n_train": n_train, "n_test": 256}},
                              train={"epochs": epochs, "device": device, "batch_size": 128, "log_every": 20})
    out = []
    for n in (1, 2) if quick else (1, 2, 4):
        os.environ["PLAYGROUND_JOBS_PER_GPU"] = str(n)
        with tempfile.TemporaryDirectory() as tmp:
            m = JobManager(RunStore(tmp), max_running=n)
            try:
                t0 = time.perf_counter()
                jobs = [m.submit(cfg, owner=f"s{i}") for i in range(n)]
                while any(j.live for j in jobs):
                    time.sleep(0.2)
                wall = time.perf_counter() - t0
                finals = [j.buffer.snapshot()["final"] or {} for j in jobs]
                images = sum(f.get("images_per_second", 0) * f.get("train_seconds", 0) for f in finals)
                out.append({"jobs": n, "wall_s": round(wall, 2), "total_images_per_s": round(images / wall, 1),
                            "per_job_images_per_s": [f.get("images_per_second") for f in finals],
                            "devices": [j.device or f.get("device") for j, f in zip(jobs, finals)],
                            "finals": [f.get("kind") for f in finals]})
            finally:
                m.shutdown()
    os.environ.pop("PLAYGROUND_JOBS_PER_GPU", None)
    return out


def featvis(quick: bool) -> dict[str, Any]:
    """Feature visualisation of every channel of the first conv layer of a freshly trained CNN, at 32 px."""
    from playground.config import RunConfig
    from playground.inside.featvis import conv_layers, visualise
    from playground.models.saved import load_saved
    from playground.runs import RunStore
    from playground.train import fit

    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        cfg = RunConfig().replace(data={"params": {"n_train": 256, "n_test": 64}},
                                  train={"epochs": 1, "batch_size": 64})
        run_id = list(fit(cfg, store=store))[0]["run_id"]
        saved = load_saved(store.open(run_id))
        layer, width = next(iter(conv_layers(saved.model).items()))
        t0 = time.perf_counter()
        res = visualise(saved, layer, list(range(width)), size=32, steps=8 if quick else 64)
        gain = [a / max(abs(b), 1e-6) for a, b in zip(res["after"], res["before"])]
        return {"layer": layer, "channels": width, "size": 32, "seconds": round(time.perf_counter() - t0, 2),
                "median_gain": round(sorted(gain)[len(gain) // 2], 1)}


def section(name: str, fn: Callable[[], Any], results: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    try:
        results[name] = fn()
        print(f"OK   {name} ({time.perf_counter() - t0:.1f} s): {json.dumps(results[name])[:600]}", flush=True)
    except Exception as e:  # one section's failure must not cost the others their figures
        results[name] = {"error": f"{type(e).__name__}: {e}"}
        print(f"FAIL {name}: {type(e).__name__}: {e}\n{traceback.format_exc()[-1500:]}", flush=True)


class TimeUp(BaseException):
    """SIGTERM (``timeout`` in gpu_check.sh): past every section's ``except Exception``, to the summary."""


def _time_up(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the process; the wrapper still reports
    raise TimeUp()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT / "data"), help="the folder holding MNIST/raw/")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="gpu-check.json")
    ap.add_argument("--quick", action="store_true", help="every section shrunk (checks the script itself)")
    ap.add_argument("--skip", default="", help="sections to leave out, comma-separated")
    a = ap.parse_args(argv)
    skip = set(filter(None, a.skip.split(",")))
    results: dict[str, Any] = {"status": "running", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                               "load_average": os.getloadavg()}
    sections = {"environment": environment, "core_only": lambda: core_only(a.device),
                "bench": lambda: bench(a.data, a.device, a.quick),
                "jobs_on_one_gpu": lambda: jobs_on_one_gpu(a.device, a.quick), "featvis": lambda: featvis(a.quick)}
    name = "start"
    signal.signal(signal.SIGTERM, _time_up)
    try:
        for name, fn in sections.items():
            if name not in skip:
                section(name, fn, results)
                Path(a.out).write_text(json.dumps(results, indent=1))  # the figures so far outlive a kill
    except TimeUp:
        results["timed_out"] = name
        print(f"STOP {name}: time limit (SIGTERM); the figures so far follow", flush=True)
    results["load_average_end"] = os.getloadavg()
    failed = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
    results.update(status="timed_out" if "timed_out" in results else "failed" if failed else "ok", failed=failed)
    Path(a.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {a.out}; {len(failed)} section(s) failed{': ' + ', '.join(failed) if failed else ''}")
    print(json.dumps(results), flush=True)  # the last line: every figure, one JSON object
    return 124 if "timed_out" in results else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
