"""The gallery (outputs/index.html) in a real browser: headless Chromium driven by Selenium, 1400 px wide.

Two real lessons (1.1 and the BertViz-style views of a short sentence) write into a temporary folder,
plus a CSV and one page too big to preview on sight; the gallery built from them must: lay its cards out
in three or more columns at 1400 px, open an image full size (displayed at its natural pixel size) when
its card is clicked, show a live preview of each small HTML page that actually draws, and its size; hold
back the big page's preview until asked; load every image and open every linked page without console
errors. The screenshot is kept in ``$ATTNVIZ_SCREENSHOTS`` when that is set.

    python tests/test_gallery.py    # screenshot of outputs/index.html at 1400 px -> docs/gallery.png

Without Chromium, chromedriver or Selenium it skips with a one-line reason — unless
``ATTNVIZ_REQUIRE_BROWSER=1`` (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from chromium import (  # noqa: E402
    chromium,
    console_errors,
    open_page,
    screenshot,
    skip_or_fail_without_browser,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def driver():
    skip_or_fail_without_browser()
    with chromium() as drv:
        yield drv


# --------------------------------------------------------------------------------- the gallery
BIG_PAGE_BYTES = 1_600_000  # above attnviz.course.AUTO_PREVIEW_BYTES: previewed only on request
SIZE_UNITS = {"B": 1, "kB": 1024, "MB": 1024**2}


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """Two real lessons' outputs, a CSV and a big page in one folder, and the gallery built over them."""
    from advanced import bertviz_style
    from attnviz import REPO_ROOT
    from attnviz.course import build_gallery
    from attnviz.outputs import LessonOutputs
    from beginner import attention_basics

    root = tmp_path_factory.mktemp("gallery")
    attention_basics.main(["--out", str(root / "01_beginner" / "attention_basics")])
    bertviz_style.main(["--out", str(root / "03_advanced" / "bertviz_style"), "--text", "Short and sweet."])
    extra = LessonOutputs(REPO_ROOT / "03_advanced" / "attention_entropy.py", root / "03_advanced" /
                          "attention_entropy", quiet=True)
    extra.path("heads.csv").write_text("layer,head,entropy\n0,0,2.5\n0,1,0.125\n1,0,1.75\n")
    extra.register("heads.csv", "Entropy per head.")
    padding = "<!--" + "x" * BIG_PAGE_BYTES + "-->"
    extra.path("big.html").write_text(f"<html><body><canvas id=c width=50 height=50></canvas>{padding}</body></html>")
    extra.register("big.html", "A page too big to preview on sight.")
    return build_gallery(root)


def _card(driver, file_name: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f'//figure[.//p[@class="meta"]/a[text()="{file_name}"]]')


def _wait_for(driver, script: str, *args, timeout: float = 20.0):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        value = driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def test_gallery_lays_out_three_or_more_columns_at_1400px(driver, gallery):
    from selenium.webdriver.common.by import By

    open_page(driver, gallery, wait_for_draw=False)
    assert driver.execute_script("return window.innerWidth;") <= 1400
    rows: dict[tuple[str, int], int] = {}  # (lesson, top of the card) -> cards side by side
    for card in driver.find_elements(By.CSS_SELECTOR, "section.lesson figure.card"):
        lesson = card.find_element(By.XPATH, "./ancestor::section").get_attribute("id")
        rows[lesson, card.location["y"]] = rows.get((lesson, card.location["y"]), 0) + 1
    assert max(rows.values()) >= 3, f"cards per row at 1400 px: {sorted(set(rows.values()))}"
    widths = {card.size["width"] for card in driver.find_elements(By.CSS_SELECTOR, "figure.card")}
    assert max(widths) <= 1400 / 3, f"a card is {max(widths)} px wide: fewer than 3 fit in 1400 px"


def test_gallery_card_opens_its_figure_full_size(driver, gallery):
    open_page(driver, gallery, wait_for_draw=False)
    card = _card(driver, "one_head.png")
    thumbnail = card.find_element("css selector", "img")
    driver.execute_script("arguments[0].scrollIntoView();", card)
    thumbnail_width = _wait_for(driver, "return arguments[0].complete && arguments[0].clientWidth;", thumbnail)
    assert not driver.execute_script("return document.getElementById('viewer').open;")
    thumbnail.click()
    assert driver.execute_script("return document.getElementById('viewer').open;"), "no viewer opened"
    natural, shown = _wait_for(driver, """const i = document.querySelector('#viewer-body img');
        return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.getBoundingClientRect().width] : null;""")
    assert natural > thumbnail_width, "the figure is no larger than its thumbnail: nothing to enlarge"
    assert abs(shown - natural) <= 1, f"shown {shown} px wide, the figure is {natural} px: not full size"
    assert driver.execute_script("return document.querySelector('#viewer-body img').getAttribute('src');") \
        == "01_beginner/attention_basics/one_head.png"
    driver.find_element("id", "viewer-close").click()
    assert not driver.execute_script("return document.getElementById('viewer').open;")


