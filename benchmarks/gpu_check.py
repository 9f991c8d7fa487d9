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
4. default shapes: what a student's first Start trains, ``RunConfig()`` (the cnn on the built-in shapes,
   8,000 / 2,000 images, 8 epochs, batch size auto): wall seconds and the final test accuracy;
5. style transfer: one 512 px x 300-step run (VGG19, L-BFGS, the tutorial's loss weights) with random-init
   VGG19 weights written to a temporary TORCH_HOME (the hub cache's file name; the user's cache is never
   read or written; timing only), on two of the style module's generated images (the default photos need
   scikit-image, absent there); the GPU target is <= 10 s;
6. one autoencoder epoch: the Autoencoders page's default run (conv_autoencoder, denoising gaussian:0.5)
   on MNIST from --data, on shapes where it is absent: seconds, images/s, the final test loss;
7. jobs on one GPU: 1, 2 and 4 small jobs at once through the job manager (PLAYGROUND_JOBS_PER_GPU), each
   job's device (``auto`` placement) and the total images/s;
8. feature visualisation: 16 channels of a first layer at 32 px.
The whole process runs with the app's packages (and scipy, which comes with scikit-image) blocked, as they
are missing on the device machine, so a CPU run here fails where that one would. Before each section it
prints its estimate for a full run on an H100 (``ESTIMATE_S``: about 270 of the 470 s in all).
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
APP_PACKAGES = (
    "streamlit",
    "plotly",
    "pandas",
    "onnxscript",
    "onnxruntime",
    "skimage",
    "scipy",
    "ray",
    "torchinfo",
    "streamlit_drawable_canvas",
)  # the app's, and scipy (with skimage): not on the device
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


# Seconds each section of a full run should take on an H100, reasoned from the CPU figures and the work each
# does (no GPU has run this yet: compare with the OK lines' seconds once one has, and correct them). In all
# about 270 of the 470 s gpu_check.sh allows; the order puts the least needed last.
ESTIMATE_S = {
    "environment": 5,  # torch imported, CUDA initialised
    "core_only": 20,  # a fresh interpreter: imports, CUDA, 512 shapes for one epoch
    "bench": 90,  # textbook loader 5 x 200 steps (CPU-bound), engine and compute bound 3 x 200, MNIST to 99%
    "default_shapes": 20,  # 10,000 shapes generated, 1,000 steps of batch 64 (launch-bound), 8 evaluations
    "style_transfer": 25,  # 575 MB of random weights written and read, 300 steps of VGG19 to conv_5 at 512 px
    "autoencoder_epoch": 25,  # MNIST read, 938 steps of batch 64, 10,000 test images
    "jobs_on_one_gpu": 75,  # 3 rounds (1, 2, 4 jobs): worker processes start, CUDA each, 188 steps a job
    "featvis": 10,  # a one-epoch CNN, then 64 steps for 16 channels
}


def block_app_packages() -> None:
    """Make this process see what the device machine has: importing any of APP_PACKAGES fails."""
    for m in APP_PACKAGES:
        if m not in sys.modules:
            sys.modules[m] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError


def environment() -> dict[str, Any]:
    import torch
    import torchvision

    from playground.device import gpus

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "gpus": gpus(),
        "blocked": [m for m in APP_PACKAGES if m in sys.modules and sys.modules[m] is None],
    }


def core_only(device: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CORE_ONLY, device], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    kind, dev, acc = out.stdout.split()[-3:]
    return {"final": kind, "device": dev, "test_acc": float(acc)}


def bench(data: str, device: str, quick: bool) -> dict[str, Any]:
    from playground.bench import run_bench

    return run_bench(
        data_root=data, device=device, steps=20 if quick else 200, mnist99=not quick, rounds=1 if quick else 3
    )


def _final(events: list[dict[str, Any]]) -> dict[str, Any]:
    final = events[-1]
    if final["kind"] != "done":
        raise RuntimeError(f"the run ended {final['kind']}: {final.get('message')}")
    return final


