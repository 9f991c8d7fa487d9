"""Folder boxes without server paths, in every mode (a laptop's too): an upload of this session is shown as
``upload:<its folder>`` and resolved back on the server (``shown_folder`` / ``real_folder``), so no page shows
where the server keeps a student's files. Everything that reaches a widget, a link or a message goes through
here: the folder boxes (``image_folder_input``), the setups a link or the address bar holds (``shown_config``)
and the notes that name a folder (``common.shown_text``, which ``common.guarded`` applies to every message)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from app_pages.common import UPLOAD_PREFIX, client_address, guarded, owner, shown_text

if TYPE_CHECKING:
    from playground.config import RunConfig


def shown_folder(path: str | None) -> str:
    """What a folder box shows for ``path``: an upload of this session as ``upload:dataset-1a2b.../cats`` (no
    server path, no session id); any other folder as typed."""
    from pathlib import Path

    from playground.data.uploads import session_folder

    if not path:
        return ""
    mine = session_folder(owner()).resolve()
    try:
        rel = Path(path).expanduser().resolve().relative_to(mine)
    except (ValueError, OSError):
        return path
    return UPLOAD_PREFIX + rel.as_posix() if rel.parts else path


def real_folder(shown: str | None) -> str | None:
    """The folder a box's text names: ``upload:<folder>`` -> that folder in this session's uploads (resolved
    on the server, checked by the folder rule like any other); any other text as it is."""
    from playground.data.uploads import session_folder

    if not shown or not shown.startswith(UPLOAD_PREFIX):
        return shown or None
    return str(session_folder(owner()) / shown[len(UPLOAD_PREFIX) :].lstrip("/"))


def shown_config(cfg: "RunConfig") -> "RunConfig":
    """``cfg`` as a link or the address bar holds it (``?cfg=``): its data folder as a box shows it (an upload
    as ``upload:<folder>``, which the form resolves back with ``real_folder``)."""
    root = cfg.data.data_root
    return cfg.replace(data={"data_root": shown_folder(root)}) if root else cfg


def image_folder_input(prefix: str) -> str | None:
    """The .zip upload (unpacked once into this session's folder) and, where the server allows it, a folder
    box (the upload shown as ``upload:<folder>``): the image folder to load (its real path on the server), or
    None. Shared by every page that takes your images."""
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
            ss[f"{prefix}_folder"] = shown_folder(str(res[0]))  # a keyed box keeps its own state: the upload
    for n in ss.get("zip_notes", []):
        st.caption(shown_text(n))
    if settings().server_folders:
        if f"{prefix}_folder" not in ss:  # the box starts at the upload; one value, set once (never also value=)
            ss[f"{prefix}_folder"] = shown_folder(ss.get("upload_folder", ""))
        return real_folder(
            st.text_input(
                "or a folder on this machine",
                key=f"{prefix}_folder",
                placeholder="/path/to/images (class sub-folders)",
                help="Your upload shows as upload:<its folder>.",
            )
        )
    root = ss.get("upload_folder") or None  # a shared server: only this session's own uploads
    if root:
        st.caption(f"using your upload `{Path(root).name}`")
    return root
