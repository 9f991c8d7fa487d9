"""Images in and out: the one decoder every image a user gives goes through, and the display helpers.

Decoding: ``probe`` (the header only), ``decode`` (an 8-bit PIL image in "L" or "RGB") and
``decode_tensor`` (a contiguous uint8 (C, H, W) tensor, optionally scaled to cover a size and
centre-cropped: ``cover``) take a path, the bytes of an upload or a PIL image, and behave the same
for every caller (the image-folder data set, the Inside page's upload, the transfer page's photo,
style transfer's content and style images):

* the pixel count is read from the header and checked before any pixel is decoded: at most
  ``settings().max_image_mp`` megapixels (PLAYGROUND_MAX_IMAGE_MP), and never more than Pillow's own
  decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, read here, never changed). Pillow's
  DecompressionBombWarning (whatever the warning filters) and DecompressionBombError end in the same
  refusal;
* EXIF orientation applied; the first frame of an animation or of a multi-page file;
* alpha (RGBA, LA, PA, a palette or a grey/RGB image with a transparent colour) composited over white;
  palette, CMYK, YCbCr and 1-bit images converted;
* 16-bit and 32-bit images scaled to 8 bits by their range, never clipped: I;16 by 0..65535, 32-bit
  integers by the smallest of 0..255 and 0..65535 that holds them (else their min..max), floats by
  0..1 (else their min..max);
* anything else (an SVG, a web page, a truncated or corrupt file, a colour mode with no RGB form) is
  refused with an ``ImageError`` (a ConfigError, ``playground.image_errors``) whose message names the
  file and the problem, and whose ``reason`` is the short form (for lists of skipped files).

A JPEG is decoded at a reduced scale (Pillow's ``draft``) when the caller says how large it needs it.

Display: ``hwc`` and ``float_images`` turn tensors in the playground's layouts into the numpy arrays
``st.image`` and plotly show, so grey images stay (H, W) and colour ones (H, W, 3) everywhere, and
float images are clipped and rounded the same way.
"""

from __future__ import annotations

import base64
import io
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from .errors import ConfigError
from .image_errors import (
    FORMATS,
    ImageError,
    PixelLimit,
    Source,
    bomb,
    broken,
    check_pixels,
    label_of,
    not_an_image,
    pixel_limit,
)
from .memory import LARGE_PIXELS, decoding_slot

__all__ = [
    "Header",
    "GREY_MODES",
    "probe",
    "decode",
    "rgba",
    "decode_tensor",
    "decoding_slot",
    "LARGE_PIXELS",
    "cover",
    "hwc",
    "float_images",
    "png_data_url",
]

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_DEEP = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})  # over 8 bits: Pillow's convert would clip
_ALPHA = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# What Pillow raises on hostile files, beyond OSError (fuzzing finds all of these).
_PIL_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    ZeroDivisionError,
)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


@dataclass(frozen=True)
class Header:
    """What an image's header says, before any pixel is decoded."""

    width: int
    height: int
    mode: str
    format: str | None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def grey(self) -> bool:
        return self.mode in GREY_MODES


# -- decoding ---------------------------------------------------------------------------------------


@contextmanager
def _opened(source: Source, label: str, limit: PixelLimit) -> Iterator[Image.Image]:
    """Pillow's ``Image.open`` (the header only), every failure an ImageError; closed on the way out."""
    if isinstance(source, Image.Image):
        yield source
        return
    try:
        im = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except _BOMB as e:
        raise bomb(label, e, limit) from None
    except UnidentifiedImageError:
        raise not_an_image(source, label) from None
    except _PIL_ERRORS as e:
        raise broken(label, e) from None
    try:
        yield im
    finally:
        im.close()


def probe(source: Source, *, label: str | None = None, limit: PixelLimit | None = None) -> Header:
    """The header of one image, its pixel count checked against the cap; nothing decoded. Raises ImageError."""
    label, limit = label_of(source, label), limit or pixel_limit()
    with _opened(source, label, limit) as im:
        check_pixels(im.size, label, limit)
        return Header(im.size[0], im.size[1], im.mode, im.format)


def decode(
    source: Source,
    *,
    mode: str | None = None,
    label: str | None = None,
    at_least: int | None = None,
    limit: PixelLimit | None = None,
) -> Image.Image:
    """One image (a path, upload bytes or a PIL image) -> a loaded 8-bit PIL image in ``mode``.

    ``mode``: "RGB", "L", or None for "L" when the image is grey and "RGB" otherwise. ``at_least``: a
    JPEG may be decoded at a reduced scale, and an image over LARGE_PIXELS shrunk by a whole factor, that
    keep both sides at least twice this long. ``label`` starts
    the error messages ("The content image file x.png"); ``limit``: ``pixel_limit()`` when None.
    Raises ImageError (see the module docstring)."""
    if mode not in (None, "RGB", "L"):
        raise ConfigError(f"Images are decoded to 'RGB' or 'L' (got {mode!r}).")
    label, limit = label_of(source, label), limit or pixel_limit()
    with _opened(source, label, limit) as im:
        check_pixels(im.size, label, limit)
        target = mode or ("L" if im.mode in GREY_MODES else "RGB")
        try:
            if at_least and not isinstance(source, Image.Image):  # JPEG (and MPO) only; never the caller's image
                im.draft(target, (at_least, at_least))
            im.load()
            factor = min(im.size) // (2 * at_least) if at_least and im.width * im.height > LARGE_PIXELS else 0
            im = im.reduce(factor) if factor >= 2 else im  # a large one shrinks first: the copies below are small
            im = ImageOps.exif_transpose(im)  # a new image: the file can close
        except _BOMB as e:
            raise bomb(label, e, limit) from None
        except _PIL_ERRORS as e:
            raise broken(label, e) from None
        return _to_mode(im, target, label)


