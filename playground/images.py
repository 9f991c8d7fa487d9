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
  refused with an ``ImageError`` (a ConfigError) whose message names the file and the problem, and
  whose ``reason`` is the short form (for lists of skipped files).

A JPEG is decoded at a reduced scale (Pillow's ``draft``) when the caller says how large it needs it.

Display: ``hwc`` and ``float_images`` turn tensors in the playground's layouts into the numpy arrays
``st.image`` and plotly show, so grey images stay (H, W) and colour ones (H, W, 3) everywhere, and
float images are clipped and rounded the same way.
"""

from __future__ import annotations

import base64
import io
import re
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from .errors import ConfigError
from .memory import LARGE_PIXELS, decoding_slot
from .settings import settings

__all__ = ["ImageError", "Header", "GREY_MODES", "PixelLimit", "pixel_limit", "probe", "decode", "rgba",
           "decode_tensor", "decoding_slot", "LARGE_PIXELS", "cover", "drawing", "shrunk_drawing", "hwc",
           "float_images", "png_data_url"]

Source = Union[bytes, bytearray, str, Path, Image.Image]
FORMATS = "a PNG, JPEG, GIF, BMP, TIFF or WebP file"
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_DEEP = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})  # over 8 bits: Pillow's convert would clip
_ALPHA = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# What Pillow raises on hostile files, beyond OSError (fuzzing finds all of these).
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error,
               ZeroDivisionError)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


class ImageError(ConfigError):
    """An image that cannot be used: the message names the file and says what to do; ``reason`` is short."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


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


# -- messages ---------------------------------------------------------------------------------------

def _label(source: Source, label: str | None) -> str:
    if label:
        return label
    if isinstance(source, (str, Path)):
        return f"The file {source}"
    return "The image" if isinstance(source, Image.Image) else "The uploaded file"


class PixelLimit(NamedTuple):
    pixels: int  # the most pixels one image may have
    text: str  # how to say it in a message


def pixel_limit() -> PixelLimit:
    """The largest image decoded: ``settings().max_image_mp``, or Pillow's bomb limit where that is lower.
    Read once per call of ``probe``/``decode``; pass it in (``limit=``) when decoding many files."""
    mp = settings().max_image_mp
    ours, pil = int(mp * 1e6), Image.MAX_IMAGE_PIXELS
    if pil and pil < ours:
        return PixelLimit(pil, f"Pillow's decompression-bomb limit of {pil:,} pixels (PIL.Image.MAX_IMAGE_PIXELS)")
    return PixelLimit(ours, f"the limit of {mp:g} megapixels per image (PLAYGROUND_MAX_IMAGE_MP)")


def _too_large(label: str, pixels: int, limit: PixelLimit, dims: str | None = None) -> ImageError:
    claim, dims = ("it is", dims) if dims else ("its header claims", f"{pixels:,} pixels")
    return ImageError(f"{label} is too large to open safely: {claim} {dims} ({pixels / 1e6:,.1f} megapixels), "
                      f"over {limit.text}. Downscale it and try again.", f"too large: {dims}")


def _check_pixels(size: tuple[int, int], label: str, limit: PixelLimit) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{label} is not an image that can be read: its header says {w} x {h} pixels. "
                         f"Use {FORMATS}.", "no pixels")
    if w * h > limit.pixels:
        raise _too_large(label, w * h, limit, f"{w:,} x {h:,} pixels")


def _bomb(label: str, e: Exception, limit: PixelLimit) -> ImageError:
    m = re.search(r"\((\d+) pixels\)", str(e))  # Pillow: "Image size (N pixels) exceeds limit of M pixels"
    return _too_large(label, int(m.group(1)) if m else 0, limit)


def _head(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:512])
    if not isinstance(source, (str, Path)):
        return b""
    try:
        with open(source, "rb") as f:
            return f.read(512)
    except OSError:
        return b""


_MAGIC = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"BM": "BMP", b"II*\x00": "TIFF",
          b"MM\x00*": "TIFF", b"RIFF": "WebP"}


