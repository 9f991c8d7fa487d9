"""The Convolution page in a real browser (Chromium + Playwright against `streamlit run`): the size formula
follows a slider, a stroke drawn with the mouse becomes the input, and a photo from the (fake) webcam goes
through the one image path. Screenshots go to test-artifacts/."""

import re

from conftest import ARGS, ARTIFACTS, CHROMIUM

# Chromium's own test camera (a moving test pattern) and no permission prompt.
CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def _size_line(page) -> str:
    return next(t for t in page.inner_text("body").split("\n") if "becomes" in t)


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and (b["y"] < a["y"] + a["height"])
    )


def _toolbar_clear_of_the_toggle(page) -> None:
    """The drawing canvas's toolbar (Update, Undo, Redo, Edit, Reset: drawn above the canvas when the pointer is
    over it) leaves the grey toggle above the canvas visible and clickable: it once covered it
    (``drawing_canvas`` in app_pages/ leaves room)."""
    canvas = page.locator("canvas").last  # the top canvas, which takes the pointer
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    bar = page.locator(".dc-toolbar-card").first  # in the component's shadow root (Playwright pierces it)
    bar.wait_for(state="visible", timeout=15_000)
    toggle = page.get_by_text("grey (one channel)").first
    a, b = None, toggle.bounding_box()
    for _ in range(40):  # the toolbar slides into place: read its box once it has stopped moving
        page.wait_for_timeout(100)
        a, last = bar.bounding_box(), a
        if a == last:
            break
    assert a and b and not _overlap(a, b), (a, b)
    page.screenshot(path=str(ARTIFACTS / "conv-canvas-toolbar.png"))


def test_convolution_page_in_chromium(server):
    from playwright.sync_api import expect, sync_playwright
    from test_browser_inside import _draw

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS + CAMERA)
        context = browser.new_context(viewport={"width": 1400, "height": 1100}, permissions=["camera"])
        page = context.new_page()
        page.goto(f"{server}/conv")
        expect(page.get_by_text("becomes").first).to_be_visible(timeout=60_000)
        h, w = map(int, re.search(r"so (\d+) x (\d+) becomes", _size_line(page)).groups())
        assert f"becomes {h} x {w}." in _size_line(page)  # 3x3, padding 1, stride 1: the same size
        slider = page.get_by_role("slider", name="stride s")
        slider.focus()
        slider.press("ArrowRight")  # stride 2
        oh, ow = (h + 2 - 2 - 1) // 2 + 1, (w + 2 - 2 - 1) // 2 + 1
        expect(page.get_by_text(f"becomes {oh} x {ow}.").first).to_be_visible(timeout=30_000)
        assert "/ 2) + 1" in _size_line(page)
        page.screenshot(path=str(ARTIFACTS / "conv-photo.png"), full_page=True)

        page.get_by_text("draw it").first.click()
        expect(page.get_by_text("Draw something").first).to_be_visible(timeout=30_000)
        _toolbar_clear_of_the_toggle(page)
        _draw(page, [(0.2 + 0.6 * t / 10, 0.5) for t in range(11)])  # a horizontal bar
        expect(page.get_by_text("so 28 x 28 becomes 14 x 14.").first).to_be_visible(timeout=30_000)
        expect(page.get_by_text("input 1 x 28 x 28").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "conv-drawing.png"), full_page=True)

        page.get_by_text("webcam photo").first.click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('video')].some(v => v.readyState >= 2)", timeout=30_000
        )  # the stream has started: a photo now holds a frame
        page.get_by_role("button", name="Take Photo").click(timeout=30_000)
        # Chromium's fake camera (a landscape frame; its size depends on what Streamlit asks for): scaled to
        # the size slider, aspect kept.
        expect(page.get_by_text("Clear photo").first).to_be_visible(timeout=30_000)
        page.wait_for_function(
            "() => /so \\d+ x \\d+ becomes/.test(document.body.innerText) && "
            "!document.body.innerText.includes('so 28 x 28 becomes')",
            timeout=30_000,
        )
        h, w = map(int, re.search(r"so (\d+) x (\d+) becomes", _size_line(page)).groups())
        assert h < w and w in (16, 28, 32, 48, 64, 96, 128), (h, w)
        expect(page.get_by_text(f"input 1 x {h} x {w}").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "conv-webcam.png"), full_page=True)
        browser.close()
