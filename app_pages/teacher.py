"""Teacher: every run of the class at a glance, for whoever holds the teacher key (PLAYGROUND_TEACHER_KEY).
The key comes in the link (``?key=``, taken out of the address bar at once, so a projector never shows it)
or is typed once per session; the session then keeps a pass, not the key. Students see one message,
whatever they send. Everything shown comes from ``playground.teacher``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.common import client_address, guarded, job_manager, md, owner, status_badge
from playground import teacher
from playground.train.tasks import task_figures

REFRESH_S = 3.0  # the class table; the projector's curves redraw every second
CURVES_S = 1.0

st.title("Teacher")
manager = job_manager()
gate = teacher.gate()
names = teacher.namer()


def authorised() -> bool:
    """The session's pass, else the key in the link or the form; every refusal reads the same."""
    ss, qp = st.session_state, st.query_params
    given = qp.get("key")
    if "key" in qp:
        del qp["key"]  # right or wrong, out of the address bar (and the browser's history of it)
    if gate.still_valid(ss.get("teacher_pass")):
        return True
    with st.form("tv_key_form", clear_on_submit=True, border=False):  # shown alike with a wrong key or none
        typed = st.text_input("Teacher key", type="password", key="tv_key")
        sent = st.form_submit_button("Open", icon=":material/key:")
    given = typed if sent else given
    if given and gate.check(given, owner(), client_address()):
        ss.teacher_pass = gate.pass_token()
        st.rerun()  # drawn again without the form
    st.warning(teacher.REFUSED, icon=":material/lock:")
    return False


def label(row: teacher.RunRow) -> str:
    return f"{row.session} · {row.dataset} · {row.model} · {row.status} · {row.run}"


COLUMNS = {
    "session": st.column_config.TextColumn("session", help="an anonymous name per browser session"),
    "status": st.column_config.TextColumn("status"),
    "test_acc": st.column_config.NumberColumn("test acc. %", format="%.1f"),
    "best_test_acc": st.column_config.NumberColumn("best %", format="%.1f"),
    "time_s": st.column_config.NumberColumn("time (s)", format="%.0f"),
    "queue_position": st.column_config.NumberColumn("queue #", format="%d"),
}


def session_controls() -> None:
    """Every live run of one session stopped at once, and the queue cleared (a session flooding the class)."""
    owners: dict[str, str] = {}
    for j in manager.live_jobs():
        owners.setdefault(names.name(j.owner), j.owner)
    a, b, c = st.columns([3, 1, 1], vertical_alignment="bottom")
    who = a.selectbox("a session", sorted(owners), key="tv_session_pick")
    if b.button("Stop all its runs", key="tv_stop_session", icon=":material/stop_circle:", disabled=who is None):
        st.toast(f"Stopping {manager.stop_owner(owners[who])} run(s) of {who}")
    if c.button(
        "Clear the queue",
        key="tv_clear_queue",
        icon=":material/clear_all:",
        help="every run that has not started leaves the queue, stopped",
    ):
        st.toast(f"Took {manager.clear_queue()} run(s) off the queue")


def class_view() -> None:
    rows = teacher.class_table(manager, names)
    live = [r for r in rows if r.status in teacher.LIVE]
    sessions = len({r.session for r in rows} - {teacher.NO_SESSION})  # "—": runs no session of this server holds
    st.subheader(f"The class: {len(rows)} run(s), {sessions} session(s) here now, {len(live)} live", divider="gray")
    if rows:
        st.dataframe(
            pd.DataFrame([r.as_dict() for r in rows]),
            column_config=COLUMNS,
            hide_index=True,
            width="stretch",
            key="tv_table",
        )
    else:
        st.info("No runs yet. They appear here as students start them.", icon=":material/info:")
    st.download_button(
        "Class results (.csv)",
        teacher.results_csv(rows),
        file_name="class-results.csv",
        mime="text/csv",
        key="tv_csv",
        icon=":material/download:",
        help="every run of the class, finished ones too; accuracies in %",
    )
    if live:
        a, b = st.columns([4, 1], vertical_alignment="bottom")
        pick = a.selectbox(
            "a live run",
            [r.run for r in live],
            key="tv_stop_pick",
            format_func=lambda rid: label(next(r for r in live if r.run == rid)),
        )
        if b.button("Stop", key="tv_stop", icon=":material/stop:", help="stops it like its own Stop button"):
            manager.stop(pick)
            st.toast(f"Stopping {pick}")
        session_controls()
    left, right = st.columns(2)
    with left:
        st.markdown("**Leaderboard: best test accuracy per data set**")
        board = teacher.leaderboard(rows)
        if board:
            st.dataframe(
                pd.DataFrame(board),
                hide_index=True,
                width="stretch",
                key="tv_board",
                column_config={"test_acc": st.column_config.NumberColumn("test acc. %", format="%.1f")},
            )
        else:
            st.caption("No test accuracy yet: it comes with each run's first epoch.")
    with right:
        waiting = teacher.queue(rows)
        st.markdown(f"**Queue: {len(waiting)} waiting** ({manager.max_running} run(s) train at once)")
        if waiting:
            st.dataframe(
                pd.DataFrame(waiting),
                hide_index=True,
                width="stretch",
                key="tv_queue",
                column_config={"waited_s": st.column_config.NumberColumn("waited (s)", format="%d")},
            )
        occupancy(teacher.machine(manager))


