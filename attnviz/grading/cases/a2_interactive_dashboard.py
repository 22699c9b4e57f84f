"""Cases of exercise A2 — an interactive attention dashboard in one HTML file.

The page is checked here by parsing it (the data embedded must match the attention given, the menus
must be there, nothing may come from the network); ``tests/test_browser.py`` also opens it in Chromium.
"""

import json
from html.parser import HTMLParser

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake, Property
from attnviz.grading.fixtures import error_outcome, minilm_attention, random_attention

TEXT = "The keys to the cabinet are on the table."
TOKENS = ["[CLS]", "the", "cat", "</script>", "sat", "[SEP]"]  # a token that would end a <script> early


def _toy():
    attention = random_attention(61, (2, 3, 6, 6))  # (L, H, Q, K)
    attention[1, 2, 4] = 1 / 6  # one row of exact ties: the smaller key position comes first
    return attention


# ------------------------------------------------------------------------------------------ top_k_links
def _run_top_k(mod):
    attention = _toy()
    keys, weights = mod.top_k_links(attention, 3)
    all_keys, all_weights = mod.top_k_links(attention, 6)
    return {"keys": np.asarray(keys), "weights": np.asarray(weights), "all_keys": np.asarray(all_keys),
            "all_weights": np.asarray(all_weights), "k_zero": error_outcome(lambda: mod.top_k_links(attention, 0), "k"),
            "k_too_big": error_outcome(lambda: mod.top_k_links(attention, 7), "k")}


def _weakest_first(sol):
    out = _run_top_k(sol)
    attention = _toy()
    for name, k in (("", 3), ("all_", 6)):
        order = np.argsort(attention, axis=-1, kind="stable")[..., :k]
        out[name + "keys"], out[name + "weights"] = order, np.take_along_axis(attention, order, -1)
    return out


def _over_queries(sol):
    out = _run_top_k(sol)
    attention = _toy().swapaxes(-1, -2)  # ranking each key's column instead of each query's row
    out["keys"], out["weights"] = sol.top_k_links(attention, 3)
    out["all_keys"], out["all_weights"] = sol.top_k_links(attention, 6)
    return out


# --------------------------------------------------------------------------------------- dashboard_data
def _run_data(mod):
    data = mod.dashboard_data(_toy(), TOKENS, k=2, decimals=3)
    out = {"bad_tokens": error_outcome(lambda: mod.dashboard_data(_toy(), TOKENS[:4], k=2), "tokens")}
    if not isinstance(data, dict):
        return {**out, "json": f"returned {type(data).__name__}, not a dict"}
    try:
        json.dumps(data)
        out["json"] = "json.dumps accepts it"
    except TypeError as err:
        out["json"] = f"json.dumps fails: {err}"
    out.update({"tokens": [str(t) for t in data.get("tokens", [])],
                "sizes": np.array([data.get(k, -1) for k in ("num_layers", "num_heads", "k")], dtype=float),
                "keys": np.asarray(data.get("keys", []), dtype=float),
                "weights": np.asarray(data.get("weights", []), dtype=float)})
    return out


def _unrounded(sol):
    out = _run_data(sol)
    out["weights"] = sol.top_k_links(_toy(), 2)[1]
    return out


