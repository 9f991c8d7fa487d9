"""Plain convolutional networks: a configurable stack of conv blocks, and LeNet-5.

Follows torchvision's vgg.py: blocks -> class -> builders.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..registry import PARAM_RANGES
from ._registry import MODELS, register_model
from .layers import ACTIVATIONS, MAX_LAYERS, check_dropout, check_sizes, fc_layers
from .layers import activation as make_act

__all__ = ["CNN", "cnn", "lenet5", "BLOCK_KEYS", "block_rows", "blocks_params", "check_units", "architecture"]

POOLS = {"max": lambda: nn.MaxPool2d(2), "avg": lambda: nn.AvgPool2d(2), "none": None}


def conv_block(
    c_in: int, channels: int, kernel: int, batch_norm: bool, pool: str, dropout: float, act: str
) -> nn.Sequential:
    """conv -> [batch norm] -> activation -> [pool] -> [dropout], 'same' padding."""
    if pool not in POOLS:
        raise ConfigError(f"pool must be one of {', '.join(POOLS)} (got {pool!r}).")
    if not (isinstance(kernel, int) and 1 <= kernel <= 11 and kernel % 2 == 1):
        raise ConfigError(f"kernel size must be an odd number from 1 to 11 (got {kernel}).")
    layers: list[nn.Module] = [nn.Conv2d(c_in, channels, kernel, padding=kernel // 2, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(channels))
    layers.append(make_act(act))
    if (make_pool := POOLS[pool]) is not None:
        layers.append(make_pool())
    if dropout:
        layers.append(nn.Dropout2d(check_dropout(dropout)))
    return nn.Sequential(*layers)


def _flat_size(features: nn.Module, in_shape: tuple[int, int, int]) -> int:
    """The flattened size of the features' output, from one blank image in eval mode: no batch-norm
    statistics move and no dropout draws (the built model is exactly what its code builds)."""
    features.eval()
    with torch.no_grad():
        out = features(torch.zeros(1, *in_shape))  # (1, C', H', W')
    features.train()
    return out[0].numel()


class CNN(nn.Module):
    def __init__(
        self,
        features: nn.Sequential,
        flat: int,
        num_classes: int,
        fc: Sequence[int],
        act: str,
        dropout: float,
        flat_dropout: float = 0.0,
    ):
        super().__init__()
        self.features = features
        # flat_dropout: on the flattened features, before the first Linear (the course's CIFAR CNN).
        before = [nn.Dropout(flat_dropout)] if flat_dropout else []
        self.classifier = nn.Sequential(nn.Flatten(), *before, *fc_layers(flat, fc, num_classes, act, dropout))

    def forward(self, x):  # (B, C, H, W) -> (B, classes)
        return self.classifier(self.features(x))


@register_model("cnn", conv_features=True, choices={"activation": ACTIVATIONS, "pool": POOLS})
def cnn(
    *,
    in_shape: tuple[int, int, int],
    num_classes: int,
    channels: Sequence[int] = (16, 32, 64),
    kernel: int = 3,
    batch_norm: bool = True,
    pool: str = "max",
    conv_dropout: float = 0.0,
    fc: Sequence[int] = (128,),
    dropout: float = 0.0,
    activation: str = "relu",
    blocks: Sequence[Mapping[str, Any]] | None = None,
    flat_dropout: float = 0.0,
) -> CNN:
    """Conv blocks (conv, batch norm, activation, pool) then fully connected layers; ``dropout`` after each
    hidden fully connected layer, ``flat_dropout`` on the flattened features before the first one.

    ``blocks`` gives per-block settings, e.g. ``[{"channels": 32, "kernel": 5}, {"channels": 64}]``;
    keys missing from a block take the shared values (kernel, batch_norm, pool, conv_dropout).
    """
    shared: dict[str, Any] = {"kernel": kernel, "batch_norm": batch_norm, "pool": pool, "dropout": conv_dropout}
    if blocks is None:
        specs: list[dict[str, Any]] = [{"channels": c} for c in check_sizes(channels, "channels")]
    else:
        if len(blocks) > MAX_LAYERS:
            raise ConfigError(f"{len(blocks):,} conv blocks asked for; at most {MAX_LAYERS} are built.")
        specs = [dict(b) for b in blocks]
    if not specs:
        raise ConfigError("A CNN needs at least one conv block.")
    layers, c_in, size = [], in_shape[0], min(in_shape[1:])
    for i, spec in enumerate(specs):
        spec = {**shared, **{("dropout" if k == "conv_dropout" else k): v for k, v in spec.items()}}
        unknown = set(spec) - {"channels", "kernel", "batch_norm", "pool", "dropout"}
        if unknown or "channels" not in spec:
            raise ConfigError(
                f"conv block {i + 1}: give 'channels' and optionally kernel, batch_norm, "
                f"pool, dropout (got {sorted(spec)})."
            )
        c = check_sizes(spec["channels"], f"block {i + 1} channels")[0]
        if spec["pool"] != "none":
            size //= 2
            if size < 1:
                raise ConfigError(
                    f"Too many pooling blocks for {in_shape[1]}x{in_shape[2]} images: block "
                    f"{i + 1} would shrink the maps below 1 pixel. Use fewer blocks or pool='none'."
                )
        layers.append(
            conv_block(c_in, c, spec["kernel"], bool(spec["batch_norm"]), spec["pool"], spec["dropout"], activation)
        )
        c_in = c
    features = nn.Sequential(*layers)
    return CNN(
        features,
        _flat_size(features, in_shape),
        num_classes,
        check_sizes(fc, "fc sizes") if fc else (),
        activation,
        check_dropout(dropout),
        check_dropout(flat_dropout),
    )


@register_model("lenet5", conv_features=True, choices={"activation": ACTIVATIONS})
def lenet5(*, in_shape: tuple[int, int, int], num_classes: int, activation: str = "tanh") -> CNN:
    """LeNet-5 (LeCun et al. 1998): two 5x5 conv + average-pool stages, then 120-84 units."""
    if min(in_shape[1:]) < 16:
        raise ConfigError(f"LeNet-5 needs images of at least 16x16 (got {in_shape[1]}x{in_shape[2]}).")
    pad = 2 if min(in_shape[1:]) < 32 else 0  # 28x28 MNIST is padded to the original 32x32
    features = nn.Sequential(
        nn.Conv2d(in_shape[0], 6, 5, padding=pad),
        make_act(activation),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        make_act(activation),
        nn.AvgPool2d(2),
    )
    return CNN(features, _flat_size(features, in_shape), num_classes, (120, 84), activation, 0.0)


# -- the conv blocks as table rows (the Train page's layer table), and the architecture they build --

BLOCK_KEYS = ("channels", "kernel", "pool", "batch_norm")  # what a table row sets for its block
DEFAULTS = {p.name: p.default for p in inspect.signature(cnn).parameters.values() if p.default is not p.empty}


def block_rows(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per conv block of the CNN that ``params`` build, with every key of ``BLOCK_KEYS`` filled
    (a block's own value, else the shared one, else the builder's default)."""
    p = {**DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
    shared = {k: p[k] for k in BLOCK_KEYS[1:]}
    if p["blocks"] is None:
        channels = (p["channels"],) if isinstance(p["channels"], int) else p["channels"]
        return [{"channels": c, **shared} for c in channels]
    return [
        {**shared, **{k: b[k] for k in BLOCK_KEYS if k in b}}
        if isinstance(b, Mapping)
        else {**shared, "channels": None}
        for b in p["blocks"]
    ]


def _whole(value: Any, what: str, spec: tuple) -> int:
    """A table cell as a whole number within the registry range ``spec`` = (low, high, step)."""
    lo, hi, step = spec
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value == int(value)
        and lo <= value <= hi
        and (int(value) - lo) % step == 0
    )
    if not ok:
        shown = "empty" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value!r}"
        kind = "an odd whole number" if step == 2 and lo % 2 else "a whole number"
        raise ConfigError(f"{what} is {shown}: give {kind} from {lo} to {hi}.")
    return int(value)