def _not_an_image(source: Source, label: str) -> ImageError:
    head = _head(source)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    printable = sum(32 <= c < 127 or c in (9, 10, 13) for c in head) > 0.95 * len(head)
    like = next((fmt for magic, fmt in _MAGIC.items() if head.startswith(magic)), None)
    if not head:
        why, reason = "the file is empty", "empty file"
    elif like:
        why, reason = (f"it starts like a {like} file but its header is truncated or corrupt: copy or upload "
                       "the whole file again, or save it again"), "truncated or corrupt"
    elif b"<svg" in text:
        why, reason = "it is an SVG drawing (text), not a picture made of pixels: export it as PNG", "SVG drawing"
    elif text.startswith((b"<!doctype html", b"<html")):
        why, reason = "it is a web page (HTML): save the image itself, not the page", "web page"
    elif printable:
        why, reason = "it is a text file", "text file"
    else:
        why, reason = "its format is not one that can be read", "unknown format"
    return ImageError(f"{label} is not an image that can be read: {why}. Use {FORMATS}.", reason)


def _broken(label: str, e: Exception) -> ImageError:
    detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return ImageError(f"{label} cannot be opened ({detail}).", "cannot be opened")
    if isinstance(e, EOFError) or "truncat" in str(e).lower():
        return ImageError(f"{label} is not an image that can be read: the file is truncated (it ends before the "
                          f"picture does; {detail}). Copy or upload the whole file again.", "truncated")
    return ImageError(f"{label} is not an image that can be read: the file is corrupt ({detail}). Save or export "
                      f"it again as {FORMATS}.", "corrupt")


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
        raise _bomb(label, e, limit) from None
    except UnidentifiedImageError:
        raise _not_an_image(source, label) from None
    except _PIL_ERRORS as e:
        raise _broken(label, e) from None
    try:
        yield im
    finally:
        im.close()


def probe(source: Source, *, label: str | None = None, limit: PixelLimit | None = None) -> Header:
    """The header of one image, its pixel count checked against the cap; nothing decoded. Raises ImageError."""
    label, limit = _label(source, label), limit or pixel_limit()
    with _opened(source, label, limit) as im:
        _check_pixels(im.size, label, limit)
        return Header(im.size[0], im.size[1], im.mode, im.format)


def decode(source: Source, *, mode: str | None = None, label: str | None = None,
           at_least: int | None = None, limit: PixelLimit | None = None) -> Image.Image:
    """One image (a path, upload bytes or a PIL image) -> a loaded 8-bit PIL image in ``mode``.

    ``mode``: "RGB", "L", or None for "L" when the image is grey and "RGB" otherwise. ``at_least``: a
    JPEG may be decoded at a reduced scale, and an image over LARGE_PIXELS shrunk by a whole factor, that
    keep both sides at least twice this long. ``label`` starts
    the error messages ("The content image file x.png"); ``limit``: ``pixel_limit()`` when None.
    Raises ImageError (see the module docstring)."""
    if mode not in (None, "RGB", "L"):
        raise ConfigError(f"Images are decoded to 'RGB' or 'L' (got {mode!r}).")
    label, limit = _label(source, label), limit or pixel_limit()
    with _opened(source, label, limit) as im:
        _check_pixels(im.size, label, limit)
        target = mode or ("L" if im.mode in GREY_MODES else "RGB")
        try:
            if at_least and not isinstance(source, Image.Image):  # JPEG (and MPO) only; never the caller's image
                im.draft(target, (at_least, at_least))
            im.load()
            factor = min(im.size) // (2 * at_least) if at_least and im.width * im.height > LARGE_PIXELS else 0
            im = im.reduce(factor) if factor >= 2 else im  # a large one shrinks first: the copies below are small
            im = ImageOps.exif_transpose(im)  # a new image: the file can close
        except _BOMB as e:
            raise _bomb(label, e, limit) from None
        except _PIL_ERRORS as e:
            raise _broken(label, e) from None
        return _to_mode(im, target, label)


def rgba(source: Source, *, label: str | None = None, limit: PixelLimit | None = None) -> np.ndarray:
    """One image -> uint8 (H, W, 4), alpha kept (a canvas's strokes); its pixel count checked first. ImageError."""
    label, limit = _label(source, label), limit or pixel_limit()
    with _opened(source, label, limit) as im:
        _check_pixels(im.size, label, limit)
        try:
            return np.asarray(im.convert("RGBA"))
        except (*_BOMB, *_PIL_ERRORS) as e:
            raise (_bomb(label, e, limit) if isinstance(e, _BOMB) else _broken(label, e)) from None


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
        raise ImageError(f"{label} uses the colour mode {im.mode}, which has no RGB form here. Save it as an "
                         f"RGB or greyscale {FORMATS}.", f"colour mode {im.mode}") from None


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


