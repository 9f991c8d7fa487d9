"""What a browser sends as a picture (a canvas drawing, a webcam photo), bounded before it is decoded.

A page's drawing arrives as a PNG ``data:`` URL in the canvas widget's value and a webcam photo as an
upload; a client may send anything there, of any size. Both go through the one image decoder
(``playground.images``), refused first by their size in bytes and then by the pixel count their header
claims, before any pixel is decoded: a drawing never needs more pixels than the canvas it came from
(``DPR`` times each side, for high-density screens), a photo no more than a webcam takes (``CAMERA_MP``).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from .image_errors import ImageError, PixelLimit
from .images import probe, rgba

__all__ = ["DPR", "CAMERA_MP", "CAMERA_BYTES", "drawing_pixels", "camera_bytes"]

DPR = 3  # a canvas exports at the screen's device pixel ratio: up to 3 on phones
# A webcam frame: Streamlit's camera asks the browser for its largest, so a 4K webcam (and Chromium's fake
# camera) sends 3840 x 2160 (8.3 MP), a phone's 12-13 MP. 16 MP decodes to 48 MB of RGB, once.
CAMERA_MP = 16.0
CAMERA_BYTES = 8 * 2**20


def _refused(label: str, why: str) -> ImageError:
    return ImageError(f"{label} was refused: {why}. Draw or take it again on this page.", why)


def drawing_pixels(data_url: object, canvas: tuple[int, int]) -> np.ndarray | None:
    """A canvas's PNG ``data:`` URL -> its pixels, uint8 (H, W, 4). ``canvas``: (width, height) of the canvas
    on the page. Refused (ImageError) before decoding when the text is longer than a PNG of that canvas can
    be, is not a base64 image, or its header claims more pixels than the canvas has. None: no drawing."""
    if data_url is None:
        return None
    w, h = canvas
    pixels = (w * DPR) * (h * DPR)
    max_bytes = 4 * pixels + 2**16  # RGBA, uncompressed, plus the PNG's chunks
    label = "The drawing"
    if not isinstance(data_url, str) or len(data_url) > max_bytes * 4 // 3 + 256:
        raise _refused(label, f"it is larger than a drawing on a {w} x {h} canvas can be")
    head, sep, encoded = data_url.partition(";base64,")
    if not sep or not head.startswith("data:image/"):
        raise _refused(label, "it is not a picture (a base64 data URL)")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _refused(label, "it is not valid base64") from None
    return rgba(raw, label=label, limit=PixelLimit(pixels, f"the {w} x {h} canvas it was drawn on"))


def camera_bytes(data: bytes | None) -> bytes | None:
    """A webcam photo's bytes, refused (ImageError) before decoding when larger than a webcam photo is:
    over ``CAMERA_BYTES`` or, from its header, over ``CAMERA_MP`` megapixels. None: no photo."""
    if data is None:
        return None
    label = "The webcam photo"
    if len(data) > CAMERA_BYTES:
        raise _refused(
            label, f"it is {len(data) / 2**20:,.1f} MB, more than a webcam photo ({CAMERA_BYTES // 2**20} MB)"
        )
    probe(data, label=label, limit=PixelLimit(int(CAMERA_MP * 1e6), f"{CAMERA_MP:g} megapixels, a webcam's most"))
    return data
