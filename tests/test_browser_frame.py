"""The app's frame in a real browser: a fresh server's first session, opened on a deep link, shows exactly
the app's pages in the sidebar (streamlit_app.py's st.navigation), never one entry per file.

Why the pages live in app_pages/ and not pages/ (as ../shared/DESIGN.md sketches): Streamlit 1.67 decides
once per server process, when its first session starts, whether the app "uses a pages directory"
(``PagesManager.uses_pages_directory``: a folder named ``pages`` beside the entry script). When it does, every
run goes through the legacy multipage runner, which lists every ``.py`` of that folder in the sidebar and runs
a deep link's file alone, without the frame, the sidebar or st.navigation's titles; it never switches back for
a deep link. Measured with the pages moved to pages/: /train on a fresh server showed 18 sidebar entries (one
per module, helpers included) and an empty page (docs/img/pages-folder-legacy-mode.png).
"""

from conftest import ARGS, CHROMIUM, ROOT

PAGES = [
    "Start",
    "Data",
    "Convolution",
    "Train",
    "Inside the network",
    "Transfer learning",
    "Autoencoders",
    "Style transfer",
    "Teacher",
]


def test_no_legacy_pages_folder():
    assert not (ROOT / "pages").exists(), "a pages/ folder puts Streamlit 1.67 in its legacy multipage mode"


def test_first_session_on_a_deep_link_shows_exactly_the_pages(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server + "/train")  # the first session of this server
        page.get_by_role("button", name="Start training").wait_for(timeout=60_000)
        # each link is "<icon ligature>\n\n<title>"
        nav = page.query_selector_all('[data-testid="stSidebarNavLink"]')
        links = [a.inner_text().strip().split("\n")[-1] for a in nav]
        browser.close()
    assert links == PAGES
