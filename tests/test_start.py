"""The start page and its lessons: the app opens on it, every lesson links to a page that opens set up
as the lesson says (its settings survive the page's own widgets unchanged), in the course notes'
order, offline, with MNIST where the data folder has it and a fallback that says so where it does not."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from playground.config import RunConfig
from playground.jobs.manager import reset_manager
from playground.start import LESSONS, PAGES, lessons

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    reset_manager()
    yield lambda: AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    reset_manager()


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_the_app_opens_on_the_start_page_with_every_lesson_linked(app):
    at = app().run()
    _ok(at)
    assert at.title[0].value == "CNN Playground"
    links = at.get("page_link")
    by_label = {link.proto.label: link.proto for link in links}
    for i, lesson in enumerate(lessons()):
        link = by_label[f"**{i + 1}. {lesson.title}**"]
        assert link.page == {"autoencode": "autoencoders"}.get(lesson.page, lesson.page)  # the page's URL path
        assert {k: v[0] for k, v in parse_qs(link.query_string).items()} == lesson.links()
    assert sum(1 for p in by_label.values() if "arrow_forward" in p.icon) == len(PAGES)  # the pages in order
    assert len(lessons()) >= 7 and all((ROOT / "app_pages" / f"{lesson.page}.py").is_file() for lesson in lessons())


def test_lessons_follow_the_course_notes_order():
    order = [lesson.title for lesson in lessons()]
    assert (
        order.index("MLP vs CNN: shift the test images")
        < order.index("Denoise digits")
        < order.index("Borrow a network: transfer learning")
        < order.index("Paint like a texture: style transfer")
    )
    assert sorted(LESSONS.facts(n)["order"] for n in LESSONS.names()) == list(range(1, len(order) + 1))


@pytest.mark.parametrize("name", sorted(LESSONS.names()))
def test_every_lesson_opens_its_page_set_up_as_it_says(app, name):
    lesson = LESSONS.get(name)()
    at = app()
    at.switch_page(f"app_pages/{lesson.page}.py")
    for k, v in lesson.links().items():
        at.query_params[k] = v
    at.run()
    _ok(at)
    if lesson.page != "autoencode":  # AppTest's switch_page does not open a page with its own url_path (it shows
        # Start): tests/test_browser_lessons.py opens that one in Chromium
        assert any(lesson.point in m.value for m in at.markdown)  # the landing: the sentence, then its one button
        assert at.button(key=f"lesson_go_{name}").label == lesson.button
    qp = {k: (v if isinstance(v, str) else v[0]) for k, v in at.query_params.items()}
    if "cfg" in lesson.query:  # the page rebuilt the settings from its widgets: the same config
        assert RunConfig.from_url(qp["cfg"]) == RunConfig.from_url(lesson.query["cfg"])
    if "tab" in lesson.query:
        assert qp["tab"] == lesson.query["tab"]
        keys = {"Initialisation lab": "i_i_race", "MLP vs CNN": "i_m_both"}
        assert at.button(key=keys[lesson.query["tab"]])  # the lesson's one button is there


def test_the_digits_lesson_says_when_mnist_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path / "empty"))
    lesson = LESSONS.get("denoise")()
    assert RunConfig.from_url(lesson.query["cfg"]).data.dataset == "shapes" and "MNIST is not" in lesson.note


def test_the_digits_lesson_uses_mnist_where_the_data_folder_has_it(mnist_root, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA", str(mnist_root))
    lesson = LESSONS.get("denoise")()
    cfg = RunConfig.from_url(lesson.query["cfg"])
    assert cfg.data.dataset == "mnist" and cfg.data.train_limit == 10_000 and not lesson.note


def test_the_start_page_shows_each_lessons_measured_time(app):
    at = app().run()
    _ok(at)
    captions = " ".join(c.value for c in at.caption)
    for lesson in lessons():
        assert f"{lesson.seconds:.0f} s to the point" in captions, lesson.name


def test_a_landing_runs_its_lesson_and_shows_the_point(app):
    at = app()
    at.switch_page("app_pages/conv.py")
    at.query_params["lesson"] = "convolution"
    at.run()
    _ok(at)
    at.button(key="lesson_go_convolution").click().run()
    for _ in range(60):  # the experiment runs in its thread; the panel redraws until it has ended
        if any("the point shows at" in s.value for s in at.success):
            break
        at.run()
    _ok(at)
    shown = [s.value for s in at.success if "the point shows at" in s.value]
    assert shown and "by hand" in shown[0] and "library gives" in shown[0]
