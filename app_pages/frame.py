"""The app's frame (streamlit_app.py runs ``main``): the page setup, the navigation over the pages and the
shared sidebar (the device, the queue, this session's runs with exactly one lit: the run on screen)."""

from __future__ import annotations

# pandas before any page draws a figure: plotly looks pandas up in sys.modules without the import lock,
# so a page building a figure while another session's thread was still importing pandas failed
# ("partially initialized module 'pandas'", seen with 30 sessions arriving over 10 s).
import pandas  # noqa: F401
import streamlit as st

from app_pages.common import client_address, job_manager, keep_session, md, my_runs, run_name, status_badge
from app_pages.folder_boxes import shown_folder
from playground import plugins as _plugins  # noqa: F401  (every capability registers itself)
from playground.data import default_data_root, explore
from playground.device import device_summary
from playground.jobs.kinds import JOB_KINDS
from playground.sessions import session_book, too_many_message
from playground.settings import settings

PAGES = {  # the file's name in app_pages/ (the sidebar's run entries name their page so) -> st.Page's arguments
    "start": {"title": "Start", "icon": ":material/home:", "default": True},
    "data": {"title": "Data", "icon": ":material/photo_library:"},
    "conv": {"title": "Convolution", "icon": ":material/grid_on:"},
    "train": {"title": "Train", "icon": ":material/model_training:"},
    "inside": {"title": "Inside the network", "icon": ":material/neurology:"},
    "transfer": {"title": "Transfer learning", "icon": ":material/swap_horiz:"},
    "autoencode": {"title": "Autoencoders", "icon": ":material/compress:", "url_path": "autoencoders"},
    "style": {"title": "Style transfer", "icon": ":material/brush:"},
    "teacher": {"title": "Teacher", "icon": ":material/school:"},
}


# A sidebar entry for a run that is on the page on screen but is not the run it shows: drawn as a plain link
# (Streamlit lights every link to the current page, whatever its query), so the one lit entry is the run shown.
SIDEBAR_CSS = """<style>
[class*="st-key-side_dim_"] a[data-testid="stPageLink-NavLink"] { background-color: transparent !important; }
[class*="st-key-side_dim_"] a[data-testid="stPageLink-NavLink"]:hover {
  background-color: rgba(151, 166, 195, 0.15) !important; }
[class*="st-key-side_dim_"] a[data-testid="stPageLink-NavLink"] * { font-weight: 400 !important; }
</style>"""


def sidebar_lit(
    runs: list[str], where: dict[str, tuple[str, dict[str, str]]], page: str, query: dict[str, str]
) -> str | None:
    """The one sidebar entry to light: the first of ``runs`` (newest first) whose page (``where[run]``: its page
    and the URL parameters that open it there) is ``page`` and whose parameters are all in ``query``; None when
    the page on screen shows none of them."""
    return next(
        (r for r in runs if where[r][0] == page and all(query.get(q) == v for q, v in where[r][1].items())), None
    )


@st.cache_resource
def _device() -> dict:
    return device_summary()


def main() -> None:
    st.set_page_config(page_title="CNN Playground", page_icon="🧩", layout="wide")  # an emoji: no font CDN offline
    if settings().classroom:  # students see a generic message for a bug, never a traceback with server paths
        st.set_option("client.showErrorDetails", "none")
    built = {name: st.Page(f"app_pages/{name}.py", **kw) for name, kw in PAGES.items()}
    if not admitted():  # first, before any work: one session too many from its address sees why, nothing else
        st.navigation(list(built.values()), position="hidden")  # any page's address shows this message
        return
    explore.warm_up()  # the built-in data set, drawn once in the background from the server's first page
    pages = st.navigation(list(built.values()))
    here = next((name for name, p in built.items() if p.url_path == pages.url_path), "")  # the page on screen
    # No CSS transitions or animations: redrawn every second beside a training run, the progress
    # bar's transition alone kept a software-rendered Chromium repainting and cost the run ~15%
    # of its images/s on a 2-core laptop (docs/BENCHMARKS.md).
    st.html(
        "<style>*, *::before, *::after { transition: none !important; animation: none !important; }</style>"
        + SIDEBAR_CSS
    )
    with st.sidebar:
        sidebar(here)
    pages.run()