# --------------------------------------------------------------------------------------- dashboard_html
class _PageParser(HTMLParser):
    """Collects the script elements, the options of each select, the svg ids and outside references."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts, self.options, self.svgs, self.outside = [], {}, [], []
        self._script, self._select = None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            value = (attrs.get(name) or "").strip()
            if value and not value.startswith(("data:", "#", "javascript:")):
                self.outside.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            self._script = {"type": attrs.get("type", ""), "id": attrs.get("id", ""), "text": ""}
        elif tag == "select":
            self._select = attrs.get("id", "")
            self.options.setdefault(self._select, 0)
        elif tag == "option" and self._select is not None:
            self.options[self._select] += 1
        elif tag == "svg":
            self.svgs.append(attrs.get("id", ""))

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append(self._script)
            self._script = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._script is not None:
            self._script["text"] += data


def parse_page(page: str) -> dict:
    """What the checks compare: the embedded data, the menus, the drawing area, outside references."""
    parser = _PageParser()
    parser.feed(page)
    parser.close()
    found = [s for s in parser.scripts if s["id"] == "attention-data"]
    out = {"layer_options": float(parser.options.get("layer", -1)), "head_options": float(parser.options.get("head", -1)),
           "svg": "svg#view found" if "view" in parser.svgs else f"no <svg id=\"view\"> (svgs: {parser.svgs})",
           "code": "a script with code" if any(s["type"] in ("", "text/javascript", "module") and s["text"].strip()
                                               for s in parser.scripts) else "no <script> with code",
           "outside": "; ".join(parser.outside)}
    empty = {"tokens": [], "keys": np.zeros(0), "weights": np.zeros(0)}  # compared when the data is unusable
    if not found:
        return {**out, **empty, "data": "no <script id=\"attention-data\"> element"}
    if found[0]["type"] != "application/json":
        return {**out, **empty, "data": f"the data script has type {found[0]['type']!r}, expected 'application/json'"}
    try:
        data = json.loads(found[0]["text"])
    except json.JSONDecodeError as err:
        if '"</script>' in page:
            return {**out, **empty, "data": "the data does not parse as JSON: the token '</script>' ended the "
                    "element early"}
        return {**out, **empty, "data": f"the data does not parse as JSON ({err.msg})"}
    if not isinstance(data, dict):
        return {**out, **empty, "data": f"the data is a JSON {type(data).__name__}, expected an object"}
    return {**out, "data": "found and parsed", "tokens": [str(t) for t in data.get("tokens", [])],
            "keys": np.asarray(data.get("keys", []), dtype=float), "weights": np.asarray(data.get("weights", []),
                                                                                            dtype=float)}


def _page_inputs():
    attention, tokens = minilm_attention(TEXT)  # (L, H, Q, K), real weights of the pre-trained encoder
    tokens = list(tokens)
    tokens[2] = "</script>"  # the page must survive a token like this one
    return attention, tokens


def _run_page(mod):
    attention, tokens = _page_inputs()
    page = mod.dashboard_html(attention, tokens, k=3, title="A2 check")
    if not isinstance(page, str):
        return {"data": f"dashboard_html returned {type(page).__name__}, not a str"}
    return parse_page(page)


def _no_outside_refs(out):
    refs = out.get("outside", "")
    return None if not refs else f"the page loads from elsewhere: {refs}"


def _unescaped_script_end(sol):
    attention, tokens = _page_inputs()
    return parse_page(sol.dashboard_html(attention, tokens, k=3, title="A2 check").replace("<\\/", "</"))


EXERCISE = Exercise(
    id="a2_interactive_dashboard",
    path="03_advanced/a2_interactive_dashboard.py",
    title="A2 — An interactive attention dashboard",
    cases=[
        Case(
            name="top_k_links",
            run=_run_top_k,
            points=3,
            checks=[Close("keys", atol=0, hint="Sort each query row by weight, largest first (np.argsort(-attention, "
                          "axis=-1, kind='stable')) and keep the first k; ties keep the smaller key position first."),
                    Close("weights", atol=1e-9, hint="The weights of the keys you chose (np.take_along_axis)."),
                    Close("all_keys", atol=0, hint="With k equal to the number of keys, every key, strongest first."),
                    Close("all_weights", atol=1e-9),
                    Equal("k_zero", "Raise ValueError with 'k' in the message when k < 1."),
                    Equal("k_too_big", "Raise ValueError with 'k' in the message when k exceeds the number of keys.")],
            mistakes=[Mistake("weakest_first", _weakest_first,
                              "You kept the weakest links: sort by -weight (or reverse the order) so the strongest "
                              "come first."),
                      Mistake("over_queries", _over_queries,
                              "You ranked along the query axis: each row (last axis, the keys) is one query's "
                              "distribution; rank within rows.")],
        ),
        Case(
            name="dashboard_data",
            run=_run_data,
            points=2,
            checks=[Equal("json", "Convert NumPy arrays with .tolist() and sizes with int(): json.dumps rejects "
                          "np.int64 and ndarray."),
                    Equal("tokens", "Keep the tokens as a list of strings, one per query position."),
                    Close("sizes", atol=0, hint="num_layers, num_heads and k as plain ints."),
                    Close("keys", atol=0, hint="keys[layer][head][query] from top_k_links."),
                    Close("weights", atol=1e-9, hint="Round each weight to `decimals` places: np.round(w, decimals)."),
                    Equal("bad_tokens", "Raise ValueError naming tokens when there is not one token per query.")],
            mistakes=[Mistake("unrounded", _unrounded,
                              "Your weights are not rounded: np.round(weights, decimals) keeps the page small.")],
        ),
        Case(
            name="dashboard_html",
            run=_run_page,
            points=5,
            checks=[Equal("data", "Put the data in <script type=\"application/json\" id=\"attention-data\">; in the "
                          "JSON text write '<\\/' for '</', or a token like '</script>' ends the element early."),
                    Equal("tokens", "The embedded tokens must be the ones given."),
                    Close("keys", atol=0, hint="Embed dashboard_data(attention, tokens, k) unchanged."),
                    Close("weights", atol=1e-9, hint="Embed dashboard_data(attention, tokens, k) unchanged."),
                    Close("layer_options", atol=0, hint="<select id=\"layer\"> needs one <option> per layer."),
                    Close("head_options", atol=0, hint="<select id=\"head\"> needs one <option> per head."),
                    Equal("svg", "Draw into an <svg id=\"view\"> element."),
                    Equal("code", "The page needs a <script> that draws the lines."),
                    Property(_no_outside_refs, "Inline everything (no CDN, no other file): the page must open "
                             "offline.")],
            mistakes=[Mistake("unescaped", _unescaped_script_end,
                              "The token '</script>' ended your data script early: replace '</' with '<\\/' in the "
                              "JSON text.")],
        ),
    ],
)
