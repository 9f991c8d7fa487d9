"""What style transfer's losses read from a feature network: ``Extractor`` (the stack cut after its last
tapped layer, run as a plain loop that keeps the tapped outputs) and the two losses' kernels,
``gram_matrix`` (style) and ``tv_loss`` (smoothness)."""

from __future__ import annotations

import torch
import torch.nn as nn

from .features import FeatureNet

__all__ = ["Extractor", "gram_matrix", "tv_loss"]


class Extractor(nn.Module):
    """Normalise the image, run the feature stack up to the last tapped layer, return the tapped outputs."""

    mean: torch.Tensor  # (1, C, 1, 1) buffers
    std: torch.Tensor

    def __init__(self, net: FeatureNet, taps: set[str], channels_last: bool):
        super().__init__()
        names = net.names()
        last = max(names.index(t) for t in taps)
        self.names = names[: last + 1]
        mods = []
        for i, (_, m) in enumerate(net.layers[: last + 1]):
            if isinstance(m, nn.ReLU):
                # In place saves a copy per layer, except right after a tapped layer, whose output
                # the losses still hold.
                m = nn.ReLU(inplace=i > 0 and names[i - 1] not in taps)
            mods.append(m)
        self.body = nn.ModuleList(mods)
        self.taps = taps
        self.gray = net.in_channels == 1
        self.register_buffer("mean", torch.tensor(net.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(net.std).view(1, -1, 1, 1))
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.eval().requires_grad_(False)

    def forward(self, image: torch.Tensor, want: set[str] | None = None) -> dict[str, torch.Tensor]:
        want = self.taps if want is None else want
        x = image  # (1, 3, H, W) in [0, 1]
        if self.gray:
            x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x = ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)
        out: dict[str, torch.Tensor] = {}
        for name, layer in zip(self.names, self.body):
            x = layer(x)
            if name in want:
                out[name] = x
                if len(out) == len(want):
                    break  # nothing deeper is needed for this pass
        return out


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): channel correlations sum_p F[c, p] F[d, p], divided by C*H*W as in the tutorial."""
    b, c, h, w = f.shape
    if f.is_contiguous(memory_format=torch.channels_last) and not f.is_contiguous():
        m = f.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view, no copy: (B, HW, C)
        g = m.mT @ m
    else:
        m = f.reshape(b, c, h * w)  # (B, C, HW)
        g = m @ m.mT
    return g / (c * h * w)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of horizontal and vertical neighbours."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
