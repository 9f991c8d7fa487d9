"""The course's own convolutional autoencoders, layer for layer: no linear bottleneck, the code is the
last feature map.

- ``course_denoiser``: its denoising autoencoder. Encoder 3x3 convs 32 -> 16 -> 8 channels, each ReLU then
  2x2 max pool (28 -> 14 -> 7 -> 3); decoder transposed convs 8 -> 8 -> 16 -> 32 with stride 2 (the first
  with kernel 3, 3 -> 7; then kernel 2), ReLU, and a 3x3 conv to the image with a sigmoid: 9,585 parameters
  on MNIST.
- ``course_conv_autoencoder``: its convolutional autoencoder. 3x3 convs 16 -> 4 channels with max pools
  (28 -> 14 -> 7), transposed convs 4 -> 16 -> image (kernel 2, stride 2), sigmoid: 1,077 parameters.

``decoder="upsample_nearest"`` is the course's other decoder: nearest-neighbour upsampling by 2, then a 3x3 conv
with the transposed conv's channels (the checkerboard-free variant the course shows next).
On other image sizes the first transposed kernel is 2 or 3, whatever gets back the encoder's size.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ._registry import register_model
from .autoencoder import OUTPUTS, AutoEncoder

__all__ = ["CourseAutoEncoder", "course_conv_autoencoder", "course_denoiser", "COURSE_DECODERS"]

COURSE_DECODERS = ("transposed", "upsample_nearest")


class CourseUp(nn.Module):
    """Twice the size (exactly ``size``): a stride-2 transposed conv, or nearest upsampling + a 3x3 conv."""

    def __init__(self, c_in: int, c_out: int, size: tuple[int, int], in_size: tuple[int, int], decoder: str):
        super().__init__()
        self.size, self.decoder = tuple(size), decoder
        self.conv: nn.ConvTranspose2d | nn.Conv2d
        if decoder == "transposed":  # out = 2 * (in - 1) + kernel
            kernel = (size[0] - 2 * in_size[0] + 2, size[1] - 2 * in_size[1] + 2)
            self.conv = nn.ConvTranspose2d(c_in, c_out, kernel if kernel[0] != kernel[1] else kernel[0], stride=2)
        else:
            self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x):  # (B, C, h, w) -> (B, C', H, W)
        if self.decoder != "transposed":
            x = F.interpolate(x, size=self.size, mode="nearest")
        return self.conv(x)


class CourseAutoEncoder(AutoEncoder):
    """conv (3x3, same) + ReLU + 2x2 max pool per encoder channel; CourseUp + ReLU per decoder channel;
    then (``out_conv``) a 3x3 conv to the image, or the last CourseUp makes the image; sigmoid."""

    def __init__(
        self, in_shape, enc: Sequence[int], dec: Sequence[int], out_conv: bool, decoder: str, output: str = "sigmoid"
    ):
        c, h, w = in_shape
        sizes = [(h, w)]
        for _ in enc:
            sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
        if min(sizes[-1]) < 1:
            raise ConfigError(
                f"{h}x{w} images are too small for {len(enc)} max pools; use images of at least "
                f"{2 ** len(enc)}x{2 ** len(enc)}."
            )
        super().__init__(in_shape, enc[-1] * sizes[-1][0] * sizes[-1][1], output)
        layers: list[nn.Module] = []
        c_in = c
        for ch in enc:
            layers += [nn.Conv2d(c_in, ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2)]
            c_in = ch
        self.encoder = nn.Sequential(*layers)
        self.map_shape = (enc[-1], *sizes[-1])
        ups: list[nn.Module] = []
        outs = list(dec) if out_conv else [*dec, c]
        for level, ch in zip(range(len(enc) - 1, -1, -1), outs):
            ups.append(CourseUp(c_in, ch, sizes[level], sizes[level + 1], decoder))
            if out_conv or level > 0:
                ups.append(nn.ReLU())
            c_in = ch
        if out_conv:
            ups.append(nn.Conv2d(c_in, c, 3, padding=1))
        if output not in OUTPUTS:
            raise ConfigError(f"output must be one of {', '.join(OUTPUTS)} (got {output!r}).")
        ups.append(OUTPUTS[output]())
        self.decoder = nn.Sequential(*ups)

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, code): the last map, flattened
        return self.encoder(x).flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # (B, code) -> (B, C, H, W)
        return self.decoder(z.view(-1, *self.map_shape))


def _decoder(decoder: str) -> str:
    if decoder not in COURSE_DECODERS:
        raise ConfigError(f"decoder must be {' or '.join(COURSE_DECODERS)} (got {decoder!r}).")
    return decoder


def _build(in_shape, enc, dec, out_conv: bool, decoder: str, code: int | None, output: str) -> CourseAutoEncoder:
    """``code``: None (the last feature map's size, which the image size decides), or that same size."""
    model = CourseAutoEncoder(in_shape, enc, dec, out_conv, _decoder(decoder), output)
    if code not in (None, model.code):
        raise ConfigError(
            f"This network's code is its last feature map, {model.code} numbers for "
            f"{in_shape[1]}x{in_shape[2]} images; it has no code size to set (leave code unset or "
            f"{model.code}), or pick conv_autoencoder for a chosen bottleneck."
        )
    return model


@register_model("course_denoiser", task="reconstruct")
def course_denoiser(
    *,
    in_shape: tuple[int, int, int],
    num_classes: int | None = None,
    decoder: str = "transposed",
    code: int | None = None,
    output: str = "sigmoid",
) -> CourseAutoEncoder:
    """The course's denoising autoencoder: convs 32-16-8 with max pools, transposed convs 8-16-32, a 3x3 conv
    out (9,585 parameters on 28x28 grey images); decoder upsample_nearest: nearest upsampling + 3x3 convs instead."""
    del num_classes
    return _build(in_shape, (32, 16, 8), (8, 16, 32), True, decoder, code, output)


@register_model("course_conv_autoencoder", task="reconstruct")
def course_conv_autoencoder(
    *,
    in_shape: tuple[int, int, int],
    num_classes: int | None = None,
    decoder: str = "transposed",
    code: int | None = None,
    output: str = "sigmoid",
) -> CourseAutoEncoder:
    """The course's convolutional autoencoder: convs 16-4 with max pools, transposed convs 16-image (1,077
    parameters on 28x28 grey images); decoder upsample_nearest: nearest upsampling + 3x3 convs (1,477)."""
    del num_classes
    return _build(in_shape, (16, 4), (16,), False, decoder, code, output)
