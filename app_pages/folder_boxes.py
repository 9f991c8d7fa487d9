"""Folder boxes without server paths: an upload of this session is shown as ``upload:<its folder>`` and
resolved back on the server (``shown_folder`` / ``real_folder``), so no page shows a student where the server
keeps their files."""

from __future__ import annotations

from app_pages.common import owner

UPLOAD_PREFIX = "upload:"  # a folder box shows an upload as upload:<its folder>, never the server's path


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
