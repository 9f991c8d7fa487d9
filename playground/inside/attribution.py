"""Which input pixels a class score depends on.

- ``saliency``: |d score / d input|, max over channels (Simonyan et al. 2013);
- ``grad_cam``: ReLU of the gradient-weighted sum of a conv layer's maps, upsampled to the input
  (Selvaraju et al. 2017); ``last_conv`` is the layer it uses by default."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from .trained import Trained

__all__ = ["saliency", "grad_cam", "last_conv"]


def _target(logits: torch.Tensor, target: int | None, n: int) -> int:
    if target is None:
        return int(logits.argmax())
    if not 0 <= target < n:
        raise ConfigError(f"class index must be between 0 and {n - 1} (got {target}).")
    return int(target)


def saliency(tr: Trained, image: torch.Tensor, target: int | None = None) -> dict[str, Any]:
    """Vanilla gradient saliency: max over channels of |d logit[target] / d input|, scaled to [0, 1]."""
    tr.check_image("Saliency", factor=2)
    x = tr.to_input(image).requires_grad_(True)  # (1, C, H, W)
    logits = tr.model(x)
    t = _target(logits[0], target, logits.shape[1])
    (grad,) = torch.autograd.grad(logits[0, t], x)
    sal = grad[0].abs().amax(0)  # (H, W)
    sal = sal / sal.max().clamp_min(1e-12)
    return {"map": sal.numpy(), "target": t, "class": tr.classes[t]}


def last_conv(model: nn.Module) -> str:
    """The name of the last conv layer (where Grad-CAM looks by default)."""
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ConfigError(
            "Grad-CAM needs a convolutional layer; this model has none (an MLP has no spatial "
            "maps). Use the saliency map instead, or pick a CNN run."
        )
    return convs[-1]


def grad_cam(tr: Trained, image: torch.Tensor, target: int | None = None, layer: str | None = None) -> dict[str, Any]:
    """Grad-CAM: ReLU(sum_k alpha_k A_k), alpha_k the spatial mean of d logit[target] / d A_k,
    at ``layer`` (default: the last conv layer), bilinearly upsampled to the input size, in [0, 1]."""
    tr.check_image("Grad-CAM", factor=2)
    layer = layer or last_conv(tr.model)
    mods = dict(tr.model.named_modules())
    if layer not in mods:
        raise ConfigError(f"No layer named {layer!r} in this model.")
    store: dict[str, torch.Tensor] = {}
    h = mods[layer].register_forward_hook(lambda _m, _i, o: store.__setitem__("a", o))
    try:  # the input asks for gradients so the maps have them even behind frozen layers
        logits = tr.model(tr.to_input(image).requires_grad_(True))
    finally:
        h.remove()
    a = store["a"]  # (1, K, h, w)
    if a.ndim != 4:
        raise ConfigError(f"Layer {layer!r} has no spatial maps; Grad-CAM needs a conv layer's output.")
    t = _target(logits[0], target, logits.shape[1])
    (g,) = torch.autograd.grad(logits[0, t], a)
    weights = g.mean(dim=(2, 3), keepdim=True)  # (1, K, 1, 1)
    cam = F.relu((weights * a).sum(1, keepdim=True))  # (1, 1, h, w)
    cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = (cam / cam.max().clamp_min(1e-12)).detach()
    return {"map": cam.numpy(), "target": t, "class": tr.classes[t], "layer": layer, "layer_size": tuple(a.shape[-2:])}
