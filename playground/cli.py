"""Command line: ``python -m playground {train,resume,list,summary,runs,predict,export,bench,style,lessons}``.

``train`` and ``summary`` take a flag for every RunConfig field (``playground.flags``), so the CLI and the
app can never drift apart. The style, export and lessons subcommands' flags live next to their code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Iterator, Mapping, Sequence

from . import plugins as _plugins  # noqa: F401  (every capability registers itself)
from .bench import run_bench
from .config import RunConfig
from .data import DATASETS, load_dataset
from .data.augment import AUGMENTATIONS
from .errors import CheckpointError, PlaygroundError
from .export.cli import add_export_args, cmd_export  # as style: the flags live next to the code
from .flags import add_config_flags, config_from_args
from .models import ENGINE_PARAMS, MODELS, build_model, summary
from .runs import RunStore
from .start.harness import add_lessons_args, cmd_lessons  # the lessons subcommand lives next to the lessons
from .style.cli import add_style_args, cmd_style  # the style subcommand's flags live next to its code
from .train import fit, resume
from .train.init import INITS
from .train.optim import OPTIMIZERS, SCHEDULES
from .train.tasks import TASKS

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="playground", description="CNN Playground, headless (also: python -m playground)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model; prints progress, --json ends with a JSON line")
    train.add_argument("--config", help="a config.json to start from (flags override it)")
    train.add_argument("--runs", help="run store folder (default $PLAYGROUND_RUNS or ./runs)")
    train.add_argument("--json", action="store_true", help="last stdout line: the result as JSON")
    train.add_argument("--quiet", action="store_true", help="no progress lines")
    add_config_flags(train)

    res = sub.add_parser("resume", help="continue a run from its last checkpoint")
    res.add_argument("run_id")
    res.add_argument("--runs")
    res.add_argument("--json", action="store_true")
    res.add_argument("--quiet", action="store_true")

    sub.add_parser("list", help="registered data sets, models, augmentations, initialisations, optimisers")

    summ = sub.add_parser("summary", help="the model a config builds: layers, output shapes, parameters")
    summ.add_argument("--config", help="a config.json to start from (flags override it)")
    add_config_flags(summ)

    runs = sub.add_parser("runs", help="list the runs in the run store")
    runs.add_argument("--runs")

    pred = sub.add_parser("predict", help="a trained run's top classes for an image file (any format)")
    pred.add_argument("run_id")
    pred.add_argument("image", help="an image file: PNG, JPEG, WebP, GIF, TIFF, BMP; any mode and size")
    pred.add_argument("--top", type=int, default=5)
    pred.add_argument("--invert", action="store_true", help="invert the image (a dark digit on white paper)")
    pred.add_argument("--runs", help="run store folder (default $PLAYGROUND_RUNS or ./runs)")
    pred.add_argument("--json", action="store_true")

    add_export_args(
        sub.add_parser(
            "export",
            help="a run's metrics (CSV), model (ONNX, checked with onnxruntime) and/or training script, any subset",
        )
    )

    bench = sub.add_parser("bench", help="textbook data path vs engine vs compute bound; MNIST time to 99%%")
    bench.add_argument("--data-root", default=None, help="folder with MNIST/raw (default ./data)")
    bench.add_argument("--device", default="auto")
    bench.add_argument("--steps", type=int, default=120, help="timed steps per measurement")
    bench.add_argument("--rounds", type=int, default=3, help="interleaved rounds of textbook, engine and compute bound")
    bench.add_argument("--skip-mnist99", action="store_true", help="skip the time-to-99%% run")
    bench.add_argument("--json", action="store_true")

    add_style_args(sub.add_parser("style", help="neural style transfer of one image; --json ends with a JSON line"))
    add_lessons_args(
        sub.add_parser(
            "lessons",
            help="run every lesson's experiment; says whether each point showed "
            "and the seconds to it (exit 1 when one did not)",
        )
    )
    return parser


def _metric(e: Mapping[str, Any], prefix: str = "") -> str:
    """The task's running metric an event carries: acc (classify), psnr (reconstruct), ..."""

    return next((m for m in (TASKS.get(n).metric for n in TASKS.names()) if prefix + m in e), "acc")


