"""One real-browser test: Debian's Chromium, driven by Playwright, against `streamlit run`.

Starts a short run on the Train page, sees the loss chart gain points, stops the
run, reloads and finds the run again, names it and finds it by name on a page opened without a link to it
(the session cookie). Screenshots go to test-artifacts/.
"""

import time

from conftest import ARGS, ARTIFACTS, CHROMIUM


def _points(page) -> int:
    """Points in the first trace of the loss chart (read from plotly's own data)."""
    return page.evaluate("""() => {
        const g = document.querySelector('.js-plotly-plot');
        return g && g.calcdata && g.calcdata.length ? g.calcdata[0].length : 0;
    }""")


def test_train_stop_reload_in_chromium(server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server + "/train")
        page.get_by_role("button", name="Start training").wait_for(timeout=60_000)
        for label, value in (("use only the first N training images (0: all)", "1000"), ("epochs", "100")):
            box = page.get_by_label(label)
            box.fill(value)
            box.press("Enter")
            time.sleep(0.8)
        page.get_by_role("button", name="Start training").click()
        page.wait_for_url("**run=*", timeout=30_000)
        run_id = page.url.split("run=")[1].split("&")[0]
        deadline = time.time() + 60
        first = 0
        while time.time() < deadline and (first := _points(page)) < 2:
            time.sleep(0.5)
        assert first >= 2, "the loss chart got no points"
        deadline = time.time() + 45  # a busy machine redraws late; wait for the next point, not a fixed time
        while time.time() < deadline and (later := _points(page)) <= first:
            time.sleep(0.5)
        assert later > first, f"the chart did not gain points while training ({first} -> {later})"
        page.screenshot(path=str(ARTIFACTS / "train-live.png"), full_page=True)
        page.get_by_role("button", name="Stop").click()
        expect(page.get_by_text("stopped", exact=False).first).to_be_visible(timeout=30_000)
        page.reload()
        expect(page.get_by_text(f"Run {run_id}")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("stopped", exact=False).first).to_be_visible(timeout=30_000)
        deadline = time.time() + 30
        while time.time() < deadline and _points(page) < later:
            time.sleep(0.5)
        assert _points(page) >= later, "the reloaded page lost points"
        page.screenshot(path=str(ARTIFACTS / "train-reloaded.png"), full_page=True)
        # Once the run has ended its charts are interactive: each downloads as PNG from plotly's toolbar.
        deadline = time.time() + 30
        while time.time() < deadline and not page.locator('[data-title="Download plot as a PNG"]').count():
            time.sleep(0.5)
        assert page.locator('[data-title="Download plot as a PNG"]').count() >= 1

        # Name it; the browser's session cookie brings the run (and its name) back on a page opened without any
        # link to it, as after closing the tab; another browser (no cookie) does not see it.
        box = page.get_by_label("name this run")
        box.fill("my first run")
        box.press("Enter")
        time.sleep(1)
        page.goto(server + "/")
        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_text("my first run").first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "start-my-runs.png"))
        stranger = browser.new_context().new_page()
        stranger.goto(server + "/")
        expect(stranger.get_by_text("Start").first).to_be_visible(timeout=60_000)
        time.sleep(2)
        assert "my first run" not in stranger.inner_text("body")
        browser.close()


def test_zip_upload_on_the_data_page_in_chromium(server, tmp_path):
    """A .zip of class folders uploaded in the browser is unpacked into the session's folder and loads."""
    import io
    import zipfile

    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for c, colour in (("cats", (200, 40, 40)), ("dogs", (40, 40, 200))):
            for i in range(6):
                img = io.BytesIO()
                Image.new("RGB", (20, 16), tuple(v + 5 * i for v in colour)).save(img, "PNG")
                z.writestr(f"{c}/{i}.png", img.getvalue())
    path = tmp_path / "pets.zip"
    path.write_bytes(buf.getvalue())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(server + "/data")
        page.get_by_text("image shape (C, H, W)").wait_for(timeout=60_000)
        page.get_by_role("combobox", name="data set").click()
        page.get_by_role("option", name="image_folder").click()
        page.locator('input[type="file"]').set_input_files(str(path))
        try:
            expect(page.get_by_text("image shape (C, H, W)")).to_be_visible(timeout=60_000)
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "data-zip-upload.png"), full_page=True)
        metrics = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
        assert metrics[0] == "2", metrics  # two classes
        assert not page.locator('[data-testid="stException"]').count()
        browser.close()
