"""What goes wrong with an image a user gives, said so they know what to do: ``ImageError`` and the
refusals ``playground.images`` raises (too many pixels, not an image at all, a truncated or corrupt
file), and the pixel cap they are measured against (``pixel_limit``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple, Union

from PIL import Image

from .errors import ConfigError
from .settings import settings

__all__ = [
    "ImageError",
    "PixelLimit",
    "pixel_limit",
    "Source",
    "FORMATS",
    "label_of",
    "too_large",
    "check_pixels",
    "bomb",
    "not_an_image",
    "broken",
]

Source = Union[bytes, bytearray, str, Path, Image.Image]
FORMATS = "a PNG, JPEG, GIF, BMP, TIFF or WebP file"


class ImageError(ConfigError):
    """An image that cannot be used: the message names the file and says what to do; ``reason`` is short."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def label_of(source: Source, label: str | None) -> str:
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


def too_large(label: str, pixels: int, limit: PixelLimit, dims: str | None = None) -> ImageError:
    claim, dims = ("it is", dims) if dims else ("its header claims", f"{pixels:,} pixels")
    return ImageError(
        f"{label} is too large to open safely: {claim} {dims} ({pixels / 1e6:,.1f} megapixels), "
        f"over {limit.text}. Downscale it and try again.",
        f"too large: {dims}",
    )


def check_pixels(size: tuple[int, int], label: str, limit: PixelLimit) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(
            f"{label} is not an image that can be read: its header says {w} x {h} pixels. Use {FORMATS}.", "no pixels"
        )
    if w * h > limit.pixels:
        raise too_large(label, w * h, limit, f"{w:,} x {h:,} pixels")


def bomb(label: str, e: Exception, limit: PixelLimit) -> ImageError:
    m = re.search(r"\((\d+) pixels\)", str(e))  # Pillow: "Image size (N pixels) exceeds limit of M pixels"
    return too_large(label, int(m.group(1)) if m else 0, limit)


def head_bytes(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:512])
    if not isinstance(source, (str, Path)):
        return b""
    try:
        with open(source, "rb") as f:
            return f.read(512)
    except OSError:
        return b""


_MAGIC = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"RIFF": "WebP",
}


def not_an_image(source: Source, label: str) -> ImageError:
    head = head_bytes(source)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    printable = sum(32 <= c < 127 or c in (9, 10, 13) for c in head) > 0.95 * len(head)
    like = next((fmt for magic, fmt in _MAGIC.items() if head.startswith(magic)), None)
    if not head:
        why, reason = "the file is empty", "empty file"
    elif like:
        why, reason = (
            (
                f"it starts like a {like} file but its header is truncated or corrupt: copy or upload "
                "the whole file again, or save it again"
            ),
            "truncated or corrupt",
        )
    elif b"<svg" in text:
        why, reason = "it is an SVG drawing (text), not a picture made of pixels: export it as PNG", "SVG drawing"
    elif text.startswith((b"<!doctype html", b"<html")):
        why, reason = "it is a web page (HTML): save the image itself, not the page", "web page"
    elif printable:
        why, reason = "it is a text file", "text file"
    else:
        why, reason = "its format is not one that can be read", "unknown format"
    return ImageError(f"{label} is not an image that can be read: {why}. Use {FORMATS}.", reason)


def broken(label: str, e: Exception) -> ImageError:
    detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return ImageError(f"{label} cannot be opened ({detail}).", "cannot be opened")
    if isinstance(e, EOFError) or "truncat" in str(e).lower():
        return ImageError(
            f"{label} is not an image that can be read: the file is truncated (it ends before the "
            f"picture does; {detail}). Copy or upload the whole file again.",
            "truncated",
        )
    return ImageError(
        f"{label} is not an image that can be read: the file is corrupt ({detail}). Save or export "
        f"it again as {FORMATS}.",
        "corrupt",
    )
