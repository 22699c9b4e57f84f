"""The gallery (outputs/index.html) in a real browser: headless Chromium driven by Selenium.

Moved out of tests/test_browser.py. Without Chromium, chromedriver or Selenium it skips with a one-line
reason — unless ``ATTNVIZ_REQUIRE_BROWSER=1`` (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from chromium import chromium, console_errors, open_page, skip_or_fail_without_browser  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def driver():
    skip_or_fail_without_browser()
    with chromium() as drv:
        yield drv


def _screenshot(driver, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ATTNVIZ_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), "the screenshot could not be written"
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5, f"{name}: the screenshot is blank (pixel std {pixels.std():.1f})"
    return path


# --------------------------------------------------------------------------------- the gallery
def test_gallery_opens_with_its_images(driver, tmp_path):
    from selenium.webdriver.common.by import By

    from advanced import bertviz_style
    from attnviz.course import build_gallery
    from beginner import attention_basics

    attention_basics.main(["--out", str(tmp_path / "01_beginner" / "attention_basics")])
    bertviz_style.main(["--out", str(tmp_path / "03_advanced" / "bertviz_style"), "--text", "Short and sweet."])
    index = build_gallery(tmp_path)
    open_page(driver, index, wait_for_draw=False)
    images = driver.find_elements(By.TAG_NAME, "img")
    assert len(images) >= 4
    for image in images:
        driver.execute_script("arguments[0].scrollIntoView();", image)
    driver.execute_script("""return new Promise(done => Promise.all(Array.from(document.images).map(
        i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; }))).then(done));""")
    broken = driver.execute_script("return Array.from(document.images).filter(i => !i.naturalWidth).map(i => i.src);")
    assert broken == [], f"images that did not load: {broken}"
    links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "figure a")
             if a.get_attribute("href").endswith(".html")]
    assert any(link.endswith("bertviz_style/head_view.html") for link in links)
    assert any(link.endswith("bertviz_style/model_view.html") for link in links)
    assert console_errors(driver) == []
    _screenshot(driver, "gallery", tmp_path)
    for link in links:  # every interactive page the gallery links to opens without console errors
        driver.get(link)
        assert console_errors(driver) == [], link
