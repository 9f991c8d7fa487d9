"""Autoencoders: an MLP one and a convolutional one, with a chosen bottleneck.

The encoder squeezes an image into ``code`` numbers; the decoder has to undo
the compression. Both models expose ``encode(x) -> (B, code)`` and
``decode(z) -> (B, C, H, W)`` (the latent-space views use them) and always
return exactly the input's shape, odd sizes such as 28x28 -> 14 -> 7 included:
the decoder upsamples to the sizes the encoder recorded on the way down.

Decoders of the convolutional model:
- ``transposed``: ConvTranspose2d(kernel 3, stride 2); its kernel overlaps itself
  unevenly, which paints the checkerboard artefacts of Odena et al. (2016);
- ``upsample_nearest`` / ``upsample_bilinear``: resize, then a 3x3 convolution.

The output activation matches the targets' range: ``sigmoid`` for pixels in
[0, 1] (MSE or BCE loss), ``linear`` for unbounded outputs (MSE only).
Follows torchvision's vgg.py: blocks -> class -> builders.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError
from ._registry import register_model
from .layers import ACTIVATIONS, check_sizes
from .layers import activation as make_act

__all__ = ["AutoEncoder", "MLPAutoEncoder", "ConvAutoEncoder", "autoencoder", "conv_autoencoder", "DECODERS", "OUTPUTS"]

DECODERS = ("transposed", "upsample_nearest", "upsample_bilinear")
OUTPUTS = {"sigmoid": nn.Sigmoid, "linear": nn.Identity}


def _check_code(code: int, in_shape: tuple[int, int, int]) -> int:
    n = in_shape[0] * in_shape[1] * in_shape[2]
    if isinstance(code, bool) or not isinstance(code, int) or code < 1:
        raise ConfigError(f"The bottleneck (code) size must be a whole number of at least 1 (got {code!r}).")
    if code >= n:
        raise ConfigError(
            f"A bottleneck of {code} is not smaller than the input ({in_shape[0]}x{in_shape[1]}x"
            f"{in_shape[2]} = {n} numbers): nothing would be compressed. Use a code size below {n}, "
            f"e.g. {min(32, n // 4) or 1}."
        )
    return code


def _check_output(output: str) -> nn.Module:
    if output not in OUTPUTS:
        raise ConfigError(
            f"output must be one of {', '.join(OUTPUTS)} (got {output!r}): sigmoid for pixels "
            "in [0, 1], linear for unbounded values."
        )
    return OUTPUTS[output]()


class AutoEncoder(nn.Module):
    """encoder -> code -> decoder; ``output`` names the final activation."""

    #: what the model is trained to do (tasks refuse models that do something else)
    task = "reconstruct"

    def __init__(self, in_shape: tuple[int, int, int], code: int, output: str):
        super().__init__()
        self.in_shape, self.code, self.output = tuple(in_shape), code, output

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, code)
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # (B, code) -> (B, C, H, W)
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class MLPAutoEncoder(AutoEncoder):
    def __init__(self, in_shape, code, hidden: Sequence[int], act: str, output: str):
        super().__init__(in_shape, code, output)
        n = in_shape[0] * in_shape[1] * in_shape[2]
        enc: list[nn.Module] = [nn.Flatten()]
        width = n
        for h in hidden:
            enc += [nn.Linear(width, h), make_act(act)]
            width = h
        enc.append(nn.Linear(width, code))
        dec: list[nn.Module] = []
        width = code
        for h in reversed(hidden):
            dec += [nn.Linear(width, h), make_act(act)]
            width = h
        dec += [nn.Linear(width, n), _check_output(output), nn.Unflatten(1, tuple(in_shape))]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def encode(self, x):
        return self.encoder(x)  # (B, code)

    def decode(self, z):
        return self.decoder(z)  # (B, C, H, W)


class Up(nn.Module):
    """Double the map size (to exactly ``size``), with a transposed conv or resize + conv."""

    def __init__(self, c_in: int, c_out: int, size: tuple[int, int], in_size: tuple[int, int], decoder: str):
        super().__init__()
        self.size, self.decoder = size, decoder
        self.conv: nn.ConvTranspose2d | nn.Conv2d
        if decoder == "transposed":
            # out = 2 * in - 1 + output_padding: the padding picks the encoder's size (even or odd).
            pad = (size[0] - (2 * in_size[0] - 1), size[1] - (2 * in_size[1] - 1))
            self.conv = nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=pad)
        else:
            self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x):  # (B, C, h, w) -> (B, C', H, W)
        if self.decoder == "transposed":
            return self.conv(x)
        mode = self.decoder.removeprefix("upsample_")
        x = nn.functional.interpolate(
            x, size=self.size, mode=mode, **({"align_corners": False} if mode == "bilinear" else {})
        )
        return self.conv(x)


class ConvAutoEncoder(AutoEncoder):
    """Strided 3x3 convs down, a linear bottleneck of ``code`` numbers, then ``Up`` blocks back."""

    def __init__(self, in_shape, code, channels: Sequence[int], decoder: str, batch_norm: bool, act: str, output: str):
        super().__init__(in_shape, code, output)
        c, h, w = in_shape
        sizes = [(h, w)]
        for _ in channels:  # each stride-2 conv: ceil(size / 2)
            sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
        if min(sizes[-2]) < 2:
            raise ConfigError(
                f"{len(channels)} downsampling blocks are too many for {h}x{w} images; "
                f"use fewer channels entries (each one halves the size)."
            )

        def norm(ch: int) -> list[nn.Module]:
            return [nn.BatchNorm2d(ch)] if batch_norm else []

        enc: list[nn.Module] = []
        c_in = c
        for ch in channels:
            enc += [nn.Conv2d(c_in, ch, 3, stride=2, padding=1, bias=not batch_norm), *norm(ch), make_act(act)]
            c_in = ch
        self.encoder = nn.Sequential(*enc)
        self.map_shape = (channels[-1], *sizes[-1])
        flat = channels[-1] * sizes[-1][0] * sizes[-1][1]
        self.to_code = nn.Linear(flat, code)
        self.from_code = nn.Sequential(nn.Linear(code, flat), make_act(act))
        dec: list[nn.Module] = []
        # Back down the channel ladder; the last Up block makes the image itself, so the output pixels
        # come straight from the chosen upsampling (and show its artefacts, if any).
        for level in range(len(channels) - 1, -1, -1):
            ch = channels[level - 1] if level > 0 else c
            dec.append(Up(c_in, ch, sizes[level], sizes[level + 1], decoder))
            if level > 0:
                dec += [*norm(ch), make_act(act)]
            c_in = ch
        dec.append(_check_output(output))
        self.decoder = nn.Sequential(*dec)

    def encode(self, x):
        return self.to_code(self.encoder(x).flatten(1))  # (B, code)

    def decode(self, z):
        return self.decoder(self.from_code(z).view(-1, *self.map_shape))  # (B, C, H, W)


@register_model("autoencoder", task="reconstruct", choices={"activation": ACTIVATIONS, "output": OUTPUTS})
def autoencoder(
    *,
    in_shape: tuple[int, int, int],
    num_classes: int | None = None,
    code: int = 32,
    hidden: Sequence[int] = (256,),
    activation: str = "relu",
    output: str = "sigmoid",
) -> MLPAutoEncoder:
    """MLP autoencoder: flatten -> hidden -> code -> hidden -> image (task: reconstruct)."""
    del num_classes  # an autoencoder's output is the image, not class scores
    return MLPAutoEncoder(
        in_shape, _check_code(code, in_shape), check_sizes(hidden, "hidden sizes") if hidden else (), activation, output
    )


@register_model(
    "conv_autoencoder", task="reconstruct", choices={"activation": ACTIVATIONS, "output": OUTPUTS, "decoder": DECODERS}
)
def conv_autoencoder(
    *,
    in_shape: tuple[int, int, int],
    num_classes: int | None = None,
    code: int = 32,
    channels: Sequence[int] = (16, 32),
    decoder: str = "upsample_nearest",
    batch_norm: bool = True,
    activation: str = "relu",
    output: str = "sigmoid",
) -> ConvAutoEncoder:
    """Convolutional autoencoder: strided convs -> code -> transposed or upsample+conv decoder (task: reconstruct)."""
    del num_classes
    if decoder not in DECODERS:
        raise ConfigError(f"decoder must be one of {', '.join(DECODERS)} (got {decoder!r}).")
    channels = check_sizes(channels, "channels")
    if not channels:
        raise ConfigError("A convolutional autoencoder needs at least one channels entry, e.g. 16, 32.")
    return ConvAutoEncoder(
        in_shape, _check_code(code, in_shape), channels, decoder, bool(batch_norm), activation, output
    )