def default_shapes(device: str, quick: bool) -> dict[str, Any]:
    """``RunConfig()`` as it is, the run a student's first Start trains; wall time from nothing (the data set
    generated, the model built) to the final test accuracy."""
    from playground.config import RunConfig
    from playground.train import fit

    cfg = RunConfig().replace(train={"device": device})
    if quick:
        cfg = cfg.replace(data={"params": {"n_train": 256, "n_test": 64}}, train={"epochs": 1.0, "batch_size": 64})
    t0 = time.perf_counter()
    events = list(fit(cfg))
    wall = time.perf_counter() - t0
    start, final = events[0], _final(events)
    return {
        "wall_s": round(wall, 2),
        "setup_s": start["t"],
        "train_seconds": final["train_seconds"],
        "test_acc": final["test_acc"],
        "epochs": cfg.train.epochs,
        "steps": final["step"],
        "batch_size": start["batch_size"],
        "train_images": start["train_images"],
        "images_per_second": final["images_per_second"],
        "device": final["device"],
        "precision": start.get("precision"),
    }


STYLE_IMAGES = ("dots", "stripes")  # content, style: generated by playground.style from numpy alone


def style_transfer(device: str, quick: bool) -> dict[str, Any]:
    """One transfer of the tutorial's size (512 px, 300 steps) through ``playground.style.stylize``, with a
    random-init VGG19 state dict where torch hub looks for the ImageNet file, in a temporary TORCH_HOME."""
    import torch

    from playground import style
    from playground.style.features import save_random_weights

    size, steps = (64, 4) if quick else (512, 300)
    before = os.environ.get("TORCH_HOME")
    with tempfile.TemporaryDirectory(prefix="gpu-check-torch-") as home:
        os.environ["TORCH_HOME"] = home
        try:
            if not Path(torch.hub.get_dir()).resolve().is_relative_to(Path(home).resolve()):
                raise RuntimeError(
                    f"torch hub's folder is set to {torch.hub.get_dir()} (torch.hub.set_dir), not "
                    "under TORCH_HOME: not writing random weights there"
                )
            t0 = time.perf_counter()
            save_random_weights("vgg19")
            weights_s = time.perf_counter() - t0
            s = style.StyleSettings(
                content=STYLE_IMAGES[0], style=STYLE_IMAGES[1], size=size, steps=steps, device=device
            )
            events = list(style.stylize(None, None, s, preview_every=0))
            wall = time.perf_counter() - t0
        finally:
            if before is None:
                os.environ.pop("TORCH_HOME", None)
            else:
                os.environ["TORCH_HOME"] = before
    start, final = events[0], events[-1]  # final: done, or diverged (random weights) with the steps it did
    return {
        "final": final["kind"],
        "size": final["size"],
        "steps_asked": steps,
        "steps_done": final["step"],
        "seconds": final["seconds"],
        "seconds_per_step": final["seconds_per_step"],
        "setup_s": start["setup_seconds"],
        "weights_write_s": round(weights_s, 2),
        "wall_s": round(wall, 2),
        "first_loss": events[1]["total"] if len(events) > 2 else None,
        "final_loss": final["total"],
        "device": final["device"],
        "images": list(STYLE_IMAGES),
        "weights": "random-init VGG19 (the real architecture; timing only)",
    }


def autoencoder_epoch(data: str, device: str, quick: bool) -> dict[str, Any]:
    """One epoch of the Autoencoders page's default run (conv_autoencoder, Adam 1e-3, denoising gaussian:0.5,
    batch size auto; without its live_recon probe) on MNIST from ``data``, on shapes where MNIST is absent."""
    from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
    from playground.data import load_dataset
    from playground.errors import PlaygroundError
    from playground.train import fit

    t0 = time.perf_counter()
    try:
        load_dataset("mnist", root=data, download=False)  # cached: fit finds it loaded
        dataset = "mnist"
    except PlaygroundError:
        dataset = "shapes"
    load_s = time.perf_counter() - t0
    shrunk = {"shapes": {"params": {"n_train": 256, "n_test": 64}}, "mnist": {"train_limit": 256}}[dataset]
    cfg = RunConfig(
        data=DataConfig(
            dataset=dataset, data_root=data, download=False, noise=("gaussian:0.5",), **(shrunk if quick else {})
        ),
        model=ModelConfig(name="conv_autoencoder"),
        optim=OptimConfig(name="adam", lr=1e-3),
        train=TrainConfig(task="reconstruct", epochs=1.0, device=device, batch_size=64 if quick else None),
    )
    t0 = time.perf_counter()
    events = list(fit(cfg))
    wall = time.perf_counter() - t0
    start, final = events[0], _final(events)
    return {
        "dataset": dataset,
        "train_images": start["train_images"],
        "batch_size": start["batch_size"],
        "steps": final["step"],
        "train_seconds": final["train_seconds"],
        "wall_s": round(wall, 2),
        "data_load_s": round(load_s, 2),
        "images_per_second": final["images_per_second"],
        "test_loss": final["test_loss"],
        "test_psnr": final["test_psnr"],
        "test_psnr_input": final["test_psnr_input"],
        "device": final["device"],
        "precision": start.get("precision"),
    }