def admitted() -> bool:
    """Whether this session may run: fewer live sessions from its client address than the server allows
    (PLAYGROUND_MAX_SESSIONS_PER_ADDRESS, ``playground.sessions``), or let in already. Sessions are named by
    Streamlit's id of the connection (kept in memory, never shown) and count while Streamlit's runtime holds
    them active. Refused: a message that says why and what to do, and a button to try again."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    cap = settings().max_sessions_per_address
    ctx = get_script_run_ctx()
    if not cap or ctx is None:
        return True
    me = ctx.session_id
    runtime = Runtime.instance() if Runtime.exists() else None

    def alive(key: str) -> bool:
        return key == me or (runtime is not None and runtime.is_active_session(key) is True)

    if session_book().admit(me, client_address(), alive, cap):
        return True
    st.error(too_many_message(cap), icon=":material/tab:")
    st.button("Try again", key="sessions_try_again")  # a rerun: let in once another tab has closed
    return False


def sidebar(here: str) -> None:
    keep_session()  # the browser keeps its session token: a reload lists the same runs
    st.markdown("### CNN Playground")
    dev = _device()
    manager = job_manager()
    if dev["type"] == "cuda":
        for g in manager.occupancy():  # per GPU: the jobs placed on it and its memory in use
            st.caption(
                f":material/memory: GPU {g['index']} {g['name']}: {g['jobs']} job(s), "
                f"{g['used_mb'] / 1024:.1f} of {g['total_mb'] / 1024:.0f} GB in use"
            )
    else:
        st.caption(f":material/memory: CPU ({dev['threads']} threads); no GPU found")
    if settings().server_folders:  # a shared server shows students no server paths
        folder = (st.session_state.get("chosen_data") or (None, None))[1]  # the folder typed on the Data page
        st.caption(f":material/folder: data: `{shown_folder(folder) or default_data_root().resolve()}`")
    live = manager.live_jobs()
    running = sum(1 for j in live if j.state == "running")
    st.caption(
        f":material/model_training: {running} training, {len(live) - running} queued "
        f"(at most {manager.max_running} at once)"
    )
    mine = my_runs()
    if mine:
        st.markdown("**Your runs**")
        # Each kind says which page shows its runs; links stay in this tab (this session keeps its runs). The
        # last 8 training runs and, apart, the last 4 other jobs: visualisations and races never push a run off
        # (a kind that is no run, the top-5 answer, is not listed; None: deleted meanwhile).
        kinds = {r: manager.kind_of(r) for r in mine[-200:]}
        trains = [r for r, k in kinds.items() if k == "train"][-8:]
        others = [r for r, k in kinds.items() if k not in (None, "train") and JOB_KINDS.get(k).listed][-4:]
        shown = [*reversed(trains), *reversed(others)]
        lit = sidebar_lit(
            shown,
            {r: (JOB_KINDS.get(kinds[r]).page, JOB_KINDS.get(kinds[r]).page_query(r)) for r in shown},
            here,
            dict(st.query_params),
        )
        for i, run_id in enumerate(shown):
            kind = kinds[run_id]
            k, badge = JOB_KINDS.get(kind), status_badge(manager.status(run_id, kind))
            name = run_name(kind, run_id)
            short = f"{md(name[:22])} · {run_id[-6:]}" if name else run_id[-12:]
            # Streamlit highlights every link to the page on screen (its query ignored): the entries of this
            # page other than the run it shows are drawn as plain links (SIDEBAR_CSS), so one entry is lit.
            with st.container(key=f"side_{'dim' if k.page == here and run_id != lit else 'run'}_{i}"):
                st.page_link(
                    f"app_pages/{k.page}.py",
                    label=f"{short} · {badge}",
                    query_params=k.page_query(run_id),
                    help=f"{kind} job {run_id}",
                )
