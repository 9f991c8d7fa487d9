"""CNN Playground: the frame. Navigation over the pages and the shared sidebar."""

# pandas before any page draws a figure: plotly looks pandas up in sys.modules without the import lock,
# so a page building a figure while another session's thread was still importing pandas failed
# ("partially initialized module 'pandas'", seen with 30 sessions arriving over 10 s).
import pandas  # noqa: F401
import streamlit as st

from app_pages.common import job_manager, keep_session, md, my_runs, run_name, status_badge
from playground import plugins as _plugins  # noqa: F401  (every capability registers itself)
from playground.data import default_data_root, explore
from playground.device import device_summary
from playground.jobs.kinds import JOB_KINDS
from playground.settings import settings

st.set_page_config(page_title="CNN Playground", page_icon="🧩", layout="wide")  # an emoji: no font CDN offline
if settings().classroom:  # students see a generic message for a bug, never a traceback with server paths
    st.set_option("client.showErrorDetails", "none")
explore.warm_up()  # the built-in data set, drawn once in the background from the server's first page

pages = st.navigation([
    st.Page("app_pages/start.py", title="Start", icon=":material/home:", default=True),
    st.Page("app_pages/data.py", title="Data", icon=":material/photo_library:"),
    st.Page("app_pages/conv.py", title="Convolution", icon=":material/grid_on:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/inside.py", title="Inside the network", icon=":material/neurology:"),
    st.Page("app_pages/transfer.py", title="Transfer learning", icon=":material/swap_horiz:"),
    st.Page("app_pages/autoencode.py", title="Autoencoders", icon=":material/compress:", url_path="autoencoders"),
    st.Page("app_pages/style.py", title="Style transfer", icon=":material/brush:"),
    st.Page("app_pages/teacher.py", title="Teacher", icon=":material/school:"),
])


@st.cache_resource
def _device() -> dict:
    return device_summary()


# No CSS transitions or animations: redrawn every second beside a training run, the progress
# bar's transition alone kept a software-rendered Chromium repainting and cost the run ~15%
# of its images/s on a 2-core laptop (docs/BENCHMARKS.md).
st.html("<style>*, *::before, *::after { transition: none !important; animation: none !important; }</style>")

with st.sidebar:
    keep_session()  # the browser keeps its session token: a reload lists the same runs
    st.markdown("### CNN Playground")
    dev = _device()
    manager = job_manager()
    if dev["type"] == "cuda":
        for g in manager.occupancy():  # per GPU: the jobs placed on it and its memory in use
            st.caption(f":material/memory: GPU {g['index']} {g['name']}: {g['jobs']} job(s), "
                       f"{g['used_mb'] / 1024:.1f} of {g['total_mb'] / 1024:.0f} GB in use")
    else:
        st.caption(f":material/memory: CPU ({dev['threads']} threads); no GPU found")
    st.caption(f":material/folder: data: `{default_data_root().resolve()}`")
    live = manager.live_jobs()
    running = sum(1 for j in live if j.state == "running")
    st.caption(f":material/model_training: {running} training, {len(live) - running} queued "
               f"(at most {manager.max_running} at once)")
    mine = my_runs()
    if mine:
        st.markdown("**Your runs**")
        # Each kind says which page shows its runs; links stay in this tab (this session keeps its runs).
        for run_id in reversed(mine[-8:]):
            kind = manager.kind_of(run_id)
            if kind is None:  # deleted meanwhile
                continue
            k, badge = JOB_KINDS.get(kind), status_badge(manager.status(run_id, kind))
            name = run_name(kind, run_id)
            short = f"{md(name[:22])} · {run_id[-6:]}" if name else run_id[-12:]
            st.page_link(f"app_pages/{k.page}.py", label=f"{short} · {badge}",
                         query_params=k.page_query(run_id), help=f"{kind} job {run_id}")

pages.run()
