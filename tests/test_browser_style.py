"""The Style transfer page in a real browser (Debian's Chromium via Playwright, `streamlit run`).

Offline and uncached (an empty TORCH_HOME): the page says where VGG19's file goes and offers the
playground-trained CNN from the run store. A corrupt upload gets a message. A transfer starts, the
image and the progress update live, Stop keeps the result and the downloads appear.
Screenshots: test-artifacts/style-live.png, test-artifacts/style-stopped.png.
"""

import time

import pytest
from conftest import ARGS, ARTIFACTS, CHROMIUM


@pytest.fixture
def offline_with_a_cnn(tmp_path, monkeypatch):
    """Before `server` starts: no VGG weights anywhere, and one trained cnn in the server's run store."""
    from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
    from playground.runs import RunStore
    from playground.train import fit

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    cfg = RunConfig(
        data=DataConfig(dataset="shapes", params={"n_train": 320, "n_test": 100}),
        model=ModelConfig(name="cnn", params={"channels": [8, 16], "fc": [16]}),
        optim=OptimConfig(name="adam", lr=3e-3),
        train=TrainConfig(epochs=1, batch_size=64),
    )
    final = list(fit(cfg, store=RunStore(tmp_path / "runs")))[-1]
    assert final["kind"] == "done"
    return final["run_id"]  # another session's run: listed when opened by its view link


def _progress_step(page) -> int:
    text = page.evaluate("""() => {
        const bar = [...document.querySelectorAll('[data-testid="stProgress"]')].pop();
        return bar ? bar.innerText : '';
    }""")
    try:
        return int(text.split("step")[1].split("/")[0])
    except (IndexError, ValueError):
        return 0


def test_style_page_offline_live_stop_in_chromium(offline_with_a_cnn, server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(server + f"/style?run={offline_with_a_cnn}")
        expect(page.get_by_text("not in the torch hub cache", exact=False)).to_be_visible(timeout=60_000)

        # A corrupt upload is a message, not a traceback.
        page.get_by_label("style image", exact=True).click()
        page.get_by_role("option", name="upload your own...").click()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            files=[{"name": "broken.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n broken"}]
        )
        expect(page.get_by_text("not an image that can be read", exact=False)).to_be_visible(timeout=30_000)
        page.get_by_label("style image", exact=True).click()
        page.get_by_role("option", name="mosaic", exact=False).click()

        page.get_by_role("combobox", name="feature network").click()
        page.get_by_role("option", name="lower quality", exact=False).click()
        expect(page.get_by_text("Lower quality than VGG19", exact=False)).to_be_visible(timeout=30_000)
        box = page.get_by_label("steps", exact=True)
        box.fill("3000")
        box.press("Enter")
        time.sleep(1)
        page.get_by_role("button", name="Start style transfer").click()

        deadline = time.time() + 90
        while time.time() < deadline and _progress_step(page) < 5:
            time.sleep(0.5)
        first = _progress_step(page)
        assert first >= 5, "no progress shown"
        live_image = page.locator('[data-testid="stImage"] img').last
        src0 = live_image.get_attribute("src")
        deadline = time.time() + 60  # a new preview every few steps (slow when the CPU is shared)
        while time.time() < deadline and live_image.get_attribute("src") == src0:
            time.sleep(0.5)
        later = _progress_step(page)
        page.screenshot(path=str(ARTIFACTS / "style-live.png"), full_page=True)
        assert later > first, f"the progress did not move ({first} -> {later})"
        assert live_image.get_attribute("src") != src0, "the image did not update"
        assert page.locator(".js-plotly-plot").count() == 1  # the three loss panels
        expect(page.locator('[data-testid="stProgress"]').last).to_contain_text("s left")  # the ETA

        page.get_by_role("button", name="Stop").click()
        expect(page.get_by_text("the result so far is kept", exact=False)).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Result (.png)")).to_be_visible(timeout=30_000)
        with page.expect_download() as dl:
            page.get_by_role("button", name="Result (.png)").click()
        assert dl.value.suggested_filename == "style-transfer.png"
        expect(page.get_by_role("button", name="Settings (.json)")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "style-stopped.png"), full_page=True)
        browser.close()
