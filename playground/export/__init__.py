"""Exports that leave the app: ONNX models and a standalone training script.

- ``export_onnx`` / ``export_run_onnx`` (``onnx``): the trained model with its input
  normalisation folded in, checked against PyTorch with onnxruntime.
- ``training_script`` / ``run_training_script`` (``script``): a readable Python file that
  needs only torch and torchvision and rebuilds the run from scratch.
- ``model_source`` (``source``): torch-only source that rebuilds a model's structure.
- ``run_model`` (``saved``): a finished run's model with its final weights, the one way
  the exports load it.
"""

from ..errors import ExportError
from .onnx import export_onnx, export_run_onnx
from .saved import run_model
from .script import run_training_script, training_script
from .source import model_source

__all__ = ["ExportError", "export_onnx", "export_run_onnx", "model_source", "training_script",
           "run_training_script", "run_model"]