@pytest.mark.parametrize("file_name, drawn", [
    ("one_head.html", "return !!document.querySelector('.main-svg .heatmaplayer, .main-svg .hm');"),
    ("head_view.html", "return window.__firstDrawMs !== undefined;"),
], ids=["plotly-heatmap", "head-view"])
def test_gallery_html_card_shows_a_live_preview_and_its_size(driver, gallery, file_name, drawn):
    open_page(driver, gallery, wait_for_draw=False)
    card = _card(driver, file_name)
    driver.execute_script("arguments[0].scrollIntoView();", card)
    frame = _wait_for(driver, "return arguments[0].querySelector('.preview iframe');", card)
    driver.switch_to.frame(frame)
    try:
        _wait_for(driver, drawn)  # the page inside the preview really drew its figure
    finally:
        driver.switch_to.default_content()
    box = driver.execute_script("return arguments[0].parentNode.getBoundingClientRect().toJSON();", frame)
    assert box["width"] > 200 and box["height"] > 150, f"the preview is {box['width']}x{box['height']} px"
    shown = card.find_element("css selector", ".size").text  # "13.0 kB"
    number, unit = shown.split()
    href = card.find_element("css selector", "a.open").get_attribute("href")
    actual = Path(href.removeprefix("file://")).stat().st_size
    assert abs(float(number) * SIZE_UNITS[unit] - actual) <= 0.05 * SIZE_UNITS[unit], (shown, actual)
    assert console_errors(driver) == []


def test_gallery_big_page_previews_only_when_asked(driver, gallery):
    open_page(driver, gallery, wait_for_draw=False)
    card = _card(driver, "big.html")
    driver.execute_script("arguments[0].scrollIntoView();", card)
    time.sleep(0.5)
    assert card.find_elements("css selector", "iframe") == [], "a 1.6 MB page was loaded without a click"
    button = card.find_element("css selector", "button.load-preview")
    assert "1.5 MB" in button.text or "1.6 MB" in button.text
    button.click()
    _wait_for(driver, "return arguments[0].querySelector('.preview iframe');", card)
    assert not driver.execute_script("return document.getElementById('viewer').open;")


def test_gallery_opens_with_its_images(driver, gallery, tmp_path):
    from selenium.webdriver.common.by import By

    open_page(driver, gallery, wait_for_draw=False)
    images = driver.find_elements(By.TAG_NAME, "img")
    assert len(images) >= 4
    for image in images:
        driver.execute_script("arguments[0].scrollIntoView();", image)
    driver.execute_script("""return new Promise(done => Promise.all(Array.from(document.images).map(
        i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; }))).then(done));""")
    broken = driver.execute_script("return Array.from(document.images).filter(i => !i.naturalWidth).map(i => i.src);")
    assert broken == [], f"images that did not load: {broken}"
    links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "figure a.open")
             if a.get_attribute("href").endswith(".html")]
    assert any(link.endswith("bertviz_style/head_view.html") for link in links)
    assert any(link.endswith("bertviz_style/model_view.html") for link in links)
    assert console_errors(driver) == []
    screenshot(driver, "gallery", tmp_path)
    for link in links:  # every interactive page the gallery links to opens without console errors
        driver.get(link)
        assert console_errors(driver) == [], link


def screenshot_for_the_readme(index: Path, png: Path, width: int = 1400) -> Path:
    """The top of the gallery at ``width`` px, with its previews drawn, saved small (palette PNG)."""
    from PIL import Image

    with chromium(width=width, height=1000) as drv:
        open_page(drv, index, wait_for_draw=False)
        time.sleep(4)  # the previews of the visible HTML cards load and draw
        raw = png.with_suffix(".raw.png")
        drv.save_screenshot(str(raw))
    with Image.open(raw) as image:
        small = image.convert("RGB").resize((width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
        small.quantize(colors=128).save(png, optimize=True)
    raw.unlink()
    return png


if __name__ == "__main__":
    from attnviz import OUTPUTS_DIR, REPO_ROOT

    print(screenshot_for_the_readme(OUTPUTS_DIR / "index.html", REPO_ROOT / "docs" / "gallery.png"))