def _progress(events: Iterator[Mapping[str, Any]], out, quiet: bool) -> dict[str, Any]:
    final: dict[str, Any] = {}
    for e in events:
        kind = e["kind"]
        if kind == "start":
            final["run_id"] = e["run_id"]
            d = e["dataset"]
            line = (
                f"run {e['run_id']} on {e['device']}: {d['name']} {d['shape']} "
                f"({d['train']} train / {d['test']} test), {e['parameters']:,} parameters, "
                f"{e['total_steps']} steps"
            )
            for note in d.get("notes", []):
                line += f"\n  note: {note}"
        elif kind == "resumed":
            line = f"resumed at epoch {e['epoch']}, step {e['step']}"
        elif kind == "step":
            m = _metric(e)
            line = (
                f"  step {e['step']:>6}  epoch {e['epoch']}  loss {e['loss']:.4f}  {m} {e[m]:.3f}  "
                f"lr {e['lr']:.2e}  {e['images_per_s']:,.0f} img/s"
            )
        elif kind == "epoch":
            m = _metric(e, "train_")
            line = (
                f"epoch {e['epoch']}: train loss {e['train_loss']:.4f} {m} {e['train_' + m]:.4f} | "
                f"test loss {e['test_loss']:.4f} {m} {e['test_' + m]:.4f}  ({e['t']:.1f} s)"
            )
        else:
            final.update(e)
            line = f"{kind}: {e.get('message', '')}".rstrip(": ")
            if kind == "done":
                m = _metric(e, "test_")
                line = (
                    f"done: test {m} {e['test_' + m]:.4f}, {e['images_per_second']:,.0f} img/s, "
                    f"{e['train_seconds']:.1f} s training, {e['t']:.1f} s in all"
                )
        if kind in ("error", "diverged"):  # a failure goes to stderr, whatever stdout carries
            print(line, file=sys.stderr, flush=True)
        elif not quiet or kind not in ("step",):
            print(line, file=out, flush=True)
    return final


def _finish(final: dict[str, Any], as_json: bool, wall: float) -> int:
    kind = final.get("kind", "error")
    result = {
        "status": kind,
        "run_id": final.get("run_id"),
        "test_acc": final.get("test_acc"),
        "test_loss": final.get("test_loss"),
        "train_seconds": final.get("train_seconds"),
        "wall_seconds": round(wall, 3),
        "images_per_second": final.get("images_per_second"),
        "device": final.get("device"),
        "steps": final.get("step"),
        # the task's other test figures (reconstruct: test_mse, test_psnr, test_psnr_input)
        **{k: v for k, v in final.items() if k.startswith("test_") and k not in ("test_acc", "test_loss")},
    }
    if "message" in final:
        result["message"] = final["message"]
    if as_json:
        print(json.dumps(result), flush=True)
    return {"done": 0, "stopped": 1, "diverged": 1}.get(kind, 2)


def _with_source_arch(config: RunConfig, store: RunStore) -> RunConfig:
    """A transfer from one of the playground's own runs (``backbone=run``) records the source network (its
    model, settings, input shape, classes), as the Transfer page does, so the new run rebuilds without it."""
    params = dict(config.model.params)
    if (
        config.model.name != "transfer"
        or params.get("backbone") != "run"
        or "source_arch" in params
        or not params.get("source_run")
    ):
        return config
    from .transfer.sources import source_params

    params["source_arch"] = source_params(store.open(params["source_run"]))["source_arch"]
    return config.replace(model={"params": params})


