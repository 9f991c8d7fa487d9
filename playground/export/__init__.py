"""Exports that leave the app: ONNX models and a standalone training script.

- ``export_onnx`` / ``export_run_onnx`` (``onnx``): the trained model with its input
  normalisation folded in, checked against PyTorch with onnxruntime.
- ``training_script`` / ``run_training_script`` (``script``): a readable Python file that
  needs only torch and torchvision and rebuilds the run from scratch.
- ``model_source`` (``source``): torch-only source that rebuilds a model's structure.
- ``run_model`` (``saved``): a finished run's model with its final weights, the one way
  the exports load it; ``checkpoint_without_server_paths``: a model file's bytes with its
  settings naming no server folder (what a session that only views a run downloads).
- ``run_onnx_bytes`` (``onnx``): the ONNX file as bytes, exported outside the run folder.
"""

from ..errors import ExportError
from .onnx import export_onnx, export_run_onnx, run_onnx_bytes
from .saved import checkpoint_without_server_paths, run_model
from .script import run_training_script, training_script
from .source import model_source

__all__ = [
    "ExportError",
    "checkpoint_without_server_paths",
    "export_onnx",
    "export_run_onnx",
    "model_source",
    "run_onnx_bytes",
    "training_script",
    "run_training_script",
    "run_model",
]
