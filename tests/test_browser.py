"""The interactive pages in a real browser: headless Chromium driven by Selenium.

They open the head view, the model view (for a short sentence and for a 512-token input to the
pre-trained encoder, 6 layers × 12 heads); check there are no console errors, that the 512-token files stay
under 10 MB and draw (how fast is measured by ``bench/bench_html.py``, not here: a timed test on a shared
machine fails on its neighbours' load); click a head, hover a token, click a
thumbnail and check the drawing changed in the way the data says it should (the gallery has its own
tests/test_gallery.py); and take
screenshots (kept in ``$ATTNVIZ_SCREENSHOTS`` when that is set).

Without Chromium, chromedriver or Selenium they skip with a one-line reason — unless
``ATTNVIZ_REQUIRE_BROWSER=1`` (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
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

SIZE_LIMIT = 10 * 1024**2
CANVAS_CHECKSUM = """
const c = document.getElementById(arguments[0]);
const h = Math.min(c.height, 3000);
const d = c.getContext('2d').getImageData(0, 0, c.width, h).data;
let s = 0;
for (let i = 0; i < d.length; i += 7) s = (s * 31 + d[i]) | 0;
return s;
"""


@pytest.fixture(scope="module")
def driver():
    skip_or_fail_without_browser()
    with chromium() as drv:
        yield drv


@pytest.fixture(scope="module")
def encoder():
    from attnviz.models import load_model

    return load_model(None, kind="encoder", device="cpu")


@pytest.fixture(scope="module")
def pages(tmp_path_factory, encoder):
    """Head and model views of a short sentence and of a 512-token text, written to a temporary folder."""
    from advanced.bertviz_style import DEFAULT_TEXT, LONG_TEXT, attention_from_model, both_views

    folder = tmp_path_factory.mktemp("views")
    written = {}
    for label, text in (("short", DEFAULT_TEXT), ("long", LONG_TEXT)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the long text is truncated to 512 tokens, with a warning
            kwargs = attention_from_model(encoder, text)
        head, model = both_views(**kwargs, title=label)
        written[label] = {"head": head.save(folder / f"head_{label}.html"),
                          "model": model.save(folder / f"model_{label}.html"),
                          "attention": kwargs["attention"], "tokens": kwargs["tokens"]}
    return written


def _hooks(driver) -> dict:
    return driver.execute_script("return JSON.parse(JSON.stringify(window.__attnviz));")


# ----------------------------------------------------------------------------------- 512 tokens
@pytest.mark.parametrize("mode", ["head", "model"])
def test_512_tokens_small_drawn_and_error_free(driver, pages, mode, tmp_path):
    path = pages["long"][mode]
    assert len(pages["long"]["tokens"]) == 512
    size = path.stat().st_size
    assert size <= SIZE_LIMIT, f"{mode} view of 512 tokens is {size / 1e6:.1f} MB, over the 10 MB limit"
    timing = open_page(driver, path)
    assert timing["first_draw_ms"] is not None, f"{mode} view never drew (console: {console_errors(driver)})"
    assert console_errors(driver) == []
    hooks = _hooks(driver)
    assert hooks["mode"] == mode and hooks["draws"] >= 1
    if mode == "head":  # the overview draws the strongest links, and no more than its budget
        assert 0 < hooks["lines"] <= 8000
    screenshot(driver, f"{mode}_view_512", tmp_path)


# ----------------------------------------------------------------------------- the head view
def test_head_view_click_head_and_hover_token(driver, pages, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from advanced.bertviz_style import MAX_LINKS, THRESHOLD

    attention, tokens = pages["short"]["attention"], pages["short"]["tokens"]  # (L, H, Q, K)
    open_page(driver, pages["short"]["head"])
    assert console_errors(driver) == []
    hooks = _hooks(driver)
    layer = hooks["state"]["layer"]
    n_heads = attention.shape[1]
    assert hooks["state"]["heads"] == list(range(n_heads)), "all heads are shown at first"

    def stored(a):  # what the page stores for a row, computed here independently: weight >= τ, 8 bits
        kept = (a >= THRESHOLD) & (np.rint(a * 255) >= 1)
        return min(int(kept.sum()), MAX_LINKS) if a.ndim == 1 else sum(min(int(r.sum()), MAX_LINKS) for r in kept)

    expected_all = sum(stored(attention[layer, h, q]) for h in range(n_heads) for q in range(len(tokens)))
    assert hooks["lines"] == expected_all, "with every head on, every stored link of the layer is drawn"
    before = driver.execute_script(CANVAS_CHECKSUM, "head-canvas")

    # Click head 3's square: it is switched off, its links disappear, the picture changes.
    driver.find_element(By.CSS_SELECTOR, '#head-swatches [data-head="3"]').click()
    hooks = _hooks(driver)
    assert 3 not in hooks["state"]["heads"]
    without_3 = expected_all - sum(stored(attention[layer, 3, q]) for q in range(len(tokens)))
    assert hooks["lines"] == without_3
    assert driver.execute_script(CANVAS_CHECKSUM, "head-canvas") != before

    # Double-click head 5: it alone is shown.
    ActionChains(driver).double_click(driver.find_element(By.CSS_SELECTOR, '#head-swatches [data-head="5"]')).perform()
    hooks = _hooks(driver)
    assert hooks["state"]["heads"] == [5]
    alone = driver.execute_script(CANVAS_CHECKSUM, "head-canvas")

    # Hover the query token "animal": only its row of head 5 is drawn.
    query = tokens.index("animal")
    canvas = driver.find_element(By.ID, "head-canvas")
    g = hooks["geometry"]
    x = g["col"] / 2 - canvas.size["width"] / 2
    y = g["top"] + (query + 0.5) * g["rowH"] - canvas.size["height"] / 2
    ActionChains(driver).move_to_element_with_offset(canvas, int(x), int(y)).perform()
    driver.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));")
    hooks = _hooks(driver)
    assert hooks["hover"] == {"side": "q", "index": query}
    assert hooks["lines"] == stored(attention[layer, 5, query])
    status = driver.find_element(By.ID, "status").text
    strongest = tokens[int(np.argmax(attention[layer, 5, query]))]
    assert status.startswith("“animal” (query") and f"“{strongest}”" in status, status
    assert driver.execute_script(CANVAS_CHECKSUM, "head-canvas") != alone
    screenshot(driver, "head_view_hover", tmp_path)

    # Hover a key token (right column): the column's links are drawn instead.
    key = tokens.index("street")
    x = g["xRightText"] + 10 - canvas.size["width"] / 2
    y = g["top"] + (key + 0.5) * g["rowH"] - canvas.size["height"] / 2
    ActionChains(driver).move_to_element_with_offset(canvas, int(x), int(y)).perform()
    driver.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));")
    hooks = _hooks(driver)
    assert hooks["hover"] == {"side": "k", "index": key}
    column = attention[layer, 5, :, key]
    assert hooks["lines"] == int(((column >= THRESHOLD) & (np.rint(column * 255) >= 1)).sum())
    assert console_errors(driver) == []


def test_head_view_switches_between_encoder_decoder_and_cross_attention(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from advanced.bertviz_style import head_view

    rng = np.random.default_rng(0)

    def softmax_rows(shape, causal=False):
        scores = rng.normal(size=shape) * 2
        if causal:
            scores = np.where(np.tril(np.ones(shape[-2:], bool)), scores, -np.inf)
        e = np.exp(scores - scores.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    src, tgt = [f"s{i}" for i in range(9)], [f"t{i}" for i in range(5)]
    page = head_view(encoder_attention=softmax_rows((2, 4, 9, 9)), decoder_attention=softmax_rows((2, 4, 5, 5), True),
                     cross_attention=softmax_rows((2, 4, 5, 9)), encoder_tokens=src, decoder_tokens=tgt,
                     title="encoder-decoder")
    path = page.save(tmp_path / "seq2seq.html")
    open_page(driver, path)
    select = Select(driver.find_element(By.ID, "view-select"))
    assert [o.text for o in select.options] == ["encoder self-attention", "decoder self-attention (causal)",
                                                "cross-attention (decoder → encoder)"]
    assert select.first_selected_option.text.startswith("cross"), "cross-attention is shown first"
    g = _hooks(driver)["geometry"]
    assert g["height"] == 30 + 9 * g["rowH"] + 6, "the taller column (9 source tokens) sets the height"
    cross = driver.execute_script(CANVAS_CHECKSUM, "head-canvas")
    select.select_by_index(1)
    hooks = _hooks(driver)
    assert hooks["state"]["view"] == 1
    assert driver.execute_script(CANVAS_CHECKSUM, "head-canvas") != cross
    assert _hooks(driver)["geometry"]["height"] == 30 + 5 * g["rowH"] + 6
    assert console_errors(driver) == []
    screenshot(driver, "head_view_decoder", tmp_path)


# ---------------------------------------------------------------------------- the model view
def test_model_view_click_enlarges_a_head(driver, pages, tmp_path):
    from selenium.webdriver.common.by import By

    attention = pages["short"]["attention"]
    open_page(driver, pages["short"]["model"])
    assert console_errors(driver) == []
    thumbs = driver.find_elements(By.CSS_SELECTOR, "canvas.thumb")
    assert len(thumbs) == attention.shape[0] * attention.shape[1], "one thumbnail per layer and head"
    assert not driver.find_element(By.ID, "detail-heatmap").is_displayed(), "nothing is enlarged at first"
    driver.find_element(By.CSS_SELECTOR, 'canvas.thumb[data-layer="3"][data-head="5"]').click()
    hooks = _hooks(driver)
    assert hooks["selected"] == {"layer": 3, "head": 5}
    assert "layer 3, head 5" in driver.find_element(By.ID, "detail-title").text
    assert driver.find_element(By.ID, "detail-heatmap").is_displayed()
    first = driver.execute_script(CANVAS_CHECKSUM, "detail-heatmap")
    screenshot(driver, "model_view_enlarged_3_5", tmp_path)
    driver.find_element(By.ID, "detail-close").click()
    assert _hooks(driver)["selected"] is None and not driver.find_element(By.ID, "detail").is_displayed()
    driver.find_element(By.CSS_SELECTOR, 'canvas.thumb[data-layer="0"][data-head="2"]').click()
    assert _hooks(driver)["selected"] == {"layer": 0, "head": 2}
    assert driver.execute_script(CANVAS_CHECKSUM, "detail-heatmap") != first
    # The enlarged heatmap's pixel in row q, column k has the colour of the weight (viridis, fixed 0-1 scale).
    q, k = np.unravel_index(int(np.argmax(attention[0, 2])), attention.shape[2:])
    rgb = driver.execute_script("""
        const c = document.getElementById('detail-heatmap'); const m = arguments[0], cell = arguments[1];
        return Array.from(c.getContext('2d').getImageData(m + (arguments[3] + 0.5) * cell,
                                                          m + (arguments[2] + 0.5) * cell, 1, 1).data);""",
                                *_detail_geometry(attention.shape[-1]), int(q), int(k))
    import matplotlib

    want = np.array(matplotlib.colormaps["viridis"](attention[0, 2, q, k])[:3]) * 255
    assert np.abs(np.array(rgb[:3]) - want).max() <= 6, f"pixel {rgb[:3]} is not viridis({attention[0, 2, q, k]:.3f})"
    assert console_errors(driver) == []
    screenshot(driver, "model_view_enlarged", tmp_path)


def _detail_geometry(n: int) -> tuple[int, int]:
    """Margin and cell size of the enlarged heatmap, as views.js lays it out."""
    cell = max(1, min(28, 480 // n))
    return (90 if cell >= 10 else 8), cell


# ------------------------------------------------------------------------------ exercise A2
def test_exercise_a2_dashboard_in_the_browser(driver, submission_dir, tmp_path):
    """The A2 page of the submission (default: the reference solution) redraws when the head changes."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from attnviz.grading.core import load_module
    from attnviz.grading.fixtures import random_attention

    path = submission_dir / "03_advanced" / "a2_interactive_dashboard.py"
    if not path.exists():
        pytest.skip(f"missing: {path}")
    try:
        module = load_module(path, "a2_browser_check")
        attention = random_attention(5, (2, 3, 5, 5))  # (L, H, Q, K)
        tokens = ["[CLS]", "a", "</script>", "b", "[SEP]"]
        page = module.dashboard_html(attention, tokens, k=2, title="A2 in the browser")
    except NotImplementedError as err:
        pytest.skip(f"not attempted: {err}")
    (tmp_path / "a2.html").write_text(page, encoding="utf-8")
    open_page(driver, tmp_path / "a2.html", wait_for_draw=False)
    assert console_errors(driver) == [], "the page logs errors in the browser console"
    opacities = """return Array.from(document.querySelectorAll('#view line'))
                   .map(l => Number(l.getAttribute('stroke-opacity'))).sort((a, b) => a - b);"""

    def expected(layer, head):  # the two strongest weights of every query row, rounded like the data
        return sorted(np.round(np.sort(attention[layer, head], axis=-1)[:, -2:], 3).ravel())

    np.testing.assert_allclose(driver.execute_script(opacities), expected(0, 0), atol=1e-9,
                               err_msg="layer 0, head 0: one line per link, opacity = weight")
    Select(driver.find_element(By.ID, "head")).select_by_index(2)
    np.testing.assert_allclose(driver.execute_script(opacities), expected(0, 2), atol=1e-9,
                               err_msg="after choosing head 2 the lines must be head 2's")
    Select(driver.find_element(By.ID, "layer")).select_by_index(1)
    np.testing.assert_allclose(driver.execute_script(opacities), expected(1, 2), atol=1e-9,
                               err_msg="after choosing layer 1 the lines must be layer 1's")
    texts = driver.execute_script("return Array.from(document.querySelectorAll('#view text')).map(t => t.textContent);")
    assert "</script>" in texts, "the tokens are drawn as given"
    assert console_errors(driver) == []
    screenshot(driver, "a2_dashboard", tmp_path)


