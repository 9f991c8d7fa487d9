"""The style-transfer loop (Gatys et al. 2016) as an iterator of events.

The reference is PyTorch's neural-style tutorial: VGG19 features, content loss at ``conv_4``, style
losses from Gram matrices at ``conv_1`` .. ``conv_5``, L-BFGS, style weight 1e6 against content
weight 1. One *step* is one evaluation of the loss and its gradient (the tutorial counts its 300
steps the same way), so ``steps=300`` here and there do the same work.

What differs from the tutorial's structure, for speed (``benchmarks/style_bench.py`` measures both
side by side):
- the network is cut after the last layer in use and run as a plain loop that keeps the tapped
  outputs, no loss modules spliced into a copied Sequential; ReLUs stay in place except right after
  a tapped layer (``Extractor``);
- content features and style Gram matrices are computed once, under ``no_grad``;
- weights never get gradients, and the network runs channels_last.

``stylize(content, style, settings)`` yields ``start``, ``step`` (every step: losses; every
``preview_every`` steps also the current image as uint8 HxWx3) and one final event: ``done``,
``stopped`` (Stop keeps the current result) or ``diverged``, each with the image so far.
``run_stylize`` also turns bad input and running out of memory into a final ``error`` event.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from playground.device import resolve_device
from playground.errors import PlaygroundError

from .extract import Extractor, gram_matrix, tv_loss
from .features import FeatureNet, feature_net
from .images import load_image, preserve_colour, to_uint8
from .settings import STYLE_OPTIMIZERS, StyleSettings

__all__ = ["stylize", "run_stylize"]


def _layers(s: StyleSettings, net: FeatureNet) -> tuple[tuple[str, ...], dict[str, float]]:
    """The content layers and the weighted style layers in use (a weight of 0 switches a term off)."""
    content_layers = tuple(s.content_layers) if s.content_layers is not None else net.default_content
    style_layers = dict(s.style_layers) if s.style_layers is not None else dict(net.default_style)
    if s.content_weight == 0:
        content_layers = ()
    style_layers = {k: float(v) for k, v in style_layers.items() if v > 0} if s.style_weight > 0 else {}
    net.check(content_layers, style_layers)
    return content_layers, style_layers


class _Objective:
    """The weighted content, style and TV losses of an image against targets computed once."""

    def __init__(
        self,
        ext: Extractor,
        s: StyleSettings,
        content_layers: tuple[str, ...],
        style_layers: dict[str, float],
        content_img: torch.Tensor,
        style_img: torch.Tensor,
    ) -> None:
        self.ext, self.s = ext, s
        self.content_layers, self.style_layers = content_layers, style_layers
        with torch.no_grad():  # targets once: the content's features, the style's Gram matrices
            self.c_targets = {k: v.detach().clone() for k, v in ext(content_img, set(content_layers)).items()}
            self.s_targets = {k: gram_matrix(v) for k, v in ext(style_img, set(style_layers)).items()}

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        s = self.s
        feats = self.ext(image)
        zero = image.new_zeros(())
        c_loss = sum((F.mse_loss(feats[k], self.c_targets[k]) for k in self.content_layers), zero) * s.content_weight
        s_loss = (
            sum((F.mse_loss(gram_matrix(feats[k]), self.s_targets[k]) * w for k, w in self.style_layers.items()), zero)
            * s.style_weight
        )
        t_loss = tv_loss(image) * s.tv_weight if s.tv_weight > 0 else zero
        return {"content": c_loss, "style": s_loss, "tv": t_loss, "total": c_loss + s_loss + t_loss}


def _start_image(content_img: torch.Tensor, s: StyleSettings, device: torch.device) -> torch.Tensor:
    gen = torch.Generator(device="cpu").manual_seed(s.seed)
    if s.init == "noise":
        image = torch.rand(content_img.shape, generator=gen).to(device)
    else:
        image = content_img.clone()
    return image.requires_grad_(True)


def _diverged(total: float, step: int) -> dict[str, Any]:
    return {
        "kind": "diverged",
        "message": (
            f"The loss became {total} at step {step}: it overflowed (float32 holds up to about 3e38), "
            "so the run stopped and keeps the last good image. Lower the style, content or TV weight "
            f"(the tutorial uses style 1e6, content 1)."
        ),
    }


def _sig(v: float) -> float:
    return float(f"{v:.6g}")


def _optimise(
    image: torch.Tensor,
    opt: Any,
    closure: Callable[[], torch.Tensor],
    losses: dict[str, float | torch.Tensor],
    s: StyleSettings,
    controls: Any,
    preview_every: int,
    picture: Callable[[torch.Tensor], np.ndarray],
    t0: float,
    where: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    """The optimisation: a ``step`` event per step (the picture every ``preview_every``), then the final
    event with the image so far (``where``: its size and device)."""
    t_opt = time.perf_counter()
    good = image.detach().clone()  # the last image whose loss was finite
    final: dict[str, Any] | None
    step, final = 0, None
    vals = {k: float(v) for k, v in losses.items()}  # all 0.0 before the first step
    while step < s.steps:
        if controls is not None and getattr(controls, "stopped", False):
            final = {"kind": "stopped", "message": f"Stopped at step {step} of {s.steps}; the result so far is kept."}
            break
        before = image.detach().clone()  # the image this step's loss is evaluated at
        opt.step(closure)
        step += 1
        vals = {k: float(v) for k, v in losses.items()}  # the sync point
        if not all(math.isfinite(v) for v in vals.values()):
            with torch.no_grad():
                image.copy_(before if bool(torch.isfinite(before).all()) else good)
            final = _diverged(vals["total"], step)
            break
        with torch.no_grad():
            image.clamp_(0, 1)  # the tutorial's projection back into the valid pixel range
        good = before
        event = {
            "kind": "step",
            "step": step,
            **{k: _sig(v) for k, v in vals.items()},
            "t": round(time.perf_counter() - t0, 3),
        }
        if preview_every and (step % preview_every == 0 or step == s.steps):
            event["image"] = picture(image.detach())
        yield event
    seconds = time.perf_counter() - t_opt
    final = final or {"kind": "done"}
    final.update(
        {
            "step": step,
            **{k: _sig(v) for k, v in vals.items()},
            "seconds": round(seconds, 3),
            "seconds_per_step": round(seconds / max(step, 1), 4),
            "t": round(time.perf_counter() - t0, 3),
            **where,
            "image": picture(image.detach()),
        }
    )
    yield final


def stylize(
    content: Any,
    style: Any,
    settings: StyleSettings | None = None,
    *,
    controls: Any = None,
    preview_every: int = 10,
    net: FeatureNet | None = None,
    store_root: str | None = None,
    channels_last: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Style transfer as events (see the module docstring). ``content``/``style``: anything ``load_image``
    takes (default: the names in ``settings``). ``controls``: anything with a ``stopped`` property.
    Bad input raises PlaygroundError before the first event."""
    t0 = time.perf_counter()
    s = (settings or StyleSettings()).validate()
    device = resolve_device(s.device)
    content_img = load_image(s.content if content is None else content, s.size, "content image").to(device)
    style_img = load_image(s.style if style is None else style, s.size, "style image").to(device)
    net = net or feature_net(s.backbone, device=device, store_root=store_root, progress=progress)
    content_layers, style_layers = _layers(s, net)
    ext = Extractor(net, set(content_layers) | set(style_layers), channels_last).to(device)
    objective = _Objective(ext, s, content_layers, style_layers, content_img, style_img)
    image = _start_image(content_img, s, device)
    opt = STYLE_OPTIMIZERS.call(s.optimizer, [image], lr=s.lr)
    losses: dict[str, float | torch.Tensor] = {"content": 0.0, "style": 0.0, "tv": 0.0, "total": 0.0}  # on the device

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = objective(image)
        terms["total"].backward()
        losses.update({k: v.detach() for k, v in terms.items()})
        return terms["total"]

    def picture(x: torch.Tensor) -> np.ndarray:
        return to_uint8(preserve_colour(x, content_img) if s.preserve_colour else x)

    h, w = content_img.shape[-2:]
    setup = time.perf_counter() - t0
    yield {
        "kind": "start",
        "device": str(device),
        "backbone": net.label,
        "lower_quality": net.lower_quality,
        "size": [int(h), int(w)],
        "style_size": list(style_img.shape[-2:]),
        "steps": s.steps,
        "content_layers": list(content_layers),
        "style_layers": style_layers,
        "notes": list(net.notes),
        "setup_seconds": round(setup, 3),
        "t": round(setup, 3),
    }

    yield from _optimise(
        image,
        opt,
        closure,
        losses,
        s,
        controls,
        preview_every,
        picture,
        t0,
        {"size": [int(h), int(w)], "device": str(device)},
    )


def run_stylize(settings: StyleSettings, content: Any = None, style: Any = None, **kw: Any) -> Iterator[dict[str, Any]]:
    """``stylize`` with any PlaygroundError turned into an ``error`` event (for workers and the CLI)."""
    try:
        yield from stylize(content, style, settings, **kw)
    except PlaygroundError as e:
        yield {"kind": "error", "message": str(e)}
    except (RuntimeError, MemoryError) as e:  # out of memory, mostly: say what to change
        yield {
            "kind": "error",
            "message": f"The transfer failed ({type(e).__name__}: {str(e)[:300]}). A smaller size needs less memory.",
        }
