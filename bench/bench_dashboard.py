"""The dashboard's redraw time per panel, for a new sentence of 16 and of 64 tokens with MiniLM.

What a new sentence costs on the server: the forward pass (once per input, then cached), then each
panel's numbers and its figure serialised to JSON as Dash sends it — one head's heatmap, rollout, the
flow of one row (row 0: the costliest, [CLS] reaches every token), the gradient-weighted relevance (a
forward and a backward pass), and the head and model views' pages (``views.js``). Every repeat uses a
sentence the cache has not seen. With Chromium present, the same is measured end to end in the browser:
from pressing Enter in the text box to every panel showing the new sentence.

Prints a Markdown section for ``bench/RESULTS.md`` (``make bench``); ``--quick`` runs fewer repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
WORDS = ("the river kept its old course through the valley while farmers watched the clouds and the children "
         "ran along the bank to see the boats come home before the storm broke over the hills").split()
LIMIT_S = 2.0  # the target: every panel redrawn within 2 s of a new sentence of <= 64 tokens


def sentence(n_tokens: int, seed: int, tokenizer) -> str:
    """A sentence of exactly ``n_tokens`` MiniLM tokens ([CLS] and [SEP] included), different per seed."""
    words = [WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n_tokens)]
    words[0] = f"number {seed}"
    for count in range(n_tokens, 0, -1):
        text = " ".join(words[:count])
        if len(tokenizer(text)["input_ids"]) <= n_tokens:
            break
    while len(tokenizer(text)["input_ids"]) < n_tokens:
        text += " the"
    assert len(tokenizer(text)["input_ids"]) == n_tokens, (n_tokens, text)
    return text


def server_side(n_tokens: int, repeats: int) -> dict[str, float]:
    """Median seconds per panel (and for the forward pass) over ``repeats`` unseen sentences."""
    from plotly.io.json import to_json_plotly  # what Dash uses to send a figure

    from attnviz.dashboard import app, compute

    timings: dict[str, list[float]] = {}
    tokenizer = compute.get_model(compute.DEFAULT_MODEL).tokenizer
    steps = {
        "forward pass (cached per input)": None,
        "one head's heatmap": lambda a: to_json_plotly(app.draw_heatmap(a, 3, 5)),
        "rollout": lambda a: to_json_plotly(app.draw_rollout(a)),
        "attention flow, one row": lambda a: to_json_plotly(app.draw_flow(a, 0)),
        "gradient-weighted (Chefer)": lambda a: to_json_plotly(app.draw_gradient(a, "similarity", compute.DEFAULT_OTHER)),
        "head view + model view (views.js)": lambda a: compute.views_pages(a, 3),
    }
    for r in range(repeats + 1):  # the first round warms up (model load, imports) and is not counted
        text = sentence(n_tokens, 1000 * n_tokens + r, tokenizer)
        start = time.perf_counter()
        a = compute.analyse(compute.DEFAULT_MODEL, text)
        elapsed = {"forward pass (cached per input)": time.perf_counter() - start}
        assert len(a.tokens) == n_tokens
        for name, step in steps.items():
            if step is None:
                continue
            start = time.perf_counter()
            step(a)
            elapsed[name] = time.perf_counter() - start
        if r:
            for name, seconds in elapsed.items():
                timings.setdefault(name, []).append(seconds)
    return {name: statistics.median(values) for name, values in timings.items()}


BROWSER_PANELS = ("heatmap", "rollout", "flow", "gradient", "headview", "overview")


def in_browser(lengths, repeats: int) -> dict[int, dict[str, float]] | None:
    """Median seconds from Enter to each panel showing the new sentence (and to all of them), or None
    without Chromium. A graph counts when plotly has drawn the new figure; a view when its frame holds the
    new page and ``views.js`` reports its first drawing."""
    sys.path.insert(0, str(REPO / "tests" / "browser"))
    from chromium import browser_missing, chromium

    if browser_missing():
        return None
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from attnviz.dashboard import compute
    from attnviz.dashboard.server import DashboardServer

    tokenizer = compute.get_model(compute.DEFAULT_MODEL).tokenizer
    server = DashboardServer("127.0.0.1", 0).start()
    shown = """const t = arguments[0];
        const graphs = ['heatmap', 'rollout', 'flow', 'gradient'].filter(n => {
            const g = document.querySelector('#' + n + '-graph .js-plotly-plot');
            return g && g.layout && g.layout.meta && g.layout.meta.text === t; });
        const frames = ['headview', 'overview'].filter(n => {
            const f = document.getElementById(n + '-frame');
            return f && (f.getAttribute('srcdoc') || '').includes(t.slice(0, 40)); });
        return graphs.concat(frames);"""

    def frame_drawn(name: str) -> bool:  # the views' scripts run in sandboxed frames: look inside
        driver.switch_to.frame(driver.find_element(By.ID, f"{name}-frame"))
        try:
            return driver.execute_script("return window.__firstDrawMs !== undefined;")
        finally:
            driver.switch_to.default_content()

    def redraw(text: str, timeout: float) -> dict[str, float]:
        box = driver.find_element(By.ID, "text")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys(text)
        start = time.perf_counter()
        box.send_keys(Keys.ENTER)
        done: dict[str, float] = {}
        while len(done) < len(BROWSER_PANELS):
            if time.perf_counter() - start > timeout:
                missing = sorted(set(BROWSER_PANELS) - set(done))
                states = driver.execute_script("""return ['message', 'heatmap-status', 'flow-status'].map(
                    id => id + ': ' + document.getElementById(id).innerText).concat(
                    [JSON.stringify(document.querySelector('#heatmap-graph .js-plotly-plot').layout.meta)]);""")
                raise RuntimeError(f"panels {missing} did not redraw within {timeout:.0f} s ({states})")
            for name in driver.execute_script(shown, text):
                if name not in done and (name in ("heatmap", "rollout", "flow", "gradient") or frame_drawn(name)):
                    done[name] = time.perf_counter() - start
            time.sleep(0.01)
        done["all"] = max(done.values())
        return done

    results = {}
    try:
        with chromium() as driver:
            driver.get(server.url)
            deadline = time.perf_counter() + 180
            while len(driver.execute_script(shown, compute.DEFAULT_TEXTS["encoder"])) < len(BROWSER_PANELS):
                if time.perf_counter() > deadline:
                    raise RuntimeError("the page did not draw its first sentence within 180 s")
                time.sleep(0.05)
            redraw(compute.DEFAULT_OTHER, 180)  # a warm-up sentence
            for n_tokens in lengths:
                runs = [redraw(sentence(n_tokens, 5000 * n_tokens + r, tokenizer), 120) for r in range(repeats + 1)]
                runs = runs[1:]  # the first of each length warms up
                results[n_tokens] = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    finally:
        server.stop()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat instead of five")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 5
    import torch

    torch.set_num_threads(1)  # as `make dashboard` runs (its --threads default)

    lengths = (16, 64)
    panels = {n: server_side(n, repeats) for n in lengths}
    try:
        browser = in_browser(lengths, max(1, repeats // 2))
    except RuntimeError as err:  # report the server-side numbers anyway
        browser, browser_error = None, str(err)
    else:
        browser_error = ""
    print("## Live dashboard: redraw time per panel (`bench/bench_dashboard.py`)\n")
    print(f"A new sentence of exactly 16 or 64 MiniLM tokens (never seen by the cache), on the server: the "
          f"forward pass, then each panel's numbers and its figure serialised as Dash sends it; median of "
          f"{repeats} sentences, {torch.get_num_threads()} torch thread(s) as `make dashboard` runs, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. The target: every panel within "
          f"{LIMIT_S:g} s.\n")
    print("| step | 16 tokens | 64 tokens |")
    print("| --- | ---: | ---: |")
    for name in panels[16]:
        print(f"| {name} | {1000 * panels[16][name]:.0f} ms | {1000 * panels[64][name]:.0f} ms |")
    totals = {n: sum(panels[n].values()) for n in lengths}
    print(f"| **all panels, one after another** | **{1000 * totals[16]:.0f} ms** | **{1000 * totals[64]:.0f} ms** |")
    if browser:
        print(f"\nIn Chromium, from pressing Enter to each panel drawn (server and browser together, the panels "
              f"answered in parallel; median of {max(1, repeats // 2)}):\n")
        print("| panel | 16 tokens | 64 tokens |")
        print("| --- | ---: | ---: |")
        for name in (*BROWSER_PANELS, "all"):
            label = "**every panel**" if name == "all" else name
            print(f"| {label} | {1000 * browser[16][name]:.0f} ms | {1000 * browser[64][name]:.0f} ms |")
    else:
        print(f"\n(end-to-end browser timing not measured: {browser_error or 'Chromium not found'}.)")
    worst = max(totals[64], browser[64]["all"] if browser else 0.0)
    print(f"\nAt 64 tokens: {'within' if worst <= LIMIT_S else 'OVER'} the {LIMIT_S:g} s target "
          f"({worst:.2f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
