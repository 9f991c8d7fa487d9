"""Every lesson's Start-page link in a real browser (Chromium + Playwright against `streamlit run`, a 1280 x 800
window): the page it opens shows the lesson's sentence and its one button on the first screen, without
scrolling. Screenshots go to test-artifacts/."""

from urllib.parse import urlencode

from conftest import ARGS, ARTIFACTS, CHROMIUM

from playground.start import lessons

URL_PATHS = {"autoencode": "autoencoders"}  # a page whose URL path is not its file's name
VIEWPORT = {"width": 1280, "height": 800}


def _on_first_screen(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]


def test_every_lesson_link_lands_on_its_sentence_and_button(server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        for les in lessons():
            page.goto(f"{server}/{URL_PATHS.get(les.page, les.page)}?{urlencode(les.links())}")
            sentence = page.get_by_text(les.point[:60]).first
            expect(sentence).to_be_visible(timeout=90_000)
            button = page.get_by_role("button", name=les.button).first
            expect(button).to_be_visible(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / f"lesson-{les.name}.png"))
            assert _on_first_screen(sentence), (les.name, sentence.bounding_box())
            assert _on_first_screen(button), (les.name, button.bounding_box())
        browser.close()
