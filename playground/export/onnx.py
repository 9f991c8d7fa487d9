"""ONNX export: the trained model with its input normalisation folded in (input: float
images in [0, 1], shape (B, C, H, W)), written by PyTorch's ONNX exporter and checked
against the PyTorch output with onnxruntime."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import ExportError
from .saved import run_model

__all__ = ["Deployable", "export_onnx", "export_run_onnx", "onnx_parity", "run_onnx_bytes"]


class Deployable(nn.Module):
    """The model with normalisation in front: takes images scaled to [0, 1]."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):  # (B, C, H, W) in [0, 1] -> the model's output
        return self.model((x - self.mean) / self.std)


def export_onnx(
    model: nn.Module, in_shape, mean, std, path: Path | str, *, classes: list[str] | None = None, check: bool = True
) -> dict[str, Any]:
    """Write ``model`` (normalisation included) as ONNX; with ``check``, run the file with
    onnxruntime on random images and report the largest difference from PyTorch."""
    path = Path(path)
    net = Deployable(model.float().cpu(), mean, std).eval()
    x = torch.rand(4, *in_shape)  # (B, C, H, W) in [0, 1]
    try:
        program = torch.onnx.export(
            net,
            (x,),
            dynamo=True,
            input_names=["images"],
            output_names=["output"],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
            verbose=False,
        )
    except ImportError as e:
        raise ExportError(
            f"ONNX export needs the onnx and onnxscript packages ({e}); pip install -r requirements.txt."
        ) from None
    except Exception as e:
        raise ExportError(f"This model could not be exported to ONNX ({type(e).__name__}: {str(e)[:300]}).") from None
    if program is None:  # dynamo=True always returns a program; None is the old exporter's answer
        raise ExportError("This torch's ONNX exporter returned no program: pip install -r requirements.txt.")
    if classes:
        program.model.metadata_props["classes"] = json.dumps(classes)
    program.model.metadata_props["input"] = "float32 images (B, C, H, W) scaled to [0, 1]"
    tmp = path.with_suffix(".onnx.part")
    program.save(str(tmp))
    tmp.replace(path)
    report: dict[str, Any] = {"path": str(path), "bytes": path.stat().st_size}
    if check:
        report["max_abs_diff"] = onnx_parity(net, path, x)
    return report


def onnx_parity(net: nn.Module, path: Path, x: torch.Tensor) -> float:
    """Largest absolute difference between onnxruntime on the file at ``path`` and ``net`` on ``x``."""
    import onnxruntime as ort  # optional and heavy: loaded only when a file is checked

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        ref = net(x)
    return float((torch.from_numpy(out) - ref).abs().max())


def export_run_onnx(run, dest: Path | str | None = None) -> dict[str, Any]:
    """The run's final model as ONNX, checked with onnxruntime: at ``dest``, by default
    runs/<id>/model.onnx (only the session that controls a run writes into its folder)."""
    model, meta, _ = run_model(run)
    return export_onnx(
        model,
        tuple(meta["shape"]),
        meta["mean"],
        meta["std"],
        run.dir / "model.onnx" if dest is None else dest,
        classes=meta["classes"],
    )


def run_onnx_bytes(run) -> tuple[bytes, dict[str, Any]]:
    """(ONNX file, report) of the run's final model, exported into a temporary folder that is deleted
    afterwards: the run folder is left as it was (a session that only views the run)."""
    with tempfile.TemporaryDirectory(prefix="playground-onnx-") as tmp:
        path = Path(tmp) / f"{run.run_id}.onnx"
        report = export_run_onnx(run, path)
        data = path.read_bytes()
    report.pop("path", None)  # a temporary file, gone now
    return data, report
