from __future__ import annotations

from typing import Callable

import torch.nn as nn

from ..registry import Registry

# Every model registers with its facts:
#   task        what it is trained for: "classify" (class scores) or "reconstruct" (images out)
#   pretrained  it starts from downloaded weights (its builder fetches them)
#   conv_features  it has a ``features`` stack of conv layers (style transfer can use a trained one)
#   reload      parameters that change when a saved model is rebuilt to receive its own state
#               dict: e.g. a transfer model must not fetch its weights again (the checkpoint holds them)
#   choices     a text parameter's allowed values (``Registry.choices``): e.g. {"activation": ACTIVATIONS}
#   reads_runs  its builder takes ``runs_root``: the run store a source run is read from (the engine
#               passes the store the new run is saved in)
MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
ENGINE_PARAMS = ("in_shape", "num_classes", "runs_root")  # passed by the engine, never by a config


def register_model(
    name: str,
    *,
    task: str = "classify",
    pretrained: bool = False,
    conv_features: bool = False,
    reload: dict | None = None,
    reads_runs: bool = False,
    choices: dict | None = None,
):
    return MODELS.register(
        name,
        task=task,
        pretrained=pretrained,
        conv_features=conv_features,
        reload=dict(reload or {}),
        reads_runs=reads_runs,
        choices=dict(choices or {}),
    )
