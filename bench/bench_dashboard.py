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


def in_browser(lengths, repeats: int) -> dict[int, float] | None:
    """Median seconds from Enter to every panel showing the new sentence, or None without Chromium."""
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
    done = """const t = arguments[0];
        const ok = ['heatmap', 'rollout', 'flow', 'gradient'].every(n => {
            const g = document.querySelector('#' + n + '-graph .js-plotly-plot');
            return g && g.layout && g.layout.meta && g.layout.meta.text === t; });
        const frames = ['headview-frame', 'overview-frame'].every(id => {
            const f = document.getElementById(id);
            return f && (f.getAttribute('srcdoc') || '').includes(t.slice(0, 40)); });
        return ok && frames;"""

    def frames_drawn(deadline) -> None:  # the views' scripts run in sandboxed frames: look inside each
        for frame_id in ("headview-frame", "overview-frame"):
            driver.switch_to.frame(driver.find_element(By.ID, frame_id))
            try:
                while not driver.execute_script("return window.__firstDrawMs !== undefined;"):
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"{frame_id} never drew")
                    time.sleep(0.01)
            finally:
                driver.switch_to.default_content()
    results = {}
    try:
        with chromium() as driver:
            driver.get(server.url)
            deadline = time.perf_counter() + 120
            while not driver.execute_script(done, compute.DEFAULT_TEXTS["encoder"]):
                if time.perf_counter() > deadline:
                    raise RuntimeError("the page did not draw its first sentence within 120 s")
                time.sleep(0.05)
            for n_tokens in lengths:
                times = []
                for r in range(repeats + 1):
                    text = sentence(n_tokens, 5000 * n_tokens + r, tokenizer)
                    box = driver.find_element(By.ID, "text")
                    box.send_keys(Keys.CONTROL, "a")
                    box.send_keys(Keys.DELETE)
                    box.send_keys(text)
                    start = time.perf_counter()
                    box.send_keys(Keys.ENTER)
                    deadline = start + 60
                    while not driver.execute_script(done, text):
                        if time.perf_counter() > deadline:
                            raise RuntimeError(f"the page did not redraw within 60 s for {n_tokens} tokens")
                        time.sleep(0.01)
                    frames_drawn(deadline)
                    if r:  # the first one warms up the browser's plotly and the server
                        times.append(time.perf_counter() - start)
                results[n_tokens] = statistics.median(times)
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
        print(f"| in Chromium: Enter → every panel redrawn | {1000 * browser[16]:.0f} ms | "
              f"{1000 * browser[64]:.0f} ms |")
    else:
        print(f"\n(end-to-end browser timing not measured: {browser_error or 'Chromium not found'}.)")
    worst = max(totals[64], browser[64] if browser else 0.0)
    print(f"\nAt 64 tokens: {'within' if worst <= LIMIT_S else 'OVER'} the {LIMIT_S:g} s target "
          f"({worst:.2f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