def occupancy(m: dict) -> None:
    cpu, slots = m["cpu"], m["slots"]
    load = " / ".join(f"{x:.2f}" for x in cpu["load"]) if cpu["load"] else "?"
    mem = (
        f", memory {cpu['memory_available_mb'] / 1024:.1f} of {cpu['memory_total_mb'] / 1024:.0f} GB free"
        if cpu["memory_total_mb"]
        else ""
    )
    st.caption(f":material/memory: CPU: {cpu['cores']} cores, load {load} (1, 5, 15 min){mem}")
    st.caption(
        f":material/model_training: {slots['running']} training, {slots['paused']} paused, "
        f"{slots['queued']} queued, at most {slots['max_running']} at once"
    )
    for g in m["gpus"]:
        st.progress(
            min(1.0, g["used_mb"] / max(g["total_mb"], 1)),
            text=f"GPU {g['index']} {md(g['name'])}: {g['jobs']} job(s), "
            f"{g['used_mb'] / 1024:.1f} of {g['total_mb'] / 1024:.0f} GB in use",
        )


def projector() -> None:
    """One training run's live curves, full width, and nothing else of the class."""
    rows = [r for r in teacher.class_table(manager, names) if r.kind == "train" and r.status != "damaged"]
    if not rows:
        st.info("No training run to show yet.", icon=":material/info:")
        return
    order = sorted(rows, key=lambda r: (r.status != "running", r.status not in teacher.LIVE))  # running first
    pick = st.selectbox(
        "run on the projector",
        [r.run for r in order],
        key="tv_proj_pick",
        format_func=lambda rid: label(next(r for r in order if r.run == rid)),
    )
    row = next(r for r in order if r.run == pick)
    live = row.status in teacher.LIVE
    task = guarded(lambda: manager.store.open(pick).config().train.task) or "classify"
    figures = task_figures(task)  # an autoencoder reports PSNR, never an accuracy

    @st.fragment(run_every=CURVES_S if live else None)
    def curves() -> None:
        status = manager.status(pick)
        snap = guarded(lambda: manager.snapshot(pick))
        if snap is None:
            return
        st.markdown(f"## {md(row.session)} · {md(row.dataset)} · {md(row.model)} · {status_badge(status)}")
        steps, epochs = snap["steps"], snap["epochs"]
        m = st.columns(3)
        m[0].metric("train loss", f"{steps['loss'][-1]:.4f}" if steps["loss"] else "—")
        last = epochs[-1].get(figures["test"]) if epochs else None
        shown = "—" if last is None else f"{last:.1%}" if figures["metric"] == "acc" else f"{last:.2f}"
        m[1].metric(f"test {figures['label']}", shown)
        m[2].metric("epochs", len(epochs))
        st.plotly_chart(teacher.projector_figure(snap, figures=figures), key="tv_curves", config={"staticPlot": live})
        if live and status not in teacher.LIVE:
            st.rerun()  # it ended: the picker's label and the interactive chart once more

    curves()


if authorised():
    if st.toggle(
        "Show on the projector",
        key="tv_projector",
        help="one run's live curves, full width; the class table, names and run ids stay off the screen",
    ):
        projector()
    else:
        st.fragment(class_view, run_every=REFRESH_S)()
