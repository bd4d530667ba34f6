"""The built HTML book in a real browser (issue 10). Run after ``make book``: ``pytest tests -m browser``.

The book in ``_build/html`` (or ``$GAN_LESSONS_HTML_DIR``) is served from 127.0.0.1 and every page is opened in
headless Chromium (Debian's ``/usr/bin/chromium`` driven by Python playwright; no browser is downloaded). For
each page: no JavaScript console errors, no failed requests to the local server, no request to any other host
(a reader's browser may be offline, so nothing may come from a CDN), no broken internal links, anchors or
images, every equation typeset by MathJax (no raw ``$$`` or ``\\(`` left in the text), every jshtml animation
steps when its "next frame" button is clicked, and launch buttons (Colab) on notebook pages. The search page
must find "discriminator". A screenshot of each chapter's first screen goes to ``_build/screenshots/``.

Layout (issue 16), at 1280 px and 768 px wide: no display equation wider than its box (clipped or scrolled), no
code cell or code listing whose lines run past the right edge of its box, no character in the text that the
page's fonts may lack (outside Latin, Greek, punctuation and the math blocks), and no visible code cell that
calls ``glue(`` or ``claims.claim(`` (bookkeeping cells are tagged remove-input).
"""
from __future__ import annotations

import functools
import html
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("GAN_LESSONS_HTML_DIR", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = Path(os.environ.get("GAN_LESSONS_SCREENSHOT_DIR", ROOT / "_build" / "screenshots"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
COLAB = "https://colab.research.google.com/github/"

pytestmark = pytest.mark.browser

if not (HTML_DIR / "index.html").is_file():
    pytest.skip(f"no built book at {HTML_DIR}: run `make book` first (or set GAN_LESSONS_HTML_DIR)",
                allow_module_level=True)

SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static", "jupyter_execute"}
PAGES = sorted(str(p.relative_to(HTML_DIR)) for p in HTML_DIR.rglob("*.html")
               if not SKIP_DIRS & set(p.relative_to(HTML_DIR).parts[:-1]))
# pages built from a notebook: jupyter-book copies their source to _sources/<page>.ipynb
NOTEBOOK_PAGES = [p for p in PAGES if (HTML_DIR / "_sources" / Path(p).with_suffix(".ipynb")).is_file()]


# --- fixtures: a local server and one browser ------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def server() -> str:
    handler = functools.partial(_QuietHandler, directory=str(HTML_DIR))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (see requirements.txt)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make browser-deps`)")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageVisit:
    """One page opened in a fresh browser context, with everything that went wrong while it loaded."""

    def __init__(self, browser, server: str, page_path: str, width: int = 1280):
        self.server, self.path = server, page_path
        self.context = browser.new_context(viewport={"width": width, "height": 800})
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.failed: list[str] = []
        self.external: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(
            f"{m.text} ({m.location.get('url', '')}:{m.location.get('lineNumber', '')})"))
        self.page.on("pageerror", lambda err: self.console_errors.append(f"uncaught: {err}"))
        self.page.on("requestfailed", lambda r: r.url.startswith(server) and self.failed.append(
            f"{r.url}: {r.failure}"))
        self.page.on("response", lambda r: r.url.startswith(server) and r.status >= 400 and self.failed.append(
            f"{r.url}: HTTP {r.status}"))
        self.page.route("**/*", self._only_local)

    def _only_local(self, route) -> None:
        url = route.request.url
        if url.startswith(self.server) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:  # offline readers would not get it: record, and fail fast instead of waiting for a timeout
            self.external.append(url)
            route.abort()

    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.server}/{self.path}{query}", wait_until="load")
        self.page.wait_for_load_state("networkidle")
        self.page.evaluate("""async () => {
            if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
        }""")

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def visit(browser, server):
    opened = []

    def _open(page_path: str, query: str = "", width: int = 1280) -> PageVisit:
        v = PageVisit(browser, server, page_path, width)
        opened.append(v)
        v.open(query)
        return v

    yield _open
    for v in opened:
        v.close()


def test_there_are_pages():
    assert "index.html" in PAGES and NOTEBOOK_PAGES, f"no notebook pages among {PAGES}"


# --- every page ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("page_path", PAGES)
def test_page(visit, page_path):
    v = visit(page_path)
    problems = [f"console error: {e}" for e in v.console_errors]
    problems += [f"failed request: {f}" for f in v.failed]
    problems += [f"request to another host (needs a network/CDN): {u}" for u in sorted(set(v.external))]
    problems += broken_links_and_images(v)
    problems += unrendered_math(v)
    problems += animations_that_do_not_step(v)
    if page_path in NOTEBOOK_PAGES:
        problems += missing_launch_buttons(v)
    assert not problems, f"{page_path}:\n  " + "\n  ".join(problems)


WIDTHS = (1280, 768)
# Characters the page fonts render: ASCII, Latin-1 and Latin Extended-A, Greek, general punctuation, super- and
# subscripts, letterlike symbols, arrows and mathematical operators. Math is typeset by MathJax's own fonts.
FONT_RANGES = ((0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3FF), (0x2000, 0x206F), (0x2070, 0x209F),
               (0x2100, 0x214F), (0x2190, 0x21FF), (0x2200, 0x22FF))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page_path", PAGES)
def test_layout(visit, page_path, width):
    v = visit(page_path, width=width)
    problems = clipped_equations(v) + overflowing_code(v) + missing_glyphs(v) + visible_bookkeeping(v)
    assert not problems, f"{page_path} at {width} px:\n  " + "\n  ".join(problems)


def clipped_equations(v: PageVisit) -> list[str]:
    found = v.page.evaluate("""() => Array.from(document.querySelectorAll('mjx-container[display="true"]'))
        .map(c => {
            const box = c.closest('div.math') || c.parentElement;
            const math = c.querySelector('mjx-math') || c;
            const eqno = box.querySelector('.eqno');
            const room = box.clientWidth - (eqno ? eqno.getBoundingClientRect().width : 0);
            return {width: math.getBoundingClientRect().width, room: room,
                    text: (box.textContent || '').trim().slice(0, 60)};
        }).filter(e => e.width > e.room + 1)""")
    return [f"display equation {e['width']:.0f} px wide in a {e['room']:.0f} px box: {e['text']!r}" for e in found]


def overflowing_code(v: PageVisit) -> list[str]:
    found = v.page.evaluate("""() => Array.from(document.querySelectorAll('div.highlight pre'))
        .filter(pre => !pre.closest('.cell_output, .output'))
        .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
        .map(pre => ({over: pre.scrollWidth - pre.clientWidth,
                      line: pre.textContent.split('\\n').reduce((a, b) => b.length > a.length ? b : a, '')}))""")
    return [f"code runs {e['over']} px past its box: {e['line'][:70]!r}" for e in found]


def missing_glyphs(v: PageVisit) -> list[str]:
    text = v.page.evaluate("""() => {
        const main = document.querySelector('main') || document.body;
        const clone = main.cloneNode(true);
        clone.querySelectorAll('mjx-container, script, style, svg').forEach(e => e.remove());
        return clone.textContent;
    }""")
    odd = sorted({ch for ch in text if ch not in "\n\t\r" and
                  not any(lo <= ord(ch) <= hi for lo, hi in FONT_RANGES)})
    problems = []
    for ch in odd:
        at = text.index(ch)
        problems.append(f"character U+{ord(ch):04X} {ch!r}, which the page fonts may lack: "
                        f"...{text[max(0, at - 40):at + 20]!r}...")
    return problems


def visible_bookkeeping(v: PageVisit) -> list[str]:
    cells = v.page.evaluate("""() => Array.from(document.querySelectorAll('.cell_input'))
        .filter(c => c.offsetParent !== null).map(c => c.textContent)""")
    return [f"visible code cell with bookkeeping: {c.strip()[:70]!r}" for c in cells
            if re.search(r"\bglue\(|\bclaims\.(claim|save)\(", c)]


def broken_links_and_images(v: PageVisit) -> list[str]:
    found = v.page.evaluate("""() => ({
        links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
        images: Array.from(document.querySelectorAll('img')).map(img => ({
            src: img.currentSrc || img.src || '', id: img.id, visible: img.offsetParent !== null,
            broken: img.complete && img.naturalWidth === 0 && !!(img.currentSrc || img.src)})),
    })""")
    problems = []
    for url in sorted(set(found["links"])):
        if url.startswith(v.server):
            problem = _local_target_problem(url, v.server)
            if problem:
                problems.append(f"broken link {url}: {problem}")
    for img in found["images"]:
        src = img["src"]
        if img["id"].startswith("_anim_img") and not src:
            problems.append(f"animation image {img['id']} never got a frame")
        elif src.startswith(v.server) and _local_target_problem(src, v.server):
            problems.append(f"broken image {src}: {_local_target_problem(src, v.server)}")
        elif img["broken"] and img["visible"]:
            problems.append(f"image does not display: {src[:80]}")
    return problems


@functools.lru_cache(maxsize=None)
def _ids_in(path: Path) -> frozenset[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return frozenset(html.unescape(m) for m in re.findall(r'\b(?:id|name)="([^"]+)"', text))


def _local_target_problem(url: str, server: str) -> str | None:
    parts = urlsplit(url)
    rel = unquote(parts.path).lstrip("/")
    target = HTML_DIR / rel
    if rel == "" or target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return "no such file in the build"
    if parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _ids_in(target):
        return f"no anchor #{unquote(parts.fragment)} in {target.relative_to(HTML_DIR)}"
    return None


def unrendered_math(v: PageVisit) -> list[str]:
    found = v.page.evaluate("""() => {
        const main = document.querySelector('main') || document.body;
        const clone = main.cloneNode(true);
        clone.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight').forEach(e => e.remove());
        const math = Array.from(main.querySelectorAll('.math'));
        return {
            text: clone.textContent,
            total: math.length,
            untypeset: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
            errors: Array.from(main.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error') || e.textContent),
            mathjax: !!window.MathJax,
        };
    }""")
    problems = []
    if found["total"] and not found["mathjax"]:
        problems.append(f"{found['total']} equations but MathJax is not loaded")
    problems += [f"equation not typeset by MathJax: {t!r}" for t in found["untypeset"]]
    problems += [f"MathJax error: {e}" for e in found["errors"]]
    for raw in ("$$", "\\(", "\\)", "\\[", "\\begin{"):
        at = found["text"].find(raw)
        if at >= 0:
            problems.append(f"raw math {raw!r} left in the text: ...{found['text'][max(0, at - 40):at + 60]!r}...")
    return problems


def animations_that_do_not_step(v: PageVisit) -> list[str]:
    ids = v.page.evaluate("""() => Array.from(document.querySelectorAll('img[id^="_anim_img"]'))
                                       .map(img => img.id.slice('_anim_img'.length))""")
    problems = []
    for uid in ids:
        result = v.page.evaluate("""(uid) => {
            const anim = window['anim' + uid];
            const img = document.getElementById('_anim_img' + uid);
            const slider = document.getElementById('_anim_slider' + uid);
            if (!anim || !img) { return {error: 'no player object for this animation'}; }
            const frames = slider ? parseInt(slider.max) + 1 : 2;
            const buttons = Array.from(img.closest('.animation').querySelectorAll('button'));
            const click = (name) => buttons.find(b => (b.getAttribute('onclick') || '').includes(name)).click();
            click('pause_animation'); click('first_frame');
            const first = img.src;
            click('next_frame');
            return {frames: frames, changed: img.src !== first && img.src.length > 0,
                    slider: slider ? parseInt(slider.value) : null};
        }""", uid)
        if "error" in result:
            problems.append(f"animation {uid}: {result['error']}")
        elif result["frames"] > 1 and not result["changed"]:
            problems.append(f"animation {uid}: the frame did not change when 'next frame' was clicked")
    return problems


def missing_launch_buttons(v: PageVisit) -> list[str]:
    source = Path(v.path).with_suffix(".ipynb").as_posix()
    hrefs = v.page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    colab = [h for h in hrefs if h.startswith(COLAB)]
    if not colab:
        return ["no Colab launch button on this notebook page"]
    if not any(h.endswith(f"/blob/main/{source}") for h in colab):
        return [f"the Colab launch button does not open {source} on branch main: {colab}"]
    return []


# --- the search page and the screenshots ---------------------------------------------------------------------------

def test_search_finds_discriminator(visit):
    v = visit("search.html", "?q=discriminator")
    v.page.wait_for_selector("#search-results li", timeout=30_000)
    results = v.page.eval_on_selector_all("#search-results li a", "els => els.map(a => a.href)")
    assert results, "the search page shows no results for 'discriminator'"
    assert not v.console_errors and not v.failed and not v.external, (v.console_errors, v.failed, v.external)
    for url in results:
        assert not _local_target_problem(url, v.server), f"search result {url} points nowhere"


@pytest.mark.parametrize("page_path", NOTEBOOK_PAGES)
def test_screenshot_of_chapter(visit, page_path):
    v = visit(page_path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = SCREENSHOTS / (Path(page_path).stem + ".png")
    v.page.screenshot(path=str(out))  # the first screen, as a reader sees it
    assert out.stat().st_size > 10_000, f"{out} is suspiciously small: is the page blank?"


# --- chapter 1's GAN Lab tour (issue 21) -----------------------------------------------------------------------

LAB_PAGE = "book/01_minimax.html"


@pytest.mark.skipif(LAB_PAGE not in PAGES, reason=f"{LAB_PAGE} is not in this build")
def test_lab_tour_is_on_chapter_1_and_plays(visit):
    """The pre-rendered GAN Lab tour is in the "A guided tour" section, has every frame the caption counts, and
    the player moves through them on its own when play is pressed (no kernel, no network)."""
    v = visit(LAB_PAGE)
    found = v.page.evaluate("""() => {
        const section = document.getElementById('a-guided-tour');
        if (!section) { return {error: 'no section "A guided tour" (id a-guided-tour) on the page'}; }
        const img = section.querySelector('img[id^="_anim_img"]');
        if (!img) { return {error: 'no jshtml animation in the guided tour section'}; }
        const uid = img.id.slice('_anim_img'.length);
        const slider = document.getElementById('_anim_slider' + uid);
        return {uid: uid, frames: slider ? parseInt(slider.max) + 1 : 0, text: section.textContent};
    }""")
    assert "error" not in found, found.get("error")
    counted = re.search(r"(\d+) frames", found["text"])
    assert counted, "the tour's caption does not say how many frames it has"
    assert found["frames"] == int(counted.group(1)) > 10, (found["frames"], counted.group(0))
    start = v.page.evaluate("""(uid) => {
        const img = document.getElementById('_anim_img' + uid);
        const buttons = Array.from(img.closest('.animation').querySelectorAll('button'));
        const click = (name) => buttons.find(b => (b.getAttribute('onclick') || '').includes(name)).click();
        click('pause_animation'); click('first_frame');
        const first = img.src;
        click('play_animation');
        return first;
    }""", found["uid"])
    v.page.wait_for_timeout(2500)  # the tour plays at 2 frames per second
    state = v.page.evaluate("""(uid) => ({src: document.getElementById('_anim_img' + uid).src,
        frame: parseInt(document.getElementById('_anim_slider' + uid).value)})""", found["uid"])
    assert state["frame"] >= 2 and state["src"] != start, f"the tour did not play: {state['frame']=}"
    assert not v.console_errors, v.console_errors