def cmd_train(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    store = RunStore(args.runs)
    config = _with_source_arch(config_from_args(args).validate(), store)
    out = sys.stderr if args.json else sys.stdout
    final = _progress(fit(config, store=store), out, args.quiet)
    return _finish(final, args.json, time.perf_counter() - t0)


def cmd_resume(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    RunStore(args.runs).open(args.run_id)  # an unknown id is an error of the command, with its hint (main)
    out = sys.stderr if args.json else sys.stdout
    final = _progress(resume(args.run_id, RunStore(args.runs)), out, args.quiet)
    final.setdefault("run_id", args.run_id)
    return _finish(final, args.json, time.perf_counter() - t0)


def cmd_list(args: argparse.Namespace) -> int:
    for title, reg, skip in (
        ("data sets", DATASETS, {"root", "download"}),
        ("models", MODELS, set(ENGINE_PARAMS)),
        ("augmentations", AUGMENTATIONS, set()),
        ("initialisations", INITS, set()),
        ("optimizers", OPTIMIZERS, {"lr"}),
        ("schedules", SCHEDULES, {"total_steps", "steps_per_epoch"}),
    ):
        print(f"{title}:")
        for name in reg.names():
            params = ", ".join(f"{k}={v!r}" for k, v in reg.params(name).items() if k not in skip)
            print(f"  {name:<20} {reg.doc(name)}")
            if params:
                print(f"  {'':<20} [{params}]")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    cfg = config_from_args(args).validate()
    d = cfg.data
    ds = load_dataset(d.dataset, root=d.data_root, download=d.download, **dict(d.params))
    model = build_model(cfg.model.name, in_shape=ds.shape, num_classes=ds.num_classes, **dict(cfg.model.params))
    print(summary(model, ds.shape))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    store = RunStore(args.runs)
    runs = store.list()
    if not runs:
        print(f"no runs in {store.root}")
    for run in runs:  # a damaged run is listed as such, with the reason, and never stops the listing
        damage, status = run.damage(), run.status()
        if status == "running" and not run.busy():
            status = "interrupted"  # no process trains it: `playground resume` continues it
        try:
            cfg = run.config()
            print(f"{run.run_id}  {status:<11} {cfg.data.dataset:<14} {cfg.model.name:<8} epochs={cfg.train.epochs:g}")
        except PlaygroundError:
            print(f"{run.run_id}  {status}")
        if damage:
            print(f"    {damage}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .images import decode_tensor
    from .models.saved import load_saved

    saved = load_saved(RunStore(args.runs).open(args.run_id))
    c, h, w = saved.shape
    image = decode_tensor(args.image, channels=c, size=(h, w), label=f"The image {args.image}")
    top = saved.predict(255 - image if args.invert else image, max(1, args.top))
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": saved.run_id,
                    "source": saved.source,
                    "top": [{"class": k, "probability": p} for k, p in top],
                }
            )
        )
    else:
        for k, p in top:
            print(f"{p:7.2%}  {k}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    out = sys.stderr if args.json else sys.stdout
    result = run_bench(
        data_root=args.data_root,
        device=args.device,
        steps=args.steps,
        mnist99=not args.skip_mnist99,
        rounds=args.rounds,
        log=lambda s: print(s, file=out, flush=True),
    )
    if args.json:
        print(json.dumps(result), flush=True)
    return 0


COMMANDS = {
    "train": cmd_train,
    "resume": cmd_resume,
    "list": cmd_list,
    "summary": cmd_summary,
    "runs": cmd_runs,
    "bench": cmd_bench,
    "style": cmd_style,
    "predict": cmd_predict,
    "export": cmd_export,
    "lessons": cmd_lessons,
}


def _hint(args: argparse.Namespace, e: PlaygroundError) -> str:
    """Where the run ids are, when a command was given one the run store does not hold."""
    run_id = getattr(args, "run_id", None)
    if not run_id or not isinstance(e, CheckpointError) or (RunStore(args.runs).root / run_id).is_dir():
        return ""
    return f" `python -m playground runs{' --runs ' + args.runs if args.runs else ''}` lists the runs there."


def main(argv: Sequence[str] | None = None) -> int:
    """Errors go to stderr with a non-zero exit status (argparse's own: 2); with --json the last stdout
    line is still a JSON object, ``{"status": "error", "message": ...}``."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (PlaygroundError, OSError) as e:
        if isinstance(e, OSError):  # a path that vanished or a full disk after the checks
            message = (
                f"Cannot write or read {e.filename or 'a file'}: {e.strerror or e}. Check the path and the "
                "free space, then run the command again."
            )
        else:
            message = str(e) + _hint(args, e)
        print(f"error: {message}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"status": "error", "message": message}), flush=True)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