def check_units(values: Sequence[Any], what: str, key: str = "units") -> list[int]:
    """Layer sizes from a one-column table (cells may be floats, None or text), each within
    ``PARAM_RANGES[key]``; a ConfigError names the row."""
    return [_whole(v, f"{what}, row {i + 1}", PARAM_RANGES[key]) for i, v in enumerate(values)]


def blocks_params(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Table rows -> the CNN's parameters, checked against the registry ranges (a ConfigError names the
    block and the cell). The shortest form: ``channels`` plus shared values when every block agrees,
    else ``blocks``; values equal to the builder's defaults are left out."""
    if not rows:
        raise ConfigError("A CNN needs at least one conv block: add a row to the table.")
    kernel_range = MODELS.ranges("cnn")["kernel"]
    clean = []
    for i, r in enumerate(rows):
        pool = r.get("pool")
        if pool not in POOLS:
            raise ConfigError(f"Conv block {i + 1}: pooling must be one of {', '.join(POOLS)} (got {pool!r}).")
        clean.append(
            {
                "channels": _whole(r.get("channels"), f"Conv block {i + 1}: channels", PARAM_RANGES["channels"]),
                "kernel": _whole(r.get("kernel"), f"Conv block {i + 1}: kernel", kernel_range),
                "pool": pool,
                "batch_norm": bool(r.get("batch_norm")),
            }
        )
    shared = {k: clean[0][k] for k in BLOCK_KEYS[1:]}
    if any({k: c[k] for k in BLOCK_KEYS[1:]} != shared for c in clean):
        return {"blocks": clean}
    out = {"channels": [c["channels"] for c in clean], **shared}
    return {k: v for k, v in out.items() if v != (list(DEFAULTS[k]) if k == "channels" else DEFAULTS[k])}


