"""The Transfer page's source task: the pretrained backbone's own ImageNet top-5 of a photo the student uploads.

The photo goes to the job manager as a job (``playground.transfer.SourceTask``, the "top5" kind): the backbone
is built and run in a worker process, through the same gate, quota and queue as a training run, and the page
draws its progress, then the top five and a thumbnail the worker made from its final event. Nothing here
decodes the photo or builds a network (vgg16: 528 MB of weights; a photo may be a pixel bomb)."""

from __future__ import annotations

import base64
import hashlib

import streamlit as st

from app_pages.common import guarded, job_manager, owner
from app_pages.run_panel import LIVE, Opened, ended_box, live_view, open_run, status_of
from playground.transfer import SourceTask
from playground.transfer.plots import top5_figure
from playground.weights import weights_cached, weights_file

KIND = "top5"
KEPT = 8  # the photos a session's page remembers the answer of (a job each)
LOST = ("damaged", "interrupted")  # a job that will never answer: its folder went away, or a restart cut it


def source_task(tv_backbone: str, w) -> None:
    """The backbone's own ImageNet task: the top five of a photo the student uploads, asked once per photo and
    backbone (the same photo again shows the answer already given)."""
    st.subheader("Where the backbone comes from: its ImageNet task", divider="gray")
    st.caption(
        "Before its last layer is replaced, the backbone sorts photos into ImageNet's 1,000 classes. "
        "Upload a photo to see its top five."
    )
    photo = st.file_uploader(
        "a photo (any size or mode)", type=["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"], key="tl_photo"
    )
    if not weights_cached(w):
        st.info(
            f"The ImageNet weights of {tv_backbone} are not cached here (`{weights_file(w)}`), so its source "
            "task cannot be shown. Download them above when online, or use one of your playground runs as the "
            "source model.",
            icon=":material/cloud_off:",
        )
        return
    if photo is None:
        return
    job_id = _job_for(tv_backbone, photo.getvalue(), photo.name)
    opened = open_run(job_id, KIND, noun="top-5 request") if job_id else None
    if opened is not None:
        live_view([opened], lambda now: _draw(opened, now, tv_backbone, photo.name))


def _job_for(backbone: str, data: bytes, name: str) -> str | None:
    """The job that answers this photo for this backbone: the one asked before, else a new one (None: the
    gate refused it and said why)."""
    asked: dict[str, str] = st.session_state.setdefault("tl_top5_jobs", {})
    key = f"{backbone}:{hashlib.sha256(data).hexdigest()}"
    if key in asked and status_of(asked[key], KIND) in LOST:
        del asked[key]  # its folder went away, or a restart cut it short: asked again
    if key not in asked:
        job = guarded(lambda: job_manager().submit(SourceTask(backbone, data, name), owner()))
        if job is None:
            return None
        asked[key] = job.run_id
        for old in list(asked)[:-KEPT]:
            del asked[old]
    return asked[key]


def _draw(opened: Opened, now: dict[str, tuple[str, dict]], backbone: str, name: str) -> None:
    status, snap = now[opened.run_id]
    if status in LIVE:
        fraction, text = snap["progress"]
        if status == "queued":
            position = job_manager().queue_position(opened.run_id)
            fraction, text = 0.0, f"waiting for a free slot (number {position} in the queue)..."
        st.progress(float(fraction), text=f":material/hourglass_top: {text}")
        return
    ended_box(snap["final"])  # an error says what to do: fetch the weights, another photo
    if snap["top"]:
        c1, c2 = st.columns([1, 2])
        thumb = (snap["final"] or {}).get("thumbnail")
        if thumb:
            c1.image(base64.b64decode(thumb), caption=name, width=240)
        c2.plotly_chart(top5_figure(snap["top"], f"{backbone}: ImageNet top-5"), key="tl_top5")
        best = snap["top"][0]
        c2.caption(f"{backbone}'s top guess: **{best['class']}** ({best['probability']:.1%}).")
    elif snap["final"] is None:
        st.caption(f"This photo's answer was lost ({status}): reload the page to ask again.")
