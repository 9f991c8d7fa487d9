"""Style transfer: paint a content image in the style of another (Gatys et al.), watching the image
and the three losses change live. The transfer is a job of the server's job manager (the same queue,
slots and worker processes as training; its run folder keeps the result); a fragment redraws from its
buffer about once a second. Stop keeps the current result; the page's URL finds the transfer again."""

from __future__ import annotations

import json

import streamlit as st

from app_pages.common import guarded, job_manager, listed_runs, my_runs, owner
from app_pages.lesson_landing import landing
from app_pages.run_panel import control_row, ended_box, live_view, open_run, view_only_link
from app_pages.style_setup import setup
from playground import style
from playground.errors import PlaygroundError
from playground.style.plots import loss_figure

st.title("Style transfer")
landing()  # a Start-page lesson's sentence and its one button (app_pages/lesson_landing.py)
st.caption(
    "Gatys et al.: optimise the pixels of an image so that a CNN's features match the content image at a "
    "deep layer and the Gram matrices (which features fire together) of the style image at several layers. "
    "As in PyTorch's neural-style tutorial: VGG19, content at conv_4, style at conv_1..conv_5, L-BFGS."
)


# -- the transfer: a job of the server's job manager (queue, slots, worker process, run store) -----

manager = job_manager()
qp = st.query_params  # ?style=<run id> (and ?ctl=, this tab's control key): the transfer below, after a reload


def url_style_run() -> str | None:
    """The style run in the URL; with its control key, it becomes one of this session's runs."""
    run_id = qp.get("style") or None
    if run_id and run_id not in my_runs() and manager.may_control(run_id, owner(), qp.get("ctl"), "style"):
        my_runs().append(run_id)
    return run_id


def style_status(run_id: str) -> str | None:
    try:
        return manager.status(run_id, "style")
    except PlaygroundError:
        return None


run_id = url_style_run()
live = run_id is not None and style_status(run_id) in ("queued", "running", "paused")

# Open only while there is no result to look at: a transfer that ends keeps its image on top, the setup folded
with st.expander("Set up", expanded=run_id is None, icon=":material/palette:"):
    chosen = setup()
    start = st.button(
        "Start style transfer", type="primary", key="s_start", icon=":material/brush:", disabled=chosen is None or live
    )
if start and chosen is not None:
    settings, c_bytes, s_bytes = chosen
    # Roughly one preview a second on a CPU (a step at 256 px takes ~0.2 s here).
    every = max(1, min(10, round(5 * (256 / settings.size) ** 2)))
    job = guarded(lambda: manager.submit(style.StyleJob(settings, c_bytes, s_bytes, preview_every=every), owner()))
    if job is not None:
        my_runs().append(job.run_id)
        qp["style"] = job.run_id
        qp["ctl"] = job.control_key  # this tab keeps control after a reload
        st.rerun()


def progress(snap: dict, status: str) -> None:
    start, final = snap["start"], snap["final"]
    if snap["download"] and not start:
        done, total = snap["download"]
        st.progress(
            done / total if total else 0.0, text=f"downloading the weights: {done / 1e6:.0f} of {total / 1e6:.0f} MB"
        )
    ended_box(final)
    if status == "interrupted":
        st.warning(
            "This transfer was cut off (the server stopped) before it finished. Start it again above.",
            icon=":material/restart_alt:",
        )
    if not start:
        if status == "queued":
            pos = manager.queue_position(run_id)
            st.info(
                f"Waiting for a free slot on this server (place {pos} in the queue): training runs and style "
                "transfers take turns.",
                icon=":material/hourglass_top:",
            )
        elif not final:
            st.caption("Loading the images and the feature network...")
        return
    bar = style.job.style_progress(snap, status == "running")
    st.progress(bar["fraction"], text=bar["label"])
    h, w = start["size"]
    st.caption(
        f"{start['backbone']} on {start['device']} · {w}x{h} px · content {', '.join(start['content_layers'])}"
        f" · style {', '.join(start['style_layers'])}"
    )
    for note in start["notes"]:
        st.caption(f":material/info: {note}")


def draw(snap: dict, live: bool) -> None:
    curves = snap["curves"]
    a, b = st.columns([1, 1.6])
    if snap["image"] is not None:
        a.image(snap["image"], caption=f"step {curves['step'][-1] if curves['step'] else 0}", width="stretch")
    if curves["step"]:
        m = b.columns(4)
        for col, k in zip(m, ("content", "style", "tv", "total")):
            col.metric(f"{k} loss" if k != "tv" else "TV loss", f"{curves[k][-1]:.4g}")
        b.plotly_chart(loss_figure(curves), key="s_losses", config={"staticPlot": live})


def snapshot(run) -> dict:
    return manager.snapshot(run.run_id, "style")


def result_panel(run_id: str) -> None:
    opened = open_run(run_id, "style", qp.get("ctl"), noun="transfer")
    if opened is None:
        return
    run = opened.run
    view_only_link("transfer", style=run_id)

    def view(now: dict) -> None:
        status, snap = now[run_id]
        control_row(
            run_id,
            status,
            opened.mine,
            "s",
            pause=False,
            note="Stop keeps the result so far. You may close this page: the transfer goes on, and this "
            "page's link shows it again.",
        )
        progress(snap, status)
        draw(snap, live=status == "running")

    live_view([opened], view)  # started, or finished: the page redraws once (with the downloads at the end)
    if not opened.live:
        snap = snapshot(run)
        if snap["image"] is not None and snap["final"]:
            settings = guarded(lambda: style.StyleSettings.from_dict(json.loads(run.config_path.read_text("utf-8"))))
            result = {
                "settings": settings.to_dict() if settings else None,
                "result": snap["final"],
                "backbone": (snap["start"] or {}).get("backbone"),
            }
            a, b = st.columns(2)
            a.download_button(
                "Result (.png)",
                style.to_png(snap["image"]),
                file_name="style-transfer.png",
                mime="image/png",
                key="s_dl_png",
                icon=":material/download:",
            )
            b.download_button(
                "Settings (.json)",
                json.dumps(result, indent=2),
                file_name="style-transfer-settings.json",
                mime="application/json",
                key="s_dl_json",
                icon=":material/download:",
            )
            st.caption(
                "`python -m playground style --settings style-transfer-settings.json --out result.png` "
                "repeats this run from a terminal (uploads: pass the files with --content/--style)."
            )


def earlier_runs() -> None:
    """This session's transfers, newest first: open one to see it again."""
    ids = listed_runs([r.run_id for r in manager.store_for("style").list()])
    if len(ids) < 2 and (not ids or ids[0] == run_id):
        return
    with st.expander(f"Your style transfers ({len(ids)})", icon=":material/history:"):
        pick = st.selectbox(
            "open",
            ids,
            index=ids.index(run_id) if run_id in ids else 0,
            key="s_open",
            format_func=lambda i: f"{i} · {style_status(i)}",
        )
        if pick != run_id and st.button("Open", key="s_open_btn"):
            qp["style"] = pick
            st.rerun()


if run_id is not None:
    result_panel(run_id)
else:
    st.info(
        "Pick the images and press **Start style transfer**: the image updates here as it is optimised.",
        icon=":material/info:",
    )
earlier_runs()