def test_jupyter_inline_display_draws_inside_its_frame(driver, tmp_path):
    """``_repr_html_`` wraps the page in a sandboxed ``<iframe srcdoc>``; it must still draw there."""
    from selenium.webdriver.common.by import By

    from advanced.bertviz_style import head_view

    rng = np.random.default_rng(1)
    scores = rng.normal(size=(2, 3, 6, 6))
    attention = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    notebook = tmp_path / "notebook.html"
    notebook.write_text(f"<!doctype html><html><body><h1>a notebook cell</h1>{head_view(attention, list('abcdef'))._repr_html_()}"
                        "</body></html>", encoding="utf-8")
    open_page(driver, notebook, wait_for_draw=False)
    driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
    try:
        for _ in range(100):
            if driver.execute_script("return window.__firstDrawMs !== undefined;"):
                break
            driver.execute_script("return new Promise(r => setTimeout(r, 50));")
        assert driver.execute_script("return window.__attnviz.lines;") > 0
    finally:
        driver.switch_to.default_content()
    assert console_errors(driver) == []


# ------------------------------------------------------------- issue 13: hover shade = read-out, colour bars
def _stored_weights(attention, threshold, max_links):
    """What the page stores, by a plain loop: per row the strongest ``max_links`` keys with weight >= threshold
    and a non-zero byte, as byte / 255; everything else 0."""
    stored = np.zeros_like(attention)
    for index in np.ndindex(attention.shape[:-1]):
        row = attention[index]
        for k in sorted(range(row.size), key=lambda j: -row[j])[:max_links]:
            byte = min(255, int(np.rint(row[k] * 255)))
            if row[k] >= threshold and byte >= 1:
                stored[index + (k,)] = byte / 255
    return stored


