"""The Transfer learning page in Chromium: the four cases, the offline message, the surgery,
the estimate, then a short from-scratch run whose curves draw live. Screenshots in test-artifacts/."""

import time

from conftest import ARGS, ARTIFACTS, CHROMIUM


def _points(page) -> int:
    return page.evaluate("""() => {
        const g = document.querySelector('.js-plotly-plot');
        return g && g.calcdata && g.calcdata.length ? g.calcdata[0].length : 0;
    }""")


def _set(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    time.sleep(1.0)


def test_transfer_page_in_chromium(server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(server + "/transfer")
        expect(page.get_by_text("Small data, different from the source")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("mobilenet_v3_small-047dcff4.pth").first).to_be_visible(timeout=60_000)
        expect(page.get_by_text("The surgery:")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("one epoch (estimate)")).to_be_visible(timeout=60_000)
        _set(page, "training images (0: all)", "256")
        page.get_by_role("button", name="Use these settings").nth(2).click()
        expect(page.get_by_text("(head + features.12, classifier.0-2 (fc))")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "transfer-setup.png"), full_page=True)

        page.get_by_text("none: from scratch").click()
        time.sleep(1.0)
        _set(page, "epochs", "20")
        page.get_by_role("button", name="Start transfer run").click()
        expect(page.get_by_text("from scratch ·", exact=False)).to_be_visible(timeout=60_000)
        deadline = time.time() + 120
        first = 0
        while time.time() < deadline and (first := _points(page)) < 2:
            time.sleep(0.5)
        assert first >= 2, "the loss chart got no points"
        deadline = time.time() + 60
        while time.time() < deadline and _points(page) <= first:
            time.sleep(0.5)
        assert _points(page) > first, "the chart did not gain points while training"
        page.screenshot(path=str(ARTIFACTS / "transfer-live.png"), full_page=True)
        page.get_by_role("button", name="Stop").first.click()
        expect(page.get_by_text("stopped", exact=False).first).to_be_visible(timeout=60_000)
        browser.close()
