"""Reference solution — Exercise A2: an interactive attention dashboard in one HTML file.

Build a small head view: a page that shows, for a chosen layer and head, a line from every query token
(left column) to each of its strongest key tokens (right column), with the line's opacity equal to the
weight. Everything — data, script, styles — lives in the one file, so it opens with no network.

1. ``top_k_links``: the ``k`` strongest keys of every query row (the lesson keeps a page small the same
   way: a row's weakest links are invisible anyway);
2. ``dashboard_data``: those links as plain, JSON-ready Python values;
3. ``dashboard_html``: the page itself — the data in a ``<script type="application/json">`` element,
   two ``<select>`` menus and an ``<svg>`` that a few lines of JavaScript redraw when a menu changes.

The tests parse your HTML (the embedded data must match the attention given) and open it in a headless
browser (no console errors; changing the head redraws the lines). Check your work with ``make check``
(or ``pytest tests/test_exercises.py --submission exercises -k a2``).

Background: ``03_advanced/bertviz_style.py`` — read its docstring (it does the same at 512 tokens).
"""

import json

import numpy as np


def top_k_links(attention: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` strongest keys of every query row, strongest first.

    Args:
        attention: ``(layers, heads, query, key)``; every row (last axis) sums to 1.
        k: how many links to keep per row, ``1 <= k <= key``; otherwise raise ``ValueError`` naming ``k``.
    Returns:
        ``(keys, weights)``, both ``(layers, heads, query, k)``: ``keys[l, h, q]`` are key positions (ints)
        sorted by weight, largest first (ties: the smaller position first), and ``weights`` their weights.
    """
    # BEGIN SOLUTION
    n_keys = attention.shape[-1]
    if not 1 <= k <= n_keys:
        raise ValueError(f"k: got {k}; expected 1 <= k <= {n_keys} (the number of keys)")
    order = np.argsort(-attention, axis=-1, kind="stable")[..., :k]  # (L, H, Q, k), largest first
    return order, np.take_along_axis(attention, order, axis=-1)
    # END SOLUTION


def dashboard_data(attention: np.ndarray, tokens: list[str], k: int = 3, decimals: int = 3) -> dict:
    """The page's data as plain Python values that ``json.dumps`` accepts (no NumPy types).

    Returns a dict with:

    - ``"tokens"``: the token strings;
    - ``"num_layers"``, ``"num_heads"``, ``"k"``: ints;
    - ``"keys"``: nested lists ``[layer][head][query][i]`` of ints, from :func:`top_k_links`;
    - ``"weights"``: the same nesting, each weight rounded to ``decimals`` places.

    Raise ``ValueError`` naming ``tokens`` if there is not one token per query position.
    """
    # BEGIN SOLUTION
    n_layers, n_heads, n_queries, _ = attention.shape
    if len(tokens) != n_queries:
        raise ValueError(f"tokens: got {len(tokens)} tokens for {n_queries} positions")
    keys, weights = top_k_links(attention, k)
    return {
        "tokens": [str(t) for t in tokens],
        "num_layers": int(n_layers),
        "num_heads": int(n_heads),
        "k": int(k),
        "keys": keys.astype(int).tolist(),
        "weights": np.round(weights, decimals).tolist(),
    }
    # END SOLUTION


def dashboard_html(attention: np.ndarray, tokens: list[str], k: int = 3, title: str = "Attention dashboard") -> str:
    """A complete, self-contained HTML page (a string) showing the strongest links of one head at a time.

    Requirements (the tests check each):

    - the data from :func:`dashboard_data` inside ``<script type="application/json" id="attention-data">``;
      a token such as ``"</script>"`` must not end that element early (write ``"<\\/"`` for ``"</"`` in the
      JSON text — ``JSON.parse`` reads it back as ``"</"``);
    - ``<select id="layer">`` with one ``<option>`` per layer and ``<select id="head">`` with one per head;
    - an ``<svg id="view">`` that a ``<script>`` in the page fills, for the chosen layer and head, with one
      ``<line>`` per link (query on the left, key on the right) whose ``stroke-opacity`` is the weight,
      plus the tokens as ``<text>``; changing either menu redraws it;
    - nothing loaded from elsewhere: no ``src=``/``href=`` to another file or a URL (no CDN).
    """
    # BEGIN SOLUTION
    data = dashboard_data(attention, tokens, k)
    payload = json.dumps(data).replace("</", "<\\/")
    layers = "".join(f'<option value="{i}">layer {i}</option>' for i in range(data["num_layers"]))
    heads = "".join(f'<option value="{i}">head {i}</option>' for i in range(data["num_heads"]))
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;")
    script = """
const data = JSON.parse(document.getElementById("attention-data").textContent);
const svg = document.getElementById("view");
const NS = "http://www.w3.org/2000/svg";
const rowHeight = 22, left = 150, right = 350, margin = 20;  // (not "top": that is window.top)
svg.setAttribute("width", 500);
svg.setAttribute("height", margin + rowHeight * data.tokens.length);
function add(name, attributes, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  svg.appendChild(node);
}
function draw() {
  const layer = Number(document.getElementById("layer").value);
  const head = Number(document.getElementById("head").value);
  svg.replaceChildren();
  const y = (i) => margin + rowHeight * i + rowHeight / 2;
  data.tokens.forEach((token, i) => {
    add("text", {x: left - 8, y: y(i), "text-anchor": "end", "dominant-baseline": "middle"}, token);
    add("text", {x: right + 8, y: y(i), "dominant-baseline": "middle"}, token);
  });
  data.keys[layer][head].forEach((keys, query) => {
    keys.forEach((key, i) => {
      add("line", {x1: left, y1: y(query), x2: right, y2: y(key), stroke: "#1f77b4", "stroke-width": 2,
                   "stroke-opacity": data.weights[layer][head][query][i]});
    });
  });
}
document.getElementById("layer").addEventListener("change", draw);
document.getElementById("head").addEventListener("change", draw);
draw();
"""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{safe_title}</title>
<style>body {{ font-family: sans-serif; margin: 1rem; }} text {{ font-size: 13px; }}</style></head>
<body><h1>{safe_title}</h1>
<label>Layer <select id="layer">{layers}</select></label>
<label>Head <select id="head">{heads}</select></label>
<p>The {data["k"]} strongest links of every query token; opacity = attention weight.</p>
<svg id="view"></svg>
<script type="application/json" id="attention-data">{payload}</script>
<script>{script}</script>
</body></html>
"""
    # END SOLUTION
