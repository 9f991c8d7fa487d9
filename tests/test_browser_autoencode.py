"""The Autoencoders page in Chromium (Playwright) against `streamlit run`: start a short denoising run,
see the live reconstruction grid and the curves, then the latent-space views once it is done.
Screenshots go to test-artifacts/."""

import time

from conftest import ARGS, ARTIFACTS, CHROMIUM


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True).and_(page.locator("input"))
    box.fill(value)
    box.press("Enter")
    time.sleep(0.8)


def test_autoencoder_page_in_chromium(server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(server + "/autoencoders")
        page.get_by_role("button", name="Start training").wait_for(timeout=60_000)
        _fill(page, "use only the first N training images (0: all)", "512")
        _fill(page, "batch size", "32")
        _fill(page, "bottleneck (code size)", "2")
        page.get_by_role("button", name="Start training").click()
        page.wait_for_url("**run=*", timeout=30_000)
        # The grid of fixed test images is there from the start (the untrained model's reconstructions).
        expect(page.get_by_text("Fixed test images", exact=False)).to_be_visible(timeout=90_000)
        grid = page.locator("[data-testid='stImage'] img").first
        expect(grid).to_be_visible(timeout=30_000)
        assert grid.evaluate("img => img.naturalWidth") > 500  # 8 upscaled images side by side
        page.screenshot(path=str(ARTIFACTS / "autoencoder-live.png"), full_page=True)
        expect(page.get_by_role("tab", name="Latent space")).to_be_visible(timeout=150_000)
        expect(page.get_by_text("done", exact=False).first).to_be_visible(timeout=30_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
        assert page.locator(".js-plotly-plot").count() >= 2  # curves and the latent scatter
        page.get_by_role("tab", name="PCA baseline").click()
        expect(page.get_by_text("PCA with the same 2 numbers", exact=False)).to_be_visible(timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "autoencoder-done.png"), full_page=True)
        browser.close()
