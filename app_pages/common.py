"""UI helpers shared by the pages: the process-wide job manager, the session's
identity, and widgets generated from the core's registries."""

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


def guarded(fn: Callable[[], Any], where: Any = st) -> Any:
    """Run ``fn``; a PlaygroundError becomes an error box with its message, never a traceback."""
    try:
        return fn()
    except PlaygroundError as e:
        where.error(str(e), icon=":material/error:")
        return None


def _list_text(v: Any) -> str:
    return ", ".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)


def _parse_list(text: str, name: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(";", ",").split(",") if t.strip()]
    except ValueError:
        raise PlaygroundError(f"{name}: give whole numbers separated by commas, e.g. 16, 32.") from None


def log_steps(lo: float, hi: float, keep: float | None = None) -> list[float]:
    """1-2-5 values per decade from ``lo`` to ``hi`` (a slider over decades), with ``keep`` among them."""
    import math

    values = [m * 10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in (1, 2, 5)]
    values = [float(f"{v:.6g}") for v in values if lo <= v <= hi]
    if keep is not None and keep not in values:
        values = sorted(values + [keep])
    return values


def _ranged(label: str, value: float, default: Any, spec: tuple, key: str) -> Any:
    """A slider for a value with a known range (a select slider over decades for a "log" one); a value
    outside the range (from a link) keeps a number box, so it is never silently changed."""
    lo, hi, step = spec
    if not lo <= value <= hi:
        return None
    if step == "log":
        return st.select_slider(
            label, log_steps(lo, hi, float(value)), value=float(value), key=key, format_func=lambda v: f"{v:g}"
        )
    if isinstance(default, int):
        return int(st.slider(label, int(lo), int(hi), int(value), int(step), key=key))
    return float(st.slider(label, float(lo), float(hi), float(value), float(step), key=key))


def param_widgets(
    defaults: dict[str, Any],
    key: str,
    current: dict[str, Any] | None = None,
    columns: int = 3,
    ranges: dict[str, tuple] | None = None,
    choices: dict[str, list] | None = None,
) -> dict[str, Any]:
    """Widgets for a registry entry's keyword parameters, typed by their defaults; a numeric one with
    a known range (``Registry.ranges``) gets a slider, a text one with the entry's own allowed values
    (``Registry.choices``: never a list found by the parameter's name) a select box.

    Returns only the values that differ from the defaults (so configs stay short
    and unset values fall back to the builder's own defaults)."""
    ranges, choices = ranges or {}, choices or {}
    current = current or {}
    out: dict[str, Any] = {}
    shown = [(k, v) for k, v in defaults.items() if v is not None or k in current]
    if not shown:
        return out
    cols = st.columns(min(columns, len(shown)))
    for i, (name, default) in enumerate(shown):
        value = current.get(name, default)
        label = name.replace("_", " ")
        wkey = f"{key}__{name}"
        with cols[i % len(cols)]:
            if isinstance(default, bool):
                v = st.checkbox(label, value=bool(value), key=wkey)
            elif isinstance(default, tuple) and name in ranges and (v := _pair(label, value, ranges[name], wkey)):
                pass
            elif isinstance(default, (list, tuple)) and all(isinstance(x, int) for x in default):
                text = st.text_input(label, value=_list_text(value), key=wkey, help="comma-separated")
                v = guarded(lambda text=text, label=label: _parse_list(text, label))
                v = list(default) if v is None else v
            elif isinstance(default, (list, tuple)):
                text = st.text_input(label, value=_list_text(value), key=wkey, help="comma-separated numbers")
                try:
                    v = [float(t) for t in text.split(",") if t.strip()]
                except ValueError:
                    st.error(f"{label}: numbers separated by commas.")
                    v = list(default)
            elif (
                isinstance(default, (int, float))
                and name in ranges
                and (v := _ranged(label, value, default, ranges[name], wkey)) is not None
            ):
                pass
            elif isinstance(default, int):
                v = int(st.number_input(label, value=int(value), step=1, key=wkey))
            elif isinstance(default, float):
                v = float(st.number_input(label, value=float(value), format="%g", key=wkey))
            elif name in choices:
                v = _choice(label, choices[name], value, wkey)
            else:
                v = st.text_input(label, value=str(value), key=wkey)
        norm_default = list(default) if isinstance(default, tuple) else default
        if v != norm_default:
            out[name] = v
    return out


def _pair(label: str, value: Any, spec: tuple, key: str) -> list | None:
    """A range slider for a (low, high) pair with a known range; None (a text box instead) for a value outside."""
    lo, hi, step = spec
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and lo <= value[0] <= value[1] <= hi):
        return None
    a, b = st.slider(label, float(lo), float(hi), (float(value[0]), float(value[1])), float(step), key=key)
    return [a, b]


def _choice(label: str, opts: list, value: Any, key: str) -> Any:
    """A select box over ``opts``; a value from a link that is not one of them is said, not silently swapped."""
    if value not in opts:
        st.warning(f"{label}: {md(value)!s} is not one of {', '.join(map(str, opts))}; {opts[0]} is used instead.")
    return st.selectbox(label, opts, index=opts.index(value) if value in opts else 0, key=key)


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