def architecture(
    name: str, params: Mapping[str, Any], in_shape: tuple[int, int, int], num_classes: int
) -> list[dict[str, Any]]:
    """What a CNN (``cnn``) or an MLP (``mlp``) of ``params`` is, stage by stage: {"layer", "what",
    "output" (C, H, W) or (N,), "params"}, from the model built on the meta device (no memory for its
    weights, so any size is instant). Raises the builder's ConfigError for bad settings."""
    with torch.device("meta"):
        model = MODELS.call(name, in_shape=tuple(in_shape), num_classes=num_classes, **dict(params)).eval()
        x = torch.zeros(1, *in_shape)
        rows = [{"layer": "input", "what": "image", "output": list(in_shape), "params": 0}]
        stages = [b for b in model.features if isinstance(b, nn.Sequential)] if isinstance(model, CNN) else []
        for i, block in enumerate(stages):
            x = block(x)
            conv = block[0]
            assert isinstance(conv, nn.Conv2d)  # conv_block starts with its conv
            what = [
                f"{conv.kernel_size[0]}x{conv.kernel_size[1]} conv",
                *(
                    "batch norm" if isinstance(m, nn.BatchNorm2d) else f"{type(m).__name__[:3].lower()} pool"
                    for m in block
                    if isinstance(m, (nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d))
                ),
            ]
            rows.append(
                {
                    "layer": f"conv {i + 1}",
                    "what": ", ".join(what),
                    "output": list(x.shape[1:]),
                    "params": sum(q.numel() for q in block.parameters()),
                }
            )
        head = model.classifier if isinstance(model, CNN) else model.net
        linears = [m for m in head if isinstance(m, nn.Linear)]
        x = x.flatten(1)
        rows.append({"layer": "flatten", "what": "one vector", "output": [x.shape[1]], "params": 0})
        for i, m in enumerate(linears):
            last = i == len(linears) - 1
            rows.append(
                {
                    "layer": "output" if last else f"fc {i + 1}",
                    "what": "class scores" if last else "fully connected",
                    "output": [m.out_features],
                    "params": m.weight.numel() + (m.bias.numel() if m.bias is not None else 0),
                }
            )
    return rows
