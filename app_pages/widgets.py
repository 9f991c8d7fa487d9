"""Widgets shared by several pages: the image inputs (the drawing canvas, the camera; a .zip or a folder of
images is ``folder_boxes.image_folder_input``) under keys no page's own key can equal (``wkey``), and tabs of
which only the open one runs (``lazy_tabs``)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.common import guarded

__all__ = ["camera_photo", "drawing_canvas", "lazy_tabs", "wkey"]


def wkey(scope: str, widget: str, name: str = "") -> str:
    """The key of a widget a shared helper draws (the image inputs, the canvas, the camera): ``scope.widget``
    or ``scope.widget.name``, the widget's type part of it. Unique by construction: a page's own keys hold no
    dot (``i_s_cam`` names a chart), so no helper's key equals one of them, and within a scope the type tells
    a camera from a chart of the same name (a webcam photo on Inside -> Saliency once shared a key with the
    Grad-CAM chart and crashed the page)."""
    return ".".join(p for p in (scope, widget, name) if p)


def drawing_canvas(scope: str, size: int = 280) -> Any:
    """A drawing canvas, white ink on black like MNIST's digits: its RGBA pixels (numpy (H, W, 4)) after
    each stroke (the page reruns when a stroke ends), or None before the first one or when what the browser
    sent is no drawing of this canvas (too large: refused by size and pixel count before decoding, with a
    message; ``playground.payload``). Key ``scope.canvas``."""
    from streamlit_drawable_canvas import st_canvas

    from playground.payload import drawing_pixels

    st.space(32)  # room for the toolbar Streamlit shows above the canvas on hover (it covered the widget above)
    r = st_canvas(
        stroke_width=max(4, size // 15),
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=size,
        width=size,
        drawing_mode="freedraw",
        key=wkey(scope, "canvas"),
        return_image_data=True,
    )
    # The PNG data URL as sent, never decoded by the canvas package itself (its image_data decodes any size).
    return guarded(lambda: drawing_pixels(getattr(r, "_image_data_url", None), (size, size)))


def camera_photo(scope: str) -> bytes | None:
    """A photo from the webcam (the browser asks for permission), as the bytes of its JPEG, or None (also when
    what was sent is larger than a webcam photo: refused before decoding, with a message). Key ``scope.camera``."""
    from playground.payload import camera_bytes

    shot = st.camera_input(
        "take a photo",
        key=wkey(scope, "camera"),
        help="Your browser asks before it turns the camera on; the photo stays in this session.",
    )
    return None if shot is None else guarded(lambda: camera_bytes(shot.getvalue()))


def lazy_tabs(labels: list[str], keep: list[tuple[str, ...]] | None = None, key: str = "tab") -> list:
    """Tabs of which only the open one runs (Streamlit's lazy tabs: choosing one reruns the page), bound to
    ``?tab=`` so a link opens the same tab. A page then costs the server its open tab, not all of them
    (docs/BENCHMARKS.md). ``keep[i]``: the keys of tab i's widgets (no buttons; one ending in "_" stands for
    every key it begins), whose values are kept while the tab is closed: Streamlit forgets a widget that was
    not drawn in a run; assigned back, its value stays in the session until the tab draws the widget again."""
    tabs = st.tabs(labels, key=key, on_change="rerun", bind="query-params")
    for tab, keys in zip(tabs, keep or ()):
        if not tab.open:
            for k in [k for k in st.session_state if isinstance(k, str) and _kept(k, keys)]:
                st.session_state[k] = st.session_state[k]
    return tabs


def _kept(key: str, keys: tuple[str, ...]) -> bool:
    return any(key == k or (k.endswith("_") and key.startswith(k)) for k in keys)
