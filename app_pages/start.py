"""Start: what the playground is, the pages in learning order, and one-click lessons that open a page
already set up (``playground.start``)."""

from __future__ import annotations

import streamlit as st

from playground.start import PAGES, lessons

TITLES = {"data": "Data", "conv": "Convolution", "train": "Train", "inside": "Inside the network",
          "autoencode": "Autoencoders", "transfer": "Transfer learning", "style": "Style transfer"}


@st.cache_data(ttl=60, show_spinner=False)
def _lessons():
    return lessons()  # the digits lesson looks for MNIST in the data folder once a minute


st.title("CNN Playground")
st.markdown("Learn convolutional networks by doing: pick a data set, build a network, train it in seconds on this "
            "machine, and look inside at what it learned. Everything works offline on the built-in data sets.")

st.subheader("Lessons: one click each", divider="gray")
st.caption("Each opens a page set up for you; the sentence says what to look at. About a minute each on a laptop.")
cols = st.columns(2)
for i, lesson in enumerate(_lessons()):
    with cols[i % 2].container(border=True):
        st.page_link(f"app_pages/{lesson.page}.py", label=f"**{i + 1}. {lesson.title}**",
                     query_params=lesson.query or None, icon=":material/school:")
        st.markdown(lesson.look)
        took = f"{lesson.minutes:g} min" if lesson.minutes >= 1 else f"{lesson.minutes * 60:.0f} s"
        st.caption(f"{TITLES[lesson.page]} page · {lesson.concept} · about {took}")
        if lesson.note:
            st.caption(f":material/info: {lesson.note}")

st.subheader("The pages, in learning order", divider="gray")
for page, line in PAGES.items():
    st.page_link(f"app_pages/{page}.py", label=f"**{TITLES[page]}**: {line}", icon=":material/arrow_forward:")

from app_pages.course_parts import course_section  # noqa: E402  (the course's experiments as presets)

course_section()
