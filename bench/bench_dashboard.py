"""The dashboard's redraw time per panel, for a new sentence of 16 and of 64 tokens with MiniLM.

What a new sentence costs on the server: the forward pass (once per input, then cached), then each
panel's numbers and its figure serialised to JSON as Dash sends it — one head's heatmap, rollout, the
flow of one row (row 0: the costliest, [CLS] reaches every token), the gradient-weighted relevance (a
forward and a backward pass), and the head and model views' data (``views.js`` draws it in two frames
that stay loaded). Every repeat uses a sentence the cache has not seen. With Chromium present, the same
is measured end to end in the browser: from pressing Enter in the text box to every panel showing the new
sentence, with, per panel, when its answer reached the page — recorded by a script in the page, so that
the time between an answer and its drawing (the browser's own work) can be told from the server's.

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
        "head view + model view (views.js)": lambda a: to_json_plotly(compute.views_data(a)),  # sent once
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
GRAPH_PANELS = BROWSER_PANELS[:4]
VIEW_PANELS = BROWSER_PANELS[4:]

# Installed in the page once: records, in the page's own clock (performance.now()), when Enter was pressed,
# when each callback's answer arrived (by its outputs), when each graph shows the new sentence, when each
# view reports its drawing (a message from its frame), and the main thread's long tasks. Recording in the
# page, not by polling from Selenium, keeps the measurement from loading the busy machine further.
RECORDER = """
if (!window.__bench) {
  const B = window.__bench = {enter: null, target: null, answers: [], drawn: {}, long: []};
  const originalFetch = window.fetch;
  window.fetch = function (url, options) {
    let outputs = '';
    try { outputs = JSON.parse(options.body).output; } catch (e) { outputs = String(url); }
    return originalFetch.apply(this, arguments).then(function (response) {
      response.clone().text().then(function (body) {
        if (B.target) B.answers.push({outputs: outputs, at: performance.now(), bytes: body.length}); });
      return response;
    });
  };
  document.addEventListener('keydown', function (e) { if (e.key === 'Enter') B.enter = performance.now(); }, true);
  window.addEventListener('message', function (e) {
    const d = e.data || {};
    if (d.type === 'attnviz-views-drawn' && B.target && d.text === B.target && !(d.panel in B.drawn))
      B.drawn[d.panel] = d.at ? d.at - performance.timeOrigin : performance.now();  // the frame's own clock
  });
  try {
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (e) {
        if (B.target) B.long.push({start: e.startTime, ms: e.duration,
                                   where: (e.attribution || []).map(a => a.containerId || a.name).join(',')});
      });
    }).observe({entryTypes: ['longtask']});
  } catch (e) {}
  (function poll() {
    if (B.target) for (const n of ['heatmap', 'rollout', 'flow', 'gradient']) {
      if (n in B.drawn) continue;
      const g = document.querySelector('#' + n + '-graph .js-plotly-plot');
      if (g && g.layout && g.layout.meta && g.layout.meta.text === B.target) B.drawn[n] = performance.now();
    }
    requestAnimationFrame(poll);
  })();
}
"""

# A sentence put into the text box as a paste would (typing 64 tokens key by key on a loaded machine
# drops keys); Enter is then pressed for real, which is what the page reacts to.
SET_TEXT = """const box = document.getElementById('text');
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
    setter.call(box, arguments[0]);
    box.dispatchEvent(new Event('input', {bubbles: true}));
    box.focus();
    const B = window.__bench;
    B.target = arguments[0]; B.enter = null; B.answers = []; B.drawn = {}; B.long = [];"""


def in_browser(lengths, repeats: int) -> dict[int, dict[str, float]] | None:
    """Median seconds from Enter to each panel showing the new sentence (and to all of them), or None
    without Chromium; also, per panel, when its callback's answer arrived (``<panel> answer``) and the
    main thread's long tasks. A graph counts when plotly holds the new figure; a view when its frame
    reports that ``views.js`` has drawn the new sentence (a message to the page), or, for a page sent
    whole as ``srcdoc`` (the older design), when the frame's ``window.__firstDrawMs`` is set."""
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

    def srcdoc_frame_drawn(name: str, text: str) -> float | None:
        """Older design: the page's clock time at which the frame's own page drew ``text``, or None."""
        frame = driver.find_element(By.ID, f"{name}-frame")
        if text[:40] not in (frame.get_attribute("srcdoc") or ""):
            return None
        driver.switch_to.frame(frame)
        try:
            at = driver.execute_script("return window.__firstDrawMs === undefined ? null"
                                       " : performance.timeOrigin + window.__firstDrawMs;")
        finally:
            driver.switch_to.default_content()
        return None if at is None else at - driver.execute_script("return performance.timeOrigin;")

    def answer_of(outputs: str) -> str:
        for name in BROWSER_PANELS + ("cross", "vit"):
            if f"{name}-graph.figure" in outputs or f"{name}-frame" in outputs or f"{name}-status" in outputs:
                return name
        return "analysis" if "analysis.data" in outputs else outputs[:40]

    def redraw(text: str, timeout: float) -> dict[str, float]:
        driver.execute_script(SET_TEXT, text)
        driver.find_element(By.ID, "text").send_keys(Keys.ENTER)
        start = time.perf_counter()
        while True:
            state = driver.execute_script("return JSON.parse(JSON.stringify(window.__bench));")
            drawn = dict(state["drawn"])
            for name in VIEW_PANELS:
                if name not in drawn and all(g in drawn for g in GRAPH_PANELS):
                    at = srcdoc_frame_drawn(name, text)
                    if at is not None:
                        drawn[name] = at
            if all(name in drawn for name in BROWSER_PANELS) and state["enter"] is not None:
                break
            if time.perf_counter() - start > timeout:
                missing = sorted(set(BROWSER_PANELS) - set(drawn))
                raise RuntimeError(f"panels {missing} did not redraw within {timeout:.0f} s "
                                   f"(page message: {driver.find_element(By.ID, 'message').text!r})")
            time.sleep(0.1)
        enter = state["enter"]
        done = {name: (drawn[name] - enter) / 1000 for name in BROWSER_PANELS}
        done["all"] = max(done.values())
        for answer in state["answers"]:
            name = answer_of(str(answer["outputs"]))
            done.setdefault(f"{name} answer", (answer["at"] - enter) / 1000)
            done.setdefault(f"{name} answer KB", answer["bytes"] / 1024)
        done["long tasks"] = sum(task["ms"] for task in state["long"]) / 1000
        return done

    results = {}
    try:
        with chromium() as driver:
            driver.get(server.url)
            driver.execute_script(RECORDER)
            redraw(compute.DEFAULT_OTHER, 180)  # the first sentence (model load) and a warm-up
            for n_tokens in lengths:
                runs = [redraw(sentence(n_tokens, 5000 * n_tokens + r, tokenizer), 120) for r in range(repeats + 1)]
                runs = runs[1:]  # the first of each length warms up
                keys = set.intersection(*(set(run) for run in runs))
                results[n_tokens] = {name: statistics.median(run[name] for run in runs) for name in runs[0]
                                     if name in keys}
    finally:
        server.stop()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat instead of five")
    parser.add_argument("--browser-repeats", type=int, default=None,
                        help="sentences per length in the browser (default: half the repeats, at least 1)")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 5
    browser_repeats = args.browser_repeats or max(1, repeats // 2)
    import torch

    torch.set_num_threads(1)  # as `make dashboard` runs (its --threads default)

    lengths = (16, 64)
    panels = {n: server_side(n, repeats) for n in lengths}
    try:
        browser = in_browser(lengths, browser_repeats)
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
              f"answered in parallel; median of {browser_repeats}):\n")
        print("| panel | 16 tokens | 64 tokens |")
        print("| --- | ---: | ---: |")
        for name in (*BROWSER_PANELS, "all"):
            label = "**every panel**" if name == "all" else name
            print(f"| {label} | {1000 * browser[16][name]:.0f} ms | {1000 * browser[64][name]:.0f} ms |")
        print("\nWhen each callback's answer reached the page (from Enter), its size, and the page's main-thread "
              "long tasks (> 50 ms) in total:\n")
        print("| answer | 16 tokens | 64 tokens | size at 64 |")
        print("| --- | ---: | ---: | ---: |")
        for name in browser[64]:
            if name.endswith(" answer") and name in browser[16]:
                print(f"| {name.removesuffix(' answer')} | {1000 * browser[16][name]:.0f} ms | "
                      f"{1000 * browser[64][name]:.0f} ms | {browser[64].get(name + ' KB', 0):.0f} KB |")
        print(f"| main-thread long tasks | {1000 * browser[16]['long tasks']:.0f} ms | "
              f"{1000 * browser[64]['long tasks']:.0f} ms | |")
    else:
        print(f"\n(end-to-end browser timing not measured: {browser_error or 'Chromium not found'}.)")
    worst = max(totals[64], browser[64]["all"] if browser else 0.0)
    print(f"\nAt 64 tokens: {'within' if worst <= LIMIT_S else 'OVER'} the {LIMIT_S:g} s target "
          f"({worst:.2f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