def test_head_view_hover_shades_by_the_mean_it_prints_with_per_head_colours(driver, tmp_path):
    """The hover shade was the max over the selected heads while the read-out printed the mean: now both are
    the mean, and every head's own weight is drawn in its colour (as BertViz does)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from advanced.bertviz_style import MAX_LINKS, THRESHOLD, head_view

    rng = np.random.default_rng(3)
    scores = rng.normal(size=(2, 3, 7, 7)) * 2  # (L, H, Q, K)
    attention = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    tokens = [f"w{i}" for i in range(7)]
    path = head_view(attention, tokens, layer=1).save(tmp_path / "hover.html")
    open_page(driver, path)
    hooks = _hooks(driver)
    g, canvas = hooks["geometry"], driver.find_element(By.ID, "head-canvas")
    query = 4
    ActionChains(driver).move_to_element_with_offset(
        canvas, int(g["col"] / 2 - canvas.size["width"] / 2),
        int(g["top"] + (query + 0.5) * g["rowH"] - canvas.size["height"] / 2)).perform()
    driver.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));")
    hooks = _hooks(driver)
    assert hooks["hover"] == {"side": "q", "index": query} and hooks["state"]["heads"] == [0, 1, 2]
    stored = _stored_weights(attention[1, :, query], THRESHOLD, MAX_LINKS)  # (H, K)
    np.testing.assert_allclose(hooks["emphasis"], stored.mean(0), atol=1e-6)  # the shade: mean over heads
    for h in range(3):
        np.testing.assert_allclose(hooks["perHead"][str(h)], stored[h], atol=1e-6)
    status = driver.find_element(By.ID, "status").text
    strongest = int(np.argmax(stored.mean(0)))
    assert f"“w{strongest}” {stored.mean(0)[strongest]:.3f}" in status and "mean of 3 heads" in status, status
    help_text = " ".join(p.text for p in driver.find_elements(By.CSS_SELECTOR, "p.help"))
    assert "MEAN weight over the selected heads" in help_text
    # the per-head strip of the strongest key is painted in each head's colour
    from attnviz.views import HEAD_COLORS

    x = g["xRightEdge"] + (0.5 + int(np.argmax(stored[:, strongest]))) * g["col"] / 3
    y = g["top"] + (strongest + 1) * g["rowH"] - 3
    pixel = driver.execute_script("""const c = document.getElementById('head-canvas');
        return Array.from(c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data);""", x, y)
    colour = HEAD_COLORS[int(np.argmax(stored[:, strongest]))]
    want = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    # the strip is the head colour at opacity 0.15 + 0.85 √w over white: every channel moves toward it
    assert np.all(np.abs(np.array(pixel[:3]) - want) <= np.abs(255 - want) + 1), (pixel, colour)
    assert tuple(pixel[:3]) != (255, 255, 255)
    assert console_errors(driver) == []


def test_model_view_enlarged_head_has_a_colour_bar(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from advanced.bertviz_style import model_view

    rng = np.random.default_rng(4)
    scores = rng.normal(size=(2, 2, 5, 5))
    attention = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    open_page(driver, model_view(attention, list("abcde")).save(tmp_path / "model.html"))
    assert not driver.find_element(By.ID, "detail-colourbar").is_displayed()
    driver.find_element(By.CSS_SELECTOR, 'canvas.thumb[data-layer="1"][data-head="0"]').click()
    bar = driver.find_element(By.ID, "detail-colourbar")
    assert bar.is_displayed() and bar.find_element(By.TAG_NAME, "canvas").is_displayed()
    assert [s.text for s in bar.find_elements(By.TAG_NAME, "span")][:2] == ["0", "1"]
    assert "attention weight" in bar.text
    Select(driver.find_element(By.ID, "scale-select")).select_by_value("row")
    assert "fraction of the row's maximum" in driver.find_element(By.ID, "detail-colourbar").text
    screenshot(driver, "model_view_enlarged_colourbar", tmp_path)
    assert console_errors(driver) == []
