"""Inside the network in a real browser (Chromium + Playwright against `streamlit run`).

Trains a tiny run into the server's run store first, opens the page on it, scrubs the filter
slider to the initialisation, opens the Activations tab and clicks a confusion-matrix cell on
the Train page. Screenshots go to test-artifacts/."""

import time

from conftest import ARGS, ARTIFACTS, CHROMIUM


def _train_into(runs_root):
    from playground.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from playground.runs import RunStore
    from playground.train import fit

    cfg = RunConfig(
        data=DataConfig(dataset="shapes", params={"n_train": 384, "n_test": 128}),
        model=ModelConfig(name="cnn", params={"channels": [6, 12], "fc": [32]}),
        train=TrainConfig(epochs=2.0, batch_size=64, log_every=2, probes=("snapshots", "layer_stats")),
    )
    events = list(fit(cfg, store=RunStore(runs_root)))
    assert events[-1]["kind"] == "done"
    return events[0]["run_id"]


def _charts(page) -> int:
    return page.evaluate("() => document.querySelectorAll('.js-plotly-plot').length")


def test_inside_page_in_chromium(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    run_id = _train_into(tmp_path / "runs")  # the server fixture's run store
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(f"{server}/inside?run={run_id}")
        expect(page.get_by_text("after epoch (0: the initialisation)")).to_be_visible(timeout=60_000)
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=30_000)
        expect(page.get_by_text("after epoch 2").first).to_be_visible(timeout=30_000)
        slider = page.get_by_role("slider").first
        slider.focus()
        slider.press("Home")  # scrub back to the initialisation
        expect(page.get_by_text("after epoch 0").first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "inside-filters.png"), full_page=True)
        page.get_by_role("tab", name="Activations").click()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 13", timeout=60_000)
        expect(page.get_by_text("features.0.0 · Conv2d").first).to_be_visible()
        expect(page.get_by_text("no spatial map").first).to_be_visible()
        assert "tab=" in page.url  # the open tab is in the link
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "inside-activations.png"), full_page=True)
        page.get_by_role("tab", name="Saliency & Grad-CAM").click()
        expect(page.get_by_text("Grad-CAM for").first).to_be_visible(timeout=30_000)
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "inside-gradcam.png"), full_page=True)

        # Train page: click an off-diagonal confusion cell, see those images.
        page.goto(f"{server}/train?run={run_id}")
        expect(page.get_by_text(f"Run {run_id}")).to_be_visible(timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot')].some("
            "g => g.data && g.data.length === 2 && g.data[1].customdata)",
            timeout=60_000,
        )
        box = page.evaluate("""() => {
            const g = [...document.querySelectorAll('.js-plotly-plot')]
                .find(g => g.data.length === 2 && g.data[1].customdata);
            g.scrollIntoView();
            const pts = g.querySelectorAll('.scatterlayer .point');
            const r = pts[0].getBoundingClientRect();
            return {x: r.x + r.width / 2, y: r.y + r.height / 2, cell: g.data[1].customdata[0]};
        }""")
        page.mouse.click(box["x"], box["y"])
        expect(page.get_by_text("taken for").first).to_be_visible(timeout=30_000)
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "train-drilldown.png"), full_page=True)
        browser.close()


def _draw(page, points) -> None:
    """One stroke on the page's drawing canvas, through the points given as fractions of its size."""
    canvas = page.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=2)
    page.mouse.up()


def test_a_digit_drawn_with_the_mouse_is_classified_by_an_mnist_run(server, tmp_path, mnist_run):
    """The canvas on the Inside page: a stroke drawn with the mouse reaches the trained MNIST network; a
    vertical line is read as a one, an ellipse (in a new session) as a zero."""
    import math
    import shutil

    from playwright.sync_api import expect, sync_playwright

    root, run_id, _ = mnist_run
    shutil.copytree(root / run_id, tmp_path / "runs" / run_id)  # into the server fixture's run store
    one = [(0.5, 0.15 + 0.7 * t / 20) for t in range(21)]
    zero = [
        (0.5 + 0.2 * math.sin(2 * math.pi * t / 40), 0.5 - 0.35 * math.cos(2 * math.pi * t / 40)) for t in range(41)
    ]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        for name, stroke, digit in (("one", one, "1 - one"), ("zero", zero, "0 - zero")):
            page.goto(f"{server}/inside?run={run_id}&tab=Activations")
            page.get_by_text("draw it").first.click(timeout=60_000)
            expect(page.get_by_text("Draw a digit (white ink on black").first).to_be_visible(timeout=30_000)
            _draw(page, stroke)
            expect(page.get_by_text(f"prepared like MNIST: {digit}").first).to_be_visible(timeout=30_000)
            expect(page.get_by_text(f"prediction: {digit}").first).to_be_visible(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / f"inside-drawn-{name}.png"))
        browser.close()
