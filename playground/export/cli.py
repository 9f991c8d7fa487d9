"""The ``export`` subcommand: ``python -m playground export RUN_ID [--onnx PATH] [--script PATH] [--csv PATH]``,
any subset (its parser is built by ``playground.cli``, which calls ``add_export_args`` and dispatches to
``cmd_export``).

The same exports the run panel downloads, made by the same functions: the metrics table
(``Run.metrics_csv``), the training script (``run_training_script``) and the ONNX file (``export_run_onnx``,
checked with onnxruntime). Every path, and the final model the ONNX file and the script are made from, is
checked before anything is written, so a mistake in the last flag leaves no half of an export behind.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

from ..errors import ExportError
from ..files import atomic_write_bytes, output_file
from ..runs import Run, RunStore
from .onnx import export_run_onnx
from .script import run_training_script

__all__ = ["add_export_args", "cmd_export", "EXPORTS"]

EXPORTS = ("csv", "script", "onnx")  # the order they are written in: the slow ONNX export and check last
NEED_MODEL = ("script", "onnx")  # made from the run's final model file


def add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", help="the run to export (`python -m playground runs` lists them)")
    p.add_argument(
        "--onnx",
        metavar="PATH",
        help="the final model as ONNX, normalisation inside (input: float "
        "images in [0, 1]); checked against PyTorch with onnxruntime",
    )
    p.add_argument(
        "--script",
        metavar="PATH",
        help="a standalone training script (torch + torchvision only) that reproduces the run",
    )
    p.add_argument(
        "--csv",
        metavar="PATH",
        help="the run's step and epoch metrics as CSV (the app's Metrics download); works while the run trains too",
    )
    p.add_argument("--runs", help="run store folder (default $PLAYGROUND_RUNS or ./runs)")
    p.add_argument("--json", action="store_true", help="last stdout line: what was written, as JSON")


def _write(path, text: str) -> None:
    data = text.encode("utf-8")
    atomic_write_bytes(path, lambda f: f.write(data))


def _check(run: Run, asked: dict[str, str]) -> dict[str, Any]:
    """The checked output paths; raises ExportError before any work when one cannot be written."""
    paths = {name: output_file(asked[name], f"--{name}") for name in EXPORTS if asked.get(name)}
    if not paths:
        raise ExportError("Say what to export: --onnx model.onnx, --script train.py and/or --csv metrics.csv.")
    if len({p.resolve() for p in paths.values()}) < len(paths):
        raise ExportError("Two exports name the same file: give --onnx, --script and --csv a path each.")
    if set(paths) & set(NEED_MODEL) and not run.model_path.exists():
        raise ExportError(
            f"Run {run.run_id} has no final model yet ({run.status()}), and --onnx and --script are "
            f"made from it: let the run finish or stop it (`python -m playground resume "
            f"{run.run_id}` continues an interrupted one). --csv alone works now."
        )
    return paths


def cmd_export(args: argparse.Namespace) -> int:
    run = RunStore(args.runs).open(args.run_id)
    paths = _check(run, {name: getattr(args, name) for name in EXPORTS})
    out: dict[str, Any] = {"run_id": run.run_id}
    if "csv" in paths:
        text = run.metrics_csv()
        _write(paths["csv"], text)
        rows = sum(1 for _ in csv.reader(io.StringIO(text))) - 1  # records, not lines: a cell may hold a newline
        out["csv"] = {"path": str(paths["csv"]), "rows": rows}
        print(f"metrics CSV: {paths['csv']} ({rows} rows)", file=sys.stderr)
    if "script" in paths:
        _write(paths["script"], run_training_script(run))
        out["script"] = str(paths["script"])
        print(f"training script: {paths['script']}", file=sys.stderr)
    if "onnx" in paths:
        report = export_run_onnx(run, paths["onnx"])
        out["onnx"] = {"path": str(paths["onnx"]), "max_abs_diff": report["max_abs_diff"], "bytes": report["bytes"]}
        print(f"ONNX: {paths['onnx']} (largest difference from PyTorch {report['max_abs_diff']:.1e})", file=sys.stderr)
    if args.json:
        print(json.dumps(out), flush=True)
    return 0