def decode_tensor(source: Source, *, channels: int = 3, size: tuple[int, int] | None = None,
                  at_least: int | None = None, label: str | None = None,
                  limit: PixelLimit | None = None) -> torch.Tensor:
    """One image -> a contiguous uint8 (C, H, W) tensor with ``channels`` 1 (grey) or 3 (RGB).

    ``size`` (h, w): scaled (antialiased, aspect kept) to cover it, then centre-cropped to it; an image of
    over LARGE_PIXELS is first shrunk by Pillow (a box filter, by a whole factor that still covers ``size``
    twice over), in one of the process's large-image slots (``decoding_slot``). Otherwise the image's own
    size (a JPEG may come at a reduced scale keeping both sides >= ``at_least``)."""
    if channels not in (1, 3):
        raise ConfigError(f"Images decode to 1 (grey) or 3 (RGB) channels, not {channels}.")
    head = probe(source, label=label, limit=limit) if not isinstance(source, Image.Image) else None
    with decoding_slot(head.width * head.height if head else 0):
        im = decode(source, mode="L" if channels == 1 else "RGB", label=label,
                    at_least=max(size) if size else at_least, limit=limit)
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


# -- drawings (a canvas's strokes, white on black) ------------------------------------------------

def _ink(a: np.ndarray) -> np.ndarray:
    """A canvas image (H, W), (H, W, 3) or (H, W, 4) uint8 -> ink as float (H, W) in 0..255: the strokes'
    brightness, times their opacity (a transparent background has none)."""
    a = np.asarray(a)
    if a.ndim == 2:
        return a.astype(np.float32)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or min(a.shape[:2]) < 1:
        raise ConfigError(f"A drawing is an (H, W), (H, W, 3) or (H, W, 4) image, not {tuple(a.shape)}.")
    f = a.astype(np.float32)
    ink = f[..., 0] if a.shape[2] == 1 else f[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return ink * (f[..., 3] / 255.0) if a.shape[2] == 4 else ink


def _as_input(ink: torch.Tensor, channels: int) -> torch.Tensor:
    return ink.clamp(0, 255).round().to(torch.uint8).unsqueeze(0).expand(channels, -1, -1).contiguous()


def drawing(a: np.ndarray, shape: tuple[int, int, int] = (1, 28, 28), box: float = 20 / 28) -> torch.Tensor:
    """A drawing -> uint8 (C, H, W) prepared the way MNIST's digits were (LeCun et al.): the ink's bounding
    box scaled (antialiased, aspect kept) so its longer side is ``box`` of the image (20 of 28 px), then
    placed so the ink's centre of mass sits at the image's centre. Grey ink is copied to each channel.
    Raises ConfigError when there is no ink ("draw something")."""
    c, h, w = shape
    ink = _ink(a)
    mask = ink > 0.1 * ink.max() if ink.size else ink
    if ink.size == 0 or ink.max() < 8 or mask.sum() < 2:
        raise ConfigError("The drawing is empty: draw something (a digit, with the mouse or a finger).")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = torch.from_numpy(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].copy())
    s = box * min(h, w) / max(crop.shape)
    size = [max(1, round(crop.shape[0] * s)), max(1, round(crop.shape[1] * s))]
    small = TF.resize(crop[None], size, antialias=True)[0].clamp(min=0)
    ys, xs = torch.arange(size[0], dtype=torch.float32), torch.arange(size[1], dtype=torch.float32)
    total = small.sum()
    cy, cx = float((small.sum(1) * ys).sum() / total), float((small.sum(0) * xs).sum() / total)
    top, left = round((h - 1) / 2 - cy), round((w - 1) / 2 - cx)
    out = torch.zeros(h, w)
    y0, x0 = max(0, top), max(0, left)  # a very lopsided stroke can put part of the box outside: clip it
    y1, x1 = min(h, top + size[0]), min(w, left + size[1])
    out[y0:y1, x0:x1] = small[y0 - top:y1 - top, x0 - left:x1 - left]
    return _as_input(out, c)


def shrunk_drawing(a: np.ndarray, shape: tuple[int, int, int] = (1, 28, 28)) -> torch.Tensor:
    """The same drawing only shrunk to the input size (no cropping, scaling or centring): what a network
    gets without MNIST's preparation, to show why it matters."""
    c, h, w = shape
    ink = torch.from_numpy(_ink(a).copy())
    return _as_input(TF.resize(ink[None], [h, w], antialias=True)[0], c)


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
