"""Widgets shared by several pages: the image inputs (a .zip or a folder of images, the drawing canvas,
the camera) under keys no page's own key can equal (``wkey``), and tabs of which only the open one
runs (``lazy_tabs``)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.common import client_address, guarded, owner

__all__ = ["camera_photo", "drawing_canvas", "image_folder_input", "lazy_tabs", "wkey"]


def image_folder_input(prefix: str) -> str | None:
    """The .zip upload (unpacked once into this session's folder) and, where the server allows it,
    a folder path: the image folder to load, or None. Shared by every page that takes your images."""
    import hashlib
    from pathlib import Path

    from playground.data.uploads import extract_zip, note_upload_address, session_folder, sweep_uploads, upload_room
    from playground.settings import settings

    ss = st.session_state
    up = st.file_uploader("upload a .zip with one folder per class", type=["zip"], key=f"{prefix}_zip")
    if up is not None and ss.get(f"{prefix}_zip_seen") != up.file_id:
        ss[f"{prefix}_zip_seen"] = up.file_id  # unpack each upload once, failed or not
        data = up.getvalue()
        # A folder per upload content: the data-set cache is keyed by folder, so an edited
        # zip must not land where its older version was loaded from.
        dest = session_folder(owner()) / f"dataset-{hashlib.sha256(data).hexdigest()[:12]}"
        sweep_uploads()  # uploads older than PLAYGROUND_UPLOAD_TTL_HOURS go
        with st.spinner("Unpacking..."):
            note_upload_address(owner(), client_address())  # uploads are counted per client address too
            res = guarded(
                lambda: extract_zip(data, dest, room=upload_room(owner(), replacing=dest, address=client_address()))
            )
        if res:
            ss.upload_folder, ss.zip_notes = str(res[0]), res[1]
            ss[f"{prefix}_folder"] = str(res[0])  # a keyed text box keeps its own state: point it at the upload
    for n in ss.get("zip_notes", []):
        st.caption(n)
    if settings().server_folders:
        if f"{prefix}_folder" not in ss:  # the box starts at the upload; one value, set once (never also value=)
            ss[f"{prefix}_folder"] = ss.get("upload_folder", "")
        return (
            st.text_input(
                "or a folder on this machine", key=f"{prefix}_folder", placeholder="/path/to/images (class sub-folders)"
            )
            or None
        )
    root = ss.get("upload_folder") or None  # a shared server: only this session's own uploads
    if root:
        st.caption(f"using your upload `{Path(root).name}`")
    return root


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
