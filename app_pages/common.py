"""UI helpers shared by the pages: the process-wide job manager, the session's identity (its cookie,
its client address, its runs, the runs it may see) and the small text helpers every page uses
(``md``, ``guarded``, ``status_badge``). Widgets drawn from the core's registries are in
``param_widgets.py``; the image inputs, their widget keys and lazy tabs in ``widgets.py``."""

from __future__ import annotations

import re
import secrets
from typing import Any, Callable

import streamlit as st

from playground.errors import PlaygroundError
from playground.jobs.kinds import JOB_KINDS
from playground.jobs.manager import JobManager, manager


def job_manager() -> JobManager:
    """The server's one job manager (a process-level object of the core, not a Streamlit cache entry:
    a client's "clear cache" must not reset everyone's runs)."""
    return manager()


SESSION_COOKIE = "playground_session"  # the browser's session token, so a reload keeps its runs
SESSION_HOURS = 24
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
_TOKEN_KEY = "_session_token"  # where the session keeps its cookie's token (server side; only the cookie sends it)
# Sets the cookie from the page (Streamlit reads cookies, st.context.cookies, but has no call to write one).
_cookie_writer = st.components.v2.component(
    "playground_session_cookie",
    js="""
export default function(component) {
  const { data } = component;
  document.cookie = `${data.name}=${data.token}; path=/; max-age=${data.seconds}; SameSite=Strict`;
}
""",
)


def owner() -> str:
    """This session's public id (``playground.runs.session_id``): what its runs, uploads and quotas are keyed
    by. The browser's cookie holds a secret token, kept so that a reload (a new Streamlit session) finds the
    same runs again (``my_runs``), also after a server restart; the token itself appears in no path, link,
    widget or log: only the id derived from it, which grants nothing."""
    ss = st.session_state
    if "owner" not in ss:
        from playground.data.uploads import adopt_legacy_uploads
        from playground.runs import session_id

        token = st.context.cookies.get(SESSION_COOKIE)
        found = isinstance(token, str) and _TOKEN.fullmatch(token)
        token = token if found else secrets.token_urlsafe(16)
        ss[_TOKEN_KEY], ss.owner = token, session_id(token)
        if found:
            adopt_legacy_uploads(token, ss.owner)  # a folder from before ids: named by the token itself
        mine = ss.setdefault("my_runs", [])
        mine.extend(r for r in (_runs_of(ss.owner) if found else []) if r not in mine)
        manager().note_address(ss.owner, client_address())  # quotas per client address too
    return ss.owner


def _runs_of(session: str) -> list[str]:
    """The runs of every kind this session started: live or kept in memory, and on disk (``owner.sha256``)."""
    m = manager()
    ids = {j.run_id for j in m.jobs(owner=session)}
    for kind in JOB_KINDS.names():
        ids.update(m.store_for(kind).owned_by(session))
    return sorted(ids)


def keep_session() -> None:
    """Write (refresh) the session cookie: the frame calls this on every run."""
    owner()
    token = st.session_state.get(_TOKEN_KEY)  # none when a test set the session's id itself: no cookie to keep
    if token:
        _cookie_writer(
            data={"name": SESSION_COOKIE, "token": token, "seconds": SESSION_HOURS * 3600}, key="session_cookie"
        )


def client_address() -> str:
    """The client's address, for what is counted per client (teacher key attempts, runs): the connection's
    own (``st.context.ip_address``) or, behind a proxy, the last entry of the header the server names
    (PLAYGROUND_CLIENT_ADDRESS_HEADER, e.g. X-Forwarded-For: the proxy appends the address it saw). A session
    with neither counts as its own client ("session:" and its id)."""
    from playground.settings import settings

    header = settings().client_address_header
    if header:
        sent = (st.context.headers.get(header) or "").split(",")[-1].strip()
        if sent:
            return sent
    return st.context.ip_address or f"session:{owner()}"


def run_name(kind: str, run_id: str) -> str:
    """The name a student gave the run ("" when none, or when its folder cannot be read)."""
    try:
        return manager().store_for(kind).open(run_id).name
    except PlaygroundError:
        return ""


def my_runs() -> list[str]:
    owner()  # a new session first finds the runs its token started
    return st.session_state.setdefault("my_runs", [])


def may_see(run_id: str) -> bool:
    """Another session's run is visible (read-only) unless the server says PLAYGROUND_SHARE_RUNS=none."""
    from playground.settings import settings

    return settings().share_runs == "view" or run_id in my_runs()


def url_run() -> str | None:
    """The run named in this page's URL (``?run=``). A URL that also holds the run's control key
    (``?ctl=``, what the starting tab keeps) makes it one of this session's runs (``my_runs``)."""
    run_id = st.query_params.get("run") or None
    if run_id and run_id not in my_runs() and manager().may_control(run_id, owner(), st.query_params.get("ctl")):
        my_runs().append(run_id)
    return run_id


def listed_runs(items: list, key: Callable[[Any], str] = lambda r: r) -> list:
    """The runs (ids, dicts or Run objects, through ``key``) a page lists, in every list of runs (run
    pickers, compare, feature networks, source runs): this session's own (``my_runs``: started here or
    opened with their control key), plus the run named in the page's URL when this session may see it (a
    view link is how a run is shared). The rest of the class's runs are never listed."""
    shown = set(my_runs())
    linked = url_run()
    if linked and may_see(linked):
        shown.add(linked)
    return [r for r in items if key(r) in shown]


def view_link(run_id: str | None = None, **more: str) -> str:
    """The link a page invites to share: its address with ``?run=`` (and ``more``, e.g. ``cfg``), never the
    control key that the address bar of the tab that started the run holds (``?ctl=``)."""
    query = "&".join(f"{k}={v}" for k, v in {"run": run_id, **more}.items() if v and "ctl" not in k)
    return f"{(st.context.url or '').split('?')[0]}?{query}"


_MARKDOWN = re.compile(r"([\\`*_\[\]{}()<>#+\-.!|~$:])")


def md(text: Any) -> str:
    """User text (class, file, folder and run names, notes naming files) made literal for Markdown, so a
    folder named ``[x](http://...)`` or ``![](...)`` shows as typed on everyone's page."""
    return _MARKDOWN.sub(r"\\\1", str(text))


UPLOAD_PREFIX = "upload:"  # a folder box shows an upload as upload:<its folder>, never the server's path


def shown_text(text: str) -> str:
    """A message or note with this session's upload folder written as ``upload:`` (a folder's loader names
    the folder it read; the student sees no server path)."""
    from playground.data.uploads import session_folder

    folder = session_folder(owner())
    for form in {str(folder.resolve()), str(folder.absolute()), str(folder)}:
        text = text.replace(form + "/", UPLOAD_PREFIX).replace(form, UPLOAD_PREFIX)
    return text


def guarded(fn: Callable[[], Any], where: Any = st) -> Any:
    """Run ``fn``; a PlaygroundError becomes an error box with its message (this session's upload folder in it
    written as ``upload:``: a folder's loader names the folder it read), never a traceback."""
    try:
        return fn()
    except PlaygroundError as e:
        where.error(shown_text(str(e)), icon=":material/error:")
        return None


def status_badge(status: str) -> str:
    icons = {
        "queued": ":material/hourglass_top:",
        "running": ":material/play_circle:",
        "paused": ":material/pause_circle:",
        "done": ":material/check_circle:",
        "stopped": ":material/stop_circle:",
        "diverged": ":material/warning:",
        "error": ":material/error:",
        "interrupted": ":material/restart_alt:",
    }
    return f"{icons.get(status, '')} {status}"
