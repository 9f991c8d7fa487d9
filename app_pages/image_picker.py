"""The Inside page's input picker: a test image, an upload, a drawing or a webcam photo, each turned into the
trained run's input through the one image path (``playground.images``). A drawing is shown three ways
(as drawn, only shrunk, prepared like MNIST's digits) with the network's answer for the last two, so the
learner sees why preprocessing matters. No torch here."""

from __future__ import annotations

import streamlit as st

from app_pages.common import guarded, md
from app_pages.widgets import camera_photo, drawing_canvas, wkey
from playground import inside as ins
from playground.data import explore
from playground.drawing import drawing, shrunk_drawing

SOURCES = {"test": "a test image", "draw": "draw it", "camera": "webcam photo", "upload": "upload a file"}
EXTENSIONS = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"]


def _guess(tr: ins.Trained, x) -> str:
    ((c, p),) = ins.predict(tr, x, 1)
    return f"{md(c)} {p:.0%}"


def _drawn(tr: ins.Trained, prefix: str, col) -> tuple | None:
    with col:
        a = drawing_canvas(prefix)
    if a is None:
        col.caption(
            "Draw a digit (white ink on black, like MNIST): the network answers when the stroke ends. "
            "The bin icon under the canvas clears it."
        )
        return None
    x = guarded(lambda: drawing(a, tr.in_shape), col)
    if x is None:
        return None
    raw = guarded(lambda: shrunk_drawing(a, tr.in_shape), col)
    h, w = tr.in_shape[1:]
    with col:
        l, r = st.columns(2)
        l.image(ins.hwc(raw), caption=f"only shrunk to {h}x{w}: {_guess(tr, raw)}", width=120)
        r.image(ins.hwc(x), caption=f"prepared like MNIST: {_guess(tr, x)}", width=120)
        st.caption(
            f"Prepared like MNIST's digits: the ink's bounding box scaled to {round(20 / 28 * min(h, w))} px "
            f"(aspect kept), then moved so its centre of mass sits at the centre of the {h}x{w} image. The "
            "network learnt digits prepared this way; a drawing that is only shrunk is thin and off-centre."
        )
    return x, ins.hwc(x), "your drawing, prepared like MNIST"


def _photo(tr: ins.Trained, prefix: str, col, invert: bool) -> tuple | None:
    with col:
        data = camera_photo(prefix)
    if data is None:
        return None
    x = guarded(lambda: ins.image_from_bytes(data, tr.in_shape, invert, name="webcam photo"), col)
    if x is None:
        return None
    c, h, w = tr.in_shape
    mean, std = tr.mean.flatten().tolist(), tr.std.flatten().tolist()
    col.image(ins.hwc(x), caption=f"what the network receives ({c}x{h}x{w})", width=140)
    col.caption(
        f"The run's preprocessing: {'grey' if c == 1 else 'RGB'}, scaled (antialiased) to cover {h}x{w} "
        f"and centre-cropped{', inverted' if invert else ''}, then normalised per channel with mean "
        f"{[round(m, 3) for m in mean]} and std {[round(s, 3) for s in std]} (the training split's)."
    )
    return x, ins.hwc(x), "webcam photo"


def chosen_image(tr: ins.Trained, prefix: str) -> tuple | None:
    """(uint8 tensor (C, H, W) in the run's input shape, numpy for display, caption), or None with the reason
    shown. ``prefix`` keeps each tab's widgets apart (keys ``wkey(prefix, ...)``)."""
    c1, c2 = st.columns([1, 2])
    src = c1.radio(
        "image", list(SOURCES), format_func=SOURCES.get, key=wkey(prefix, "radio", "source"), horizontal=True
    )
    if src == "test":
        n = len(tr.data.test_y)
        idx = int(c1.number_input(f"test image index (0..{n - 1})", 0, n - 1, 0, key=wkey(prefix, "number", "index")))
        return (
            tr.data.test_x[idx],
            explore.image(tr.data, idx),
            f"test #{idx}: {tr.classes[int(tr.data.test_y[idx])]}",
        )
    if src == "draw":
        return _drawn(tr, prefix, c2)
    invert = c1.checkbox(
        "invert (dark strokes on a light background, e.g. a photo of a digit on paper)",
        key=wkey(prefix, "checkbox", "invert"),
    )
    if src == "camera":
        return _photo(tr, prefix, c2, invert)
    up = c2.file_uploader(
        "any image (converted and resized to the model's input)", type=EXTENSIONS, key=wkey(prefix, "upload", "image")
    )
    if up is None:
        c2.caption("Upload an image to see what the network makes of it.")
        return None
    x = guarded(lambda: ins.image_from_bytes(up.getvalue(), tr.in_shape, invert, name=up.name), c2)
    return None if x is None else (x, ins.hwc(x), f"upload, as {tuple(x.shape)}")
