"""Drive the system's Chromium with Selenium: what the browser tests (and ``bench/bench_html.py``) share.

Chromium and its driver come from the Debian packages ``chromium`` and ``chromium-driver``; Selenium
from PyPI. :func:`browser_missing` says in one line what is absent, so tests can skip with that reason
(or fail, when ``ATTNVIZ_REQUIRE_BROWSER=1``, as CI sets it).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
                  "--hide-scrollbars", "--force-device-scale-factor=1"]
CANDIDATES = {"chromium": ("chromium", "chromium-browser", "google-chrome"), "chromedriver": ("chromedriver",)}


def _which(names) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    return None


def browser_missing() -> str | None:
    """``None`` when Chromium, chromedriver and Selenium are all there; else what is missing, in one line."""
    missing = []
    if _which(CANDIDATES["chromium"]) is None:
        missing.append("chromium (apt-get install chromium)")
    if _which(CANDIDATES["chromedriver"]) is None:
        missing.append("chromedriver (apt-get install chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (pip install selenium)")
    return ("browser tests need " + ", ".join(missing)) if missing else None


@contextmanager
def chromium(width: int = 1400, height: int = 1000):
    """A headless Chromium (fresh profile in a temporary folder) driven by Selenium; quits on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="attnviz-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _which(CANDIDATES["chromium"])
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(_which(CANDIDATES["chromedriver"])), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """Console messages of level SEVERE since the last call (uncaught exceptions, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def open_page(driver, path, wait_for_draw: bool = True, timeout: float = 20.0) -> dict:
    """Navigate to a local file and wait for the page's first drawing (``window.__firstDrawMs``).

    Returns ``{"first_draw_ms": ..., "wall_s": ...}``: the page's own measure (``performance.now()``
    counts from the start of navigation) and the time until Selenium saw it.
    """
    console_errors(driver)  # drop earlier pages' messages
    start = time.perf_counter()
    driver.get(Path(path).resolve().as_uri())
    first = None
    if wait_for_draw:
        deadline = time.perf_counter() + timeout
        while first is None and time.perf_counter() < deadline:
            first = driver.execute_script("return window.__firstDrawMs === undefined ? null : window.__firstDrawMs;")
            if first is None:
                time.sleep(0.02)
    return {"first_draw_ms": first, "wall_s": time.perf_counter() - start}


def require_browser() -> bool:
    """True when the environment demands the browser tests run (CI sets ``ATTNVIZ_REQUIRE_BROWSER=1``)."""
    return os.environ.get("ATTNVIZ_REQUIRE_BROWSER", "") not in ("", "0")


def skip_or_fail_without_browser() -> None:
    """In a test: skip with the reason when Chromium is absent, or fail when the environment demands it."""
    import pytest

    reason = browser_missing()
    if reason:
        if require_browser():
            pytest.fail(f"{reason} (ATTNVIZ_REQUIRE_BROWSER is set, so the browser tests must run)")
        pytest.skip(reason)


def screenshot(driver, name: str, tmp_path: Path) -> Path:
    """Save the page as ``<name>.png`` (in ``$ATTNVIZ_SCREENSHOTS`` when set, else ``tmp_path``) and check it is
    not blank (grey-level spread above 5)."""
    import numpy as np
    from PIL import Image

    folder = Path(os.environ.get("ATTNVIZ_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), "the screenshot could not be written"
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5, f"{name}: the screenshot is blank (pixel std {pixels.std():.1f})"
    return path
