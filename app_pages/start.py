"""Start: what the playground is, the pages in learning order, and one-click lessons that open a page
already set up (``playground.start``), each with the point it proves and the seconds it took to prove it
on a 2-core CPU, as ``playground lessons`` measured."""

from __future__ import annotations

import streamlit as st

from playground.start import PAGES, lessons
from playground.start.measured import MEASURED_ON

TITLES = {
    "data": "Data",
    "conv": "Convolution",
    "train": "Train",
    "inside": "Inside the network",
    "autoencode": "Autoencoders",
    "transfer": "Transfer learning",
    "style": "Style transfer",
}


@st.cache_data(ttl=60, show_spinner=False)
def _lessons():
    return lessons()  # the digits lessons look for MNIST in the data folder once a minute


st.title("CNN Playground")
st.markdown(
    "Learn convolutional networks by doing: pick a data set, build a network, train it in seconds on this "
    "machine, and look inside at what it learned. Everything works offline on the built-in data sets."
)

st.subheader("Lessons: one click each", divider="gray")
st.caption(
    "Each opens a page set up for you with the lesson's sentence and one button: press it, and the page "
    "runs the experiment and shows the number that proves the point. The times are measured by "
    f"`playground lessons` on {MEASURED_ON}: a machine busy with other work is slower."
)
cols = st.columns(2)
for i, lesson in enumerate(_lessons()):
    with cols[i % 2].container(border=True):
        st.page_link(
            f"app_pages/{lesson.page}.py",
            label=f"**{i + 1}. {lesson.title}**",
            query_params=lesson.links(),
            icon=":material/school:",
        )
        st.markdown(lesson.point)
        took = f"{lesson.seconds:.0f} s to the point" if lesson.seconds else "not measured yet"
        st.caption(f"{TITLES[lesson.page]} page · {lesson.concept} · {took}")
        if lesson.note:
            st.caption(f":material/info: {lesson.note}")

st.subheader("The pages, in learning order", divider="gray")
for page, line in PAGES.items():
    st.page_link(f"app_pages/{page}.py", label=f"**{TITLES[page]}**: {line}", icon=":material/arrow_forward:")

from app_pages.course_controls import course_section  # noqa: E402  (the course's experiments as presets)

course_section()