def rgba(source: Source, *, label: str | None = None, limit: PixelLimit | None = None) -> np.ndarray:
    """One image -> uint8 (H, W, 4), alpha kept (a canvas's strokes); its pixel count checked first. ImageError."""
    label, limit = label_of(source, label), limit or pixel_limit()
    with _opened(source, label, limit) as im:
        check_pixels(im.size, label, limit)
        try:
            return np.asarray(im.convert("RGBA"))
        except (*_BOMB, *_PIL_ERRORS) as e:
            raise (bomb(label, e, limit) if isinstance(e, _BOMB) else broken(label, e)) from None


def _to_mode(im: Image.Image, target: str, label: str) -> Image.Image:
    if im.mode in _DEEP:
        im = Image.fromarray(_deep_to_8bit(np.asarray(im), im.mode))  # "L"
    elif im.mode in _ALPHA or "transparency" in im.info:
        rgba = im.convert("RGBA")  # palette and colour-key transparency too
        im = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), rgba)
    try:
        if im.mode not in ("1", "L", "RGB"):  # P, CMYK, YCbCr, RGBA (opaque now), ...
            im = im.convert("RGB")
        return im.convert(target)  # always a new image
    except ValueError:
        raise ImageError(
            f"{label} uses the colour mode {im.mode}, which has no RGB form here. Save it as an "
            f"RGB or greyscale {FORMATS}.",
            f"colour mode {im.mode}",
        ) from None


def _deep_to_8bit(a: np.ndarray, mode: str) -> np.ndarray:
    """16-bit and 32-bit pixels -> uint8, scaled by their range (see the module docstring)."""
    a = a.astype(np.float32)
    if mode == "F":
        a = np.where(np.isfinite(a), a, 0.0)
        lo, hi = (0.0, 1.0) if a.min() >= 0 and a.max() <= 1 else (float(a.min()), float(a.max()))
    elif mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    else:  # 32-bit integers
        lo, top = min(0.0, float(a.min())), float(a.max())
        hi = top if lo < 0 else next(v for v in (255.0, 65535.0, top) if top <= v)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip((a - lo) * scale, 0, 255).round().astype(np.uint8)  # the clip only guards the rounding


def decode_tensor(
    source: Source,
    *,
    channels: int = 3,
    size: tuple[int, int] | None = None,
    at_least: int | None = None,
    label: str | None = None,
    limit: PixelLimit | None = None,
) -> torch.Tensor:
    """One image -> a contiguous uint8 (C, H, W) tensor with ``channels`` 1 (grey) or 3 (RGB).

    ``size`` (h, w): scaled (antialiased, aspect kept) to cover it, then centre-cropped to it; an image of
    over LARGE_PIXELS is first shrunk by Pillow (a box filter, by a whole factor that still covers ``size``
    twice over), in one of the process's large-image slots (``decoding_slot``). Otherwise the image's own
    size (a JPEG may come at a reduced scale keeping both sides >= ``at_least``)."""
    if channels not in (1, 3):
        raise ConfigError(f"Images decode to 1 (grey) or 3 (RGB) channels, not {channels}.")
    head = probe(source, label=label, limit=limit) if not isinstance(source, Image.Image) else None
    with decoding_slot(head.width * head.height if head else 0):
        im = decode(
            source,
            mode="L" if channels == 1 else "RGB",
            label=label,
            at_least=max(size) if size else at_least,
            limit=limit,
        )
        if size and im.width * im.height > LARGE_PIXELS:
            factor = int(min(im.width / size[1], im.height / size[0]) // 2)
            im = im.reduce(factor) if factor >= 2 else im
        t = TF.pil_to_tensor(im)  # (C, H, W), a permuted view
        return cover(t, size) if size else t.contiguous()


def cover(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, H, W) scaled (antialiased, aspect kept) to cover ``size`` (h, w), then centre-cropped: contiguous."""
    h, w = size
    H, W = t.shape[-2:]
    if (H, W) != (h, w):
        s = max(h / H, w / W)
        t = TF.resize(t, [max(h, round(H * s)), max(w, round(W * s))], antialias=True)
        t = TF.center_crop(t, [h, w])
    return t.contiguous()


# -- display ----------------------------------------------------------------------------------------


def hwc(x: torch.Tensor) -> np.ndarray:
    """One uint8 image (C, H, W) -> numpy (H, W) for grey, (H, W, C) for colour."""
    a = x.permute(1, 2, 0).cpu().numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


def float_images(x: torch.Tensor) -> list[np.ndarray]:
    """A float batch (B, C, H, W) in [0, 1] -> uint8 numpy images, (H, W) grey or (H, W, C) colour."""
    u8 = x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()  # (B, C, H, W)
    return [hwc(im) for im in u8]


def png_data_url(a: np.ndarray) -> str:
    """A uint8 image, (H, W) grey or (H, W, C) colour, as a PNG ``data:`` URL: a picture a page can send
    inside its own message (encoded once and kept, it costs nothing per view)."""
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
