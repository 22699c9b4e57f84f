"""Exercise A2: an interactive attention dashboard in one HTML file.

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
    raise NotImplementedError("top_k_links: your code here — see the docstring above")


def dashboard_data(attention: np.ndarray, tokens: list[str], k: int = 3, decimals: int = 3) -> dict:
    """The page's data as plain Python values that ``json.dumps`` accepts (no NumPy types).

    Returns a dict with:

    - ``"tokens"``: the token strings;
    - ``"num_layers"``, ``"num_heads"``, ``"k"``: ints;
    - ``"keys"``: nested lists ``[layer][head][query][i]`` of ints, from :func:`top_k_links`;
    - ``"weights"``: the same nesting, each weight rounded to ``decimals`` places.

    Raise ``ValueError`` naming ``tokens`` if there is not one token per query position.
    """
    raise NotImplementedError("dashboard_data: your code here — see the docstring above")


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
    raise NotImplementedError("dashboard_html: your code here — see the docstring above")