def jobs_on_one_gpu(device: str, quick: bool) -> list[dict[str, Any]]:
    """n small jobs at once (n = 1, 2, 4), all allowed on one GPU: wall, total images/s, each job's device."""
    import playground.plugins  # noqa: F401  (every capability registers its job kind)
    from playground.config import RunConfig
    from playground.jobs.manager import JobManager
    from playground.runs import RunStore

    n_train, epochs = (256, 1.0) if quick else (8000, 3.0)
    cfg = RunConfig().replace(
        data={"params": {"n_train": n_train, "n_test": 256}},
        train={"epochs": epochs, "device": device, "batch_size": 128, "log_every": 20},
    )
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
                out.append(
                    {
                        "jobs": n,
                        "wall_s": round(wall, 2),
                        "total_images_per_s": round(images / wall, 1),
                        "per_job_images_per_s": [f.get("images_per_second") for f in finals],
                        "devices": [j.device or f.get("device") for j, f in zip(jobs, finals)],
                        "finals": [f.get("kind") for f in finals],
                    }
                )
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
        cfg = RunConfig().replace(
            data={"params": {"n_train": 256, "n_test": 64}}, train={"epochs": 1, "batch_size": 64}
        )
        run_id = list(fit(cfg, store=store))[0]["run_id"]
        saved = load_saved(store.open(run_id))
        layer, width = next(iter(conv_layers(saved.model).items()))
        t0 = time.perf_counter()
        res = visualise(saved, layer, list(range(width)), size=32, steps=8 if quick else 64)
        gain = [a / max(abs(b), 1e-6) for a, b in zip(res["after"], res["before"])]
        return {
            "layer": layer,
            "channels": width,
            "size": 32,
            "seconds": round(time.perf_counter() - t0, 2),
            "median_gain": round(sorted(gain)[len(gain) // 2], 1),
        }


def section(name: str, fn: Callable[[], Any], results: dict[str, Any], quick: bool = False) -> None:
    if not quick:
        print(f"RUN  {name} (estimate on an H100: {ESTIMATE_S.get(name, '?')} s)", flush=True)
    t0 = time.perf_counter()
    try:
        results[name] = fn()
        print(f"OK   {name} ({time.perf_counter() - t0:.1f} s): {json.dumps(results[name])[:600]}", flush=True)
    except Exception as e:  # one section's failure must not cost the others their figures
        results[name] = {"error": f"{type(e).__name__}: {e}"}
        print(f"FAIL {name}: {type(e).__name__}: {e}\n{traceback.format_exc()[-1500:]}", flush=True)


class TimeUp(BaseException):
    """SIGTERM (``timeout`` in gpu_check.sh): past every section's ``except Exception``, to the summary."""


_TIME_UP: list[int] = []  # the SIGTERMs seen


def _time_up(signum, frame):
    # timeout sends SIGTERM twice, to this process and then to its process group: stop once and let the second
    # pass (when the first had already been handled, the default action used to end the process before its
    # summary). A stop that hangs still ends: gpu_check.sh's hard kill 5 s later, which it reports.
    _TIME_UP.append(signum)
    if len(_TIME_UP) == 1:
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
    block_app_packages()
    results: dict[str, Any] = {
        "status": "running",
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_average": os.getloadavg(),
    }
    sections = {
        "environment": environment,
        "core_only": lambda: core_only(a.device),
        "bench": lambda: bench(a.data, a.device, a.quick),
        "default_shapes": lambda: default_shapes(a.device, a.quick),
        "style_transfer": lambda: style_transfer(a.device, a.quick),
        "autoencoder_epoch": lambda: autoencoder_epoch(a.data, a.device, a.quick),
        "jobs_on_one_gpu": lambda: jobs_on_one_gpu(a.device, a.quick),
        "featvis": lambda: featvis(a.quick),
    }
    if not a.quick:
        total = sum(ESTIMATE_S.get(n, 0) for n in sections if n not in skip)
        limit = os.environ.get("GPU_CHECK_SECONDS", "470")  # gpu_check.sh's time limit
        print(f"estimate for this run on an H100: {total} s (gpu_check.sh stops it at {limit} s)", flush=True)
    name = "start"
    signal.signal(signal.SIGTERM, _time_up)
    try:
        for name, fn in sections.items():
            if name not in skip:
                section(name, fn, results, a.quick)
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
