"""A lesson's landing, one call near the top of the page a lesson opens (``landing()``): when the URL names
a lesson (``?lesson=<name>``, set by the Start page's link), the lesson's sentence and its one button,
above the fold, then the panel that shows the point (live progress while its jobs run, then the figure,
the charts and the images). The experiment is the lesson's own (``playground.start``): the same the
harness (``playground lessons``) measures."""

from __future__ import annotations

import streamlit as st

from app_pages.common import owner
from playground.errors import PlaygroundError
from playground.start import LESSONS, lesson
from playground.start.landing import lesson_run, live_view, start_lesson
from playground.start.measured import MEASURED_ON

__all__ = ["landing"]


def landing() -> None:
    name = st.query_params.get("lesson")
    if not name or name not in LESSONS.names():
        return
    les = lesson(name)
    with st.container(border=True):
        st.markdown(f":material/school: **Lesson: {les.title}**: {les.point}")
        if les.note:
            st.caption(f":material/info: {les.note}")
        took = f"{les.seconds:.0f} s measured on {MEASURED_ON}" if les.seconds else "not measured yet"
        cols = st.columns([2, 5])
        if cols[0].button(les.button, key=f"lesson_go_{name}", type="primary", icon=":material/play_arrow:"):
            try:
                start_lesson(name, owner())
            except PlaygroundError as e:
                st.error(str(e))
        cols[1].caption(f"One click runs the whole experiment: {took}. The point is measured as: {les.figure}.")
        _panel(name)


def _panel(name: str) -> None:
    drawn = lesson_run(name, owner())
    drawn_live = drawn is not None and drawn.live

    @st.fragment(run_every=1.0 if drawn_live else None)  # redraws only while the lesson's jobs run
    def panel() -> None:
        run = lesson_run(name, owner())
        if run is None:
            return
        snap = run.snapshot()
        if drawn_live and not snap["live"]:
            st.rerun()  # the whole page: the result below, and no timer any more
        if snap["live"]:
            st.caption(f"{snap['text']} ({snap['elapsed']:.0f} s)")
            for row in live_view(run):
                st.progress(min(1.0, row["fraction"]), text=row["label"])
                if row.get("chart") is not None:
                    st.plotly_chart(row["chart"], key=f"lesson_live_{name}")
            return
        _result(name, snap)

    panel()


def _result(name: str, snap: dict) -> None:
    les = lesson(name)
    if snap["error"]:
        st.error(snap["error"])
        return
    out = snap["outcome"]
    need = f"{'at least' if les.higher else 'at most'} {les.fmt(les.threshold)}"
    (st.success if snap["shown"] else st.warning)(
        f"**{les.figure}: {snap['figure']}** (the point shows at {need}), {snap['elapsed']:.0f} s. {out.text}",
        icon=":material/check_circle:" if snap["shown"] else ":material/warning:",
    )
    for i, fig in enumerate(out.charts):
        st.plotly_chart(fig, key=f"lesson_chart_{name}_{i}")
    if out.images:
        for col, (caption, image) in zip(st.columns(len(out.images)), out.images):
            col.image(image, caption=caption)
