"""The interactive head and model views as pages: inputs checked, one self-contained HTML file, read back.

Lesson 3.3 (``03_advanced/bertviz_style.py``) teaches how the attention is stored small (the strongest
links of each row, 8-bit weights, deflate); this module is the page around that data, which the lesson
and the dashboard share:

- :func:`collect_sets` checks what a caller passes (one self-attention, or the encoder, decoder and
  cross-attention of an encoder-decoder) and names each kind of attention (:class:`AttentionSet`);
- :func:`render_page` writes the page: styles, script and data inlined, no CDN, no server — it opens
  offline. The script and styles are ``views.js`` and ``views.css`` in :data:`ASSETS`. It is
  :func:`page_settings` (the data object) wrapped by :func:`html_page`; the dashboard sends the data
  object alone;
- :class:`AttentionView` is a written page: ``.html``, ``.save(path)``, and it displays itself in Jupyter;
- :func:`page_data` reads the data back out of a page (tests, benchmarks, the lesson's size figure),
  :func:`pack` / :func:`unpack` are the byte transport the page's ``DecompressionStream`` decodes;
- :func:`densify` undoes the lesson's ``sparsify`` and :func:`read_page_data` reads a page's weights back,
  dense; :func:`packed_bytes` is the size of the packed arrays;
- around lesson 3.3's pages: :func:`label_decoder_by_prediction` (one row convention with lesson 2.4),
  :func:`save_pair`, :func:`page_size_figure` (drawn from the sizes the lesson measures) and
  :func:`read_text_option` (``--text-file``).
"""

from __future__ import annotations

import base64
import html
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnviz.validate import as_layers, check_cross_attention, check_index, check_tokens, to_numpy

ASSETS = Path(__file__).resolve().parent / "_views_assets"  # views.js and views.css, inlined into every page
DATA_FORMAT = "attnviz-views/1"
# Line colours, one per head (tab10, then the dark tab20b shades): readable on white.
HEAD_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3",
               "#8ca252", "#bd9e39", "#ad494a", "#a55194"]
_DATA_RE = re.compile(r'<script type="application/json" id="attnviz-data">(.*?)</script>', re.S)


@dataclass
class AttentionSet:
    """One kind of attention to show: weights ``(L, H, Q, K)`` with the query and key tokens."""

    id: str  # "self", "encoder", "decoder" or "cross"
    name: str  # what the page's selector says
    attention: np.ndarray  # (L, H, Q, K)
    query_tokens: list[str]
    key_tokens: list[str]
    query_label: str = "query (attending)"
    key_label: str = "key (attended to)"


class AttentionView:
    """An interactive page: ``.html`` (the whole file as a string), ``.save(path)``, and it displays
    itself inline in Jupyter (in an ``<iframe srcdoc>``, so its script and styles stay isolated)."""

    def __init__(self, html_text: str, mode: str):
        self.html, self.mode = html_text, mode

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html, encoding="utf-8")
        return path

    @property
    def nbytes(self) -> int:
        return len(self.html.encode("utf-8"))

    def _repr_html_(self) -> str:
        height = 760 if self.mode == "model" else 640
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;height:{height}px;'
                'border:1px solid #ddd" sandbox="allow-scripts"></iframe>')

    def __repr__(self) -> str:
        return f"AttentionView(mode={self.mode!r}, {self.nbytes / 1024:.0f} KiB)"


# ------------------------------------------------------------------------------------ the inputs
_SELF_KINDS = {  # argument -> (id, selector name, query label, key label)
    "encoder_attention": ("encoder", "encoder self-attention", "encoder token (query)", "encoder token (key)"),
    "decoder_attention": ("decoder", "decoder self-attention (causal)", "decoder token (query)",
                          "decoder token (key)"),
}


def collect_sets(attention=None, tokens=None, *, encoder_attention=None, decoder_attention=None,
                 cross_attention=None, encoder_tokens=None, decoder_tokens=None) -> list[AttentionSet]:
    """Validate the inputs of the head view / model view and name each kind of attention.

    Either ``attention`` with ``tokens`` (an encoder's or a decoder's self-attention), or any of
    ``encoder_attention`` (with ``encoder_tokens``), ``decoder_attention`` (with ``decoder_tokens``) and
    ``cross_attention`` ``(L, H, target, source)`` (with both). Each array is ``(L, H, Q, K)``, or
    ``(L, 1, H, Q, K)`` as :func:`attnviz.extract.transformer_attentions` returns for one example, or
    the ``transformers`` tuple of ``(1, H, Q, K)`` tensors.
    """
    if attention is not None:
        if any(a is not None for a in (encoder_attention, decoder_attention, cross_attention)):
            raise ValueError("attention: give either attention (self-attention) or "
                             "encoder_/decoder_/cross_attention, not both")
        arr = _self_attention(attention, "attention")
        toks = check_tokens(tokens, arr.shape[-1], name="tokens")
        return [AttentionSet("self", "self-attention", arr, toks, toks)]
    sets = []
    given = {"encoder_attention": (encoder_attention, encoder_tokens, "encoder_tokens"),
             "decoder_attention": (decoder_attention, decoder_tokens, "decoder_tokens")}
    for name, (weights, toks, toks_name) in given.items():
        if weights is not None:
            arr = _self_attention(weights, name)
            toks = check_tokens(toks, arr.shape[-1], name=toks_name)
            kind, title, query_label, key_label = _SELF_KINDS[name]
            sets.append(AttentionSet(kind, title, arr, toks, toks, query_label, key_label))
    if cross_attention is not None:
        if encoder_tokens is None or decoder_tokens is None:
            raise ValueError("cross_attention: needs encoder_tokens (keys) and decoder_tokens (queries)")
        arr = _as_lhqk(cross_attention, "cross_attention", square=False)
        src = check_tokens(encoder_tokens, len(_sized(encoder_tokens)), name="encoder_tokens")
        tgt = check_tokens(decoder_tokens, len(_sized(decoder_tokens)), name="decoder_tokens")
        arr = check_cross_attention(arr, source_len=len(src), target_len=len(tgt), name="cross_attention")
        sets.append(AttentionSet("cross", "cross-attention (decoder → encoder)", arr, tgt, src,
                                 "decoder token (query)", "encoder token (key)"))
    if not sets:
        raise ValueError("attention: nothing to show (every attention argument is None); pass attention= "
                         "and tokens=, or encoder_attention=, decoder_attention=, cross_attention=")
    return sets


def _self_attention(attention, name: str) -> np.ndarray:
    return _as_lhqk(attention, name, square=True)


def _sized(tokens):
    """``tokens`` itself when it has a length (``check_tokens`` then rejects strings and None), else []."""
    return tokens if hasattr(tokens, "__len__") else []


def _as_lhqk(attention, name: str, square: bool) -> np.ndarray:
    """Accept ``(L, H, Q, K)``, ``(L, 1, H, Q, K)`` or a ``transformers`` tuple of ``(1, H, Q, K)`` tensors."""
    arr, _ = as_layers(attention, "LHQK|LBHQK", name=name, square=square)  # (L, B, H, Q, K)
    if arr.shape[1] != 1:
        raise ValueError(f"{name}: has a batch of {arr.shape[1]} examples (shape {arr.shape}); "
                         "select one example, e.g. attention[:, 0]")
    return arr[:, 0]  # (L, 1, H, Q, K) -> (L, H, Q, K)


def display_tokens(tokens) -> list[str]:
    """Token strings as a reader wants them: BPE space markers (``Ġ``, ``▁``) shown as a space, and a
    token that is only whitespace shown as ``␣`` (otherwise it would be an invisible label)."""
    if tokens is None or isinstance(tokens, str | bytes) or not hasattr(tokens, "__iter__"):
        raise TypeError(f"tokens: expected a list of token strings, got {type(tokens).__name__}")
    shown = []
    for t in tokens:
        t = str(t).replace("Ġ", " ").replace("▁", " ").replace("Ċ", "\\n")
        shown.append("␣" if not t.strip() else t)
    return shown


# -------------------------------------------------------------------------------------- the page
def pack(array: np.ndarray) -> str:
    """A little-endian array as deflate (zlib) bytes in base64: what the page's ``DecompressionStream`` reads.

    Only unsigned 8- or 16-bit integers: the page reads counts, key positions and 8-bit weights as
    ``Uint8Array``/``Uint16Array`` (float attention must be quantised first, as ``sparsify`` does)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array: expected a numpy array of uint8 or uint16, got {type(array).__name__}")
    if array.dtype.kind != "u" or array.dtype.itemsize > 2:
        raise TypeError(f"array: expected uint8 or uint16 (what the page decodes), got dtype {array.dtype}, "
                        f"shape {array.shape}; quantise attention with sparsify() first")
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
                                          .tobytes(), 6)).decode("ascii")


def unpack(text: str, dtype) -> np.ndarray:
    """Inverse of :func:`pack`: a flat array of ``dtype``."""
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=dtype)


def _viridis_lut() -> str:
    import matplotlib

    lut = (matplotlib.colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    return base64.b64encode(lut.tobytes()).decode("ascii")  # (256, 3) RGB


def render_page(mode: str, views: list[dict], *, threshold: float, max_links: int, title: str,
                subtitle: str = "", layer: int = 0, heads=None, view: str | None = None) -> str:
    """The complete HTML of a head view (``mode="head"``) or model view (``mode="model"``) from encoded
    views (one dict per kind of attention, as ``advanced.bertviz_style.encode_sets`` makes them): one
    file with its styles, script and data inlined. The arguments are :func:`page_settings`'."""
    return html_page(page_settings(mode, views, threshold=threshold, max_links=max_links, title=title,
                                   subtitle=subtitle, layer=layer, heads=heads, view=view))


def page_settings(mode: str, views: list[dict], *, threshold: float, max_links: int, title: str,
                  subtitle: str = "", layer: int = 0, heads=None, view: str | None = None) -> dict:
    """The data object a page carries (what :func:`page_data` reads back): the encoded ``views`` and the
    settings ``views.js`` starts from — ``layer`` and ``heads`` shown first, ``view`` the kind of attention
    (default: cross-attention when given), the threshold and link budget the encoding used."""
    if mode not in ("head", "model"):
        raise ValueError(f"mode: got {mode!r}; expected 'head' or 'model'")
    ids = [v["id"] for v in views]
    if view is not None and view not in ids:
        raise ValueError(f"view: got {view!r}; this input has {', '.join(ids)}")
    view_index = ids.index(view) if view is not None else (ids.index("cross") if "cross" in ids else 0)
    first = views[view_index]
    layer = check_index(layer, first["layers"], name="layer")
    heads = (list(range(first["heads"])) if heads is None
             else [check_index(h, first["heads"], name="heads") for h in heads])
    return {
        "format": DATA_FORMAT, "mode": mode, "title": title, "subtitle": subtitle,
        "threshold": threshold, "maxLinks": int(max_links), "compression": "deflate",
        "view": view_index, "layer": layer, "heads": heads,
        "headColors": [HEAD_COLORS[i % len(HEAD_COLORS)] for i in range(max(v["heads"] for v in views))],
        "viridis": _viridis_lut(), "views": views,
    }


def html_page(data: dict) -> str:
    """The page around a data object from :func:`page_settings`: styles, script and data inlined."""
    # "</" inside a <script> would end it early (a token could be "</script>"); JSON allows "<\/" for it.
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    script = (ASSETS / "views.js").read_text(encoding="utf-8")
    style = (ASSETS / "views.css").read_text(encoding="utf-8")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{html.escape(data["title"])}</title>\n<link rel="icon" href="data:,">\n<style>\n{style}</style>\n'
            f'</head><body>\n<div id="attnviz-root"></div>\n'
            f'<script type="application/json" id="attnviz-data">{payload}</script>\n'
            f"<script>\n{script}</script>\n</body></html>\n")


def page_data(page: str) -> dict:
    """The data a page written by :func:`render_page` carries, as the parsed JSON object."""
    if not isinstance(page, str):
        raise TypeError(f"page: expected the page's HTML as a string, got {type(page).__name__}")
    match = _DATA_RE.search(page)
    if match is None:
        raise ValueError("page: no <script type=\"application/json\" id=\"attnviz-data\"> element; "
                         "was it written by bertviz_style.py?")
    data = json.loads(match.group(1))
    if data.get("format") != DATA_FORMAT:
        raise ValueError(f"page: data format {data.get('format')!r}, expected {DATA_FORMAT!r}")
    return data


# ------------------------------------------------------------------ the stored links, read back
def densify(counts, keys, weights, shape) -> np.ndarray:
    """Inverse of :func:`sparsify` (up to the dropped links and 8 bits): ``(L, H, Q, K)`` float.

    ``counts``, ``keys`` and ``weights`` are the integer arrays :func:`sparsify` returns; they are checked
    against each other and against ``shape`` (one count per row, one key and one weight per link)."""
    if not isinstance(shape, tuple | list) or len(shape) != 4 or not all(
            isinstance(n, int | np.integer) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ValueError(f"shape: got {shape!r}; expected 4 positive sizes (layers, heads, queries, keys)")
    n_layers, n_heads, n_q, n_k = (int(n) for n in shape)
    counts, keys, weights = (_links_array(a, name) for a, name in
                             ((counts, "counts"), (keys, "keys"), (weights, "weights")))
    if counts.size != n_layers * n_heads * n_q:
        raise ValueError(f"counts: got {counts.size} rows; shape {tuple(shape)} has "
                         f"{n_layers * n_heads * n_q} (one count per layer, head and query)")
    if not keys.size == weights.size == int(counts.sum()):
        raise ValueError(f"keys, weights: got {keys.size} keys and {weights.size} weights for "
                         f"{int(counts.sum())} links (the sum of counts)")
    if keys.size and keys.max() >= n_k:
        raise ValueError(f"keys: position {int(keys.max())} is beyond the {n_k} keys of shape {tuple(shape)}")
    if weights.size and weights.max() > 255:
        raise ValueError(f"weights: got {int(weights.max())}; 8-bit weights are 0 to 255")
    dense = np.zeros((n_layers * n_heads * n_q, n_k))  # (R, K)
    rows = np.repeat(np.arange(dense.shape[0]), counts)  # row of each link
    dense[rows, keys] = weights / 255.0
    return dense.reshape(n_layers, n_heads, n_q, n_k)  # (R, K) -> (L, H, Q, K)


def _links_array(values, name: str) -> np.ndarray:
    """One of densify's 1-D arrays of non-negative integers, as int64."""
    if values is None or isinstance(values, str | bytes | dict):
        raise TypeError(f"{name}: expected a 1-D array of non-negative integers, got {type(values).__name__}")
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise TypeError(f"{name}: expected a 1-D array of non-negative integers (as sparsify returns), got "
                        f"dtype {arr.dtype}, shape {arr.shape}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name}: contains a negative value ({int(arr.min())}); expected non-negative "
                         "integers")
    return arr.astype(np.int64)


def packed_bytes(views: list[dict]) -> int:
    """Bytes of packed attention arrays (base64 text) in encoded views."""
    return sum(len(v[key]) for v in views for key in ("counts", "keys", "weights"))


def read_page_data(page: str) -> dict:
    """Parse a page written here: its settings, and per kind of attention the tokens and the weights as
    stored, made dense again ``(L, H, Q, K)`` (dropped links are 0, kept ones exact to 1/510)."""
    data = page_data(page)
    views = {}
    for v in data["views"]:
        counts = unpack(v["counts"], np.uint8)
        keys = unpack(v["keys"], "<u2" if v["keyWidth"] == 2 else np.uint8)
        weights = unpack(v["weights"], np.uint8)
        shape = (v["layers"], v["heads"], v["q"], v["k"])
        views[v["id"]] = {"name": v["name"], "query_tokens": v["qTokens"], "key_tokens": v["kTokens"],
                          "attention": densify(counts, keys, weights, shape), "links": int(counts.sum()),
                          "kept_mass": np.asarray(v["keptMass"])}
    return {"mode": data["mode"], "threshold": data["threshold"], "max_links": data["maxLinks"],
            "title": data["title"], "layer": data["layer"], "heads": data["heads"], "views": views}


# ------------------------------------------------------------ what lesson 3.3 writes around its pages
PREDICTED_ROWS = ("decoder positions are labelled by the token they predict (position t reads the token "
                  "before it), as in lesson 2.4")


def label_decoder_by_prediction(inputs: dict, eos_token: str, *, teacher_forced: bool) -> dict:
    """Relabel an encoder-decoder's decoder positions by the token each one *predicts*, not the one it reads.

    ``attention_from_model`` labels decoder position ``t`` by its input ``[start] y_1 … y_{T-1}``; lesson 2.4
    (cross-attention) labels row ``t`` by ``y_{t+1}``, the token it produces — the row that writes a digit is
    the row to read for that digit. One convention across the course: this one. With ``teacher_forced``
    (a ``--target`` was given) the last position predicts ``eos_token``; after greedy generation the last
    input is where generation stopped (``eos_token``, or the length cap), so its prediction was never
    made and that position is dropped (from the queries and keys of the decoder self-attention and the
    queries of the cross-attention). Inputs without
    ``decoder_tokens`` (an encoder or a decoder-only model) come back unchanged.
    """
    if "decoder_tokens" not in inputs:
        return inputs
    fed = list(inputs["decoder_tokens"])
    out = dict(inputs)
    if teacher_forced:
        out["decoder_tokens"] = [*fed[1:], eos_token]
        return out
    if len(fed) < 2:
        raise ValueError(f"decoder_tokens: got {fed}; need the start token and at least one generated token")
    out["decoder_tokens"] = fed[1:]  # the last input's prediction was never made: dropped
    if out.get("decoder_attention") is not None:
        out["decoder_attention"] = np.asarray(out["decoder_attention"])[..., :-1, :-1]  # (L, H, T-1, T-1)
    if out.get("cross_attention") is not None:
        out["cross_attention"] = np.asarray(out["cross_attention"])[..., :-1, :]  # (L, H, T-1, S)
    return out


def save_pair(out, head: AttentionView, model: AttentionView, suffix: str, head_caption: str,
              model_caption: str) -> None:
    """Write a head view and a model view as ``head_view{suffix}.html`` / ``model_view{suffix}.html`` into a
    lesson's outputs ``out`` (:class:`attnviz.outputs.LessonOutputs`), each registered with its caption."""
    for page, name, caption in ((head, f"head_view{suffix}.html", head_caption),
                                (model, f"model_view{suffix}.html", model_caption)):
        page.save(out.path(name))
        out.register(name, caption)


def page_size_figure(attention, page: AttentionView, bertviz_mb: float, thresholds, kept, *, max_links: int,
                     size_limit: int):
    """The 512-token page's data stored three ways, and the attention mass each threshold keeps.

    ``attention`` ``(L, H, Q, K)`` is what ``page`` was written from; ``bertviz_mb`` is the lesson's measured
    size of the same weights in a BertViz page; ``kept`` the lesson's mean kept mass (0–1) per threshold in
    ``thresholds``, at most ``max_links`` links per row; ``size_limit`` (bytes) the bar a page must stay under.
    """
    import matplotlib.pyplot as plt

    n_layers, n_heads, n_q, n_k = attention.shape
    stored = read_page_data(page.html)
    values = [bertviz_mb,  # BertViz: JSON text, twice in its page
              attention.size * 4 / 3 / 1e6,  # every weight as one byte, base64
              packed_bytes(page_data(page.html)["views"]) / 1e6]
    kept = [100 * float(k) for k in kept]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.3), constrained_layout=True)
    labels = ["every weight as JSON text,\ntwice (a BertViz page)", "every weight,\n8-bit binary",
              f"this page: links ≥ {stored['threshold']},\n≤ {max_links}/row, 8-bit, deflate"]
    bars = ax1.bar(labels, values, color=["#999999", "#6baed6", "#2ca02c"])
    ax1.set_yscale("log")
    ax1.axhline(size_limit / 1e6, color="#d62728", ls="--", lw=1)
    ax1.text(2.45, size_limit / 1e6 * 1.12, f"{size_limit / 1024**2:.0f} MB page limit", color="#d62728",
             ha="right", fontsize=9)
    for bar, v in zip(bars, values):
        ax1.text(bar.get_x() + bar.get_width() / 2, v * 1.1, f"{v:.1f} MB", ha="center", fontsize=9)
    ax1.set_ylabel("attention data in the page (MB, log scale)")
    ax1.set_title(f"{n_q} tokens × {n_layers} layers × {n_heads} heads = "
                  f"{attention.size / 1e6:.1f} M weights", fontsize=11)
    ax2.plot(thresholds, kept, "o-", color="#2ca02c")
    ax2.set_xscale("log")
    ax2.set_xlabel(f"threshold τ (a link is kept if its weight ≥ τ; at most {max_links} per row)")
    ax2.set_ylabel("attention mass kept (% of each row, mean over rows)")
    ax2.set_ylim(0, 100)
    ax2.axvline(stored["threshold"], color="#d62728", ls=":", lw=1)
    ax2.text(stored["threshold"] * 1.1, 5, f"default τ = {stored['threshold']}", color="#d62728", fontsize=9)
    ax2.set_title("What the threshold costs: mass that is not drawn", fontsize=11)
    ax2.grid(alpha=0.3)
    return fig


def read_text_option(text: str, text_file) -> str:
    """The input text of a lesson's CLI: ``text`` (``--text``), unless ``text_file`` (``--text-file``) names a
    file to read it from; a missing or empty file is a one-line error naming ``--text-file``."""
    if text_file is None:
        return text
    path = Path(text_file)
    if not path.is_file():
        raise FileNotFoundError(f"--text-file: {path} does not exist")
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"--text-file: {path} is empty; give at least one word")
    return text


# ------------------------------------------------------------------------- patch maps over an image
def overlay_figure(image, panels, *, grid: tuple[int, int], patch_size: int, cmap: str = "inferno",
                   alpha: float = 0.6, shared_scale: bool = False, show_image: bool = True,
                   title: str = "", scale_label=None):
    """Patch maps drawn over the image they came from, one panel each; returns the matplotlib ``Figure``.

    ``image`` is ``(S, S, 3)`` in [0, 1]; ``panels`` a list of ``(map (g_h, g_w), title)``. Every cell of a
    map covers its ``patch_size`` patch exactly (nearest neighbour: a patch has one weight, and smoothing
    would suggest detail the model never had). Each panel has its own 0-to-max colour bar, or with
    ``shared_scale`` one bar for all; ``scale_label(panel_title)`` names a panel's bar. ``show_image`` adds
    the plain image with the patch grid first.
    """
    import matplotlib.pyplot as plt

    image, panels = _check_overlay(image, panels, grid, patch_size)
    n = len(panels) + int(show_image)
    cols = n if n <= 5 else (4 if show_image else 6)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols + 0.6, 3.4 * rows + 0.5), squeeze=False,
                             constrained_layout=True)
    size = image.shape[0]
    extent = (0, size, size, 0)  # every cell of the map covers its patch exactly
    top = max(float(m.max()) for m, _ in panels)
    if show_image:
        ax = axes.flat[0]
        ax.imshow(image, extent=extent)
        for k in range(1, grid[0]):  # the patch grid, so the reader sees what a "token" is
            ax.axhline(k * patch_size, color="white", lw=0.4, alpha=0.6)
            ax.axvline(k * patch_size, color="white", lw=0.4, alpha=0.6)
        ax.set_title(f"input, {grid[0]} × {grid[1]} patches of {patch_size} px", fontsize=9)
    for ax, (data, panel_title) in zip(list(axes.flat)[int(show_image):], panels):
        ax.imshow(image, extent=extent)
        drawn = ax.imshow(data, extent=extent, cmap=cmap, vmin=0.0, vmax=top if shared_scale else float(data.max()),
                          alpha=alpha, interpolation="nearest")
        ax.set_title(panel_title, fontsize=9)
        if not shared_scale:
            bar = fig.colorbar(drawn, ax=ax, shrink=0.8, pad=0.02)
            bar.set_label(scale_label(panel_title) if scale_label else "weight", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(panels) + int(show_image):]:
        ax.axis("off")
    if shared_scale:
        bar = fig.colorbar(drawn, ax=axes, shrink=0.7, pad=0.01)
        bar.set_label(f"{scale_label('') if scale_label else 'weight'} (0 to the largest, {top:.2f})")
    fig.suptitle(title, fontsize=10)
    return fig


def _check_overlay(image, panels, grid, patch_size):
    """overlay_figure's inputs: an ``(S, S, 3)`` image in [0, 1], and ``(map (g_h, g_w), title)`` panels."""
    if (not isinstance(grid, tuple | list) or len(grid) != 2
            or not all(isinstance(g, int | np.integer) and not isinstance(g, bool) and g > 0 for g in grid)):
        raise ValueError(f"grid: got {grid!r}; expected (rows, columns) of patches, two positive integers")
    if isinstance(patch_size, bool) or not isinstance(patch_size, int | np.integer) or patch_size <= 0:
        raise ValueError(f"patch_size: got {patch_size!r}; expected a positive number of pixels")
    picture = to_numpy(image, "image")
    if picture.ndim != 3 or picture.shape[-1] != 3 or picture.shape[0] != picture.shape[1] or not picture.size:
        raise ValueError(f"image: got shape {picture.shape}; expected a square RGB image (S, S, 3)")
    if not np.isfinite(picture).all():
        raise ValueError("image: contains NaN or Inf; expected finite values in [0, 1]")
    if picture.min() < 0 or picture.max() > 1 + 1e-6:
        raise ValueError(f"image: values must be in [0, 1] (got {picture.min():.3g} to {picture.max():.3g}); "
                         "divide a 0-255 image by 255")
    if not isinstance(panels, list | tuple) or not panels:
        raise ValueError("panels: expected a non-empty list of (map (rows, columns), title) pairs")
    checked = []
    for i, panel in enumerate(panels):
        if not isinstance(panel, tuple | list) or len(panel) != 2:
            raise TypeError(f"panels[{i}]: expected a (map, title) pair, got {type(panel).__name__}")
        patch_map = to_numpy(panel[0], f"panels[{i}]")
        if patch_map.shape != tuple(grid):
            raise ValueError(f"panels[{i}]: map of shape {patch_map.shape}; expected the patch grid {tuple(grid)}")
        if not np.isfinite(patch_map).all():
            raise ValueError(f"panels[{i}]: the map contains NaN or Inf")
        checked.append((patch_map, str(panel[1])))
    return picture, checked


def pointing_scores_figure(trained: dict, randomised: dict, n_images: int):
    """The pointing game's hit rate of every map, for a trained model and its random-weight twin, against
    chance; ``trained`` and ``randomised`` as ``advanced.vit_attention``'s ``pointing_game`` returns them."""
    import matplotlib.pyplot as plt

    names = [n for n in trained["methods"] if not n.startswith("last layer, best head")]
    best = next(n for n in trained["methods"] if n.startswith("last layer, best head"))
    y = np.arange(len(names) + 1)
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(y) + 1.8), constrained_layout=True)
    for offset, result, label, colour in ((-0.2, trained, "trained model", "#1f77b4"),
                                          (0.2, randomised, "same model, random weights", "#aaaaaa")):
        other_best = next(n for n in result["methods"] if n.startswith("last layer, best head"))
        rates = [100 * result["methods"][n] for n in names] + [100 * result["methods"][other_best]]
        ax.barh(y + offset, rates, height=0.4, color=colour, label=label)
        for yy, rate in zip(y + offset, rates):
            ax.text(rate + 0.8, yy, f"{rate:.0f}%", va="center", fontsize=8)
    ax.axvline(100 * trained["chance"], color="#d62728", ls="--", lw=1.2,
               label=f"chance: a random patch ({100 * trained['chance']:.0f}%)")
    ax.set_yticks(y, names + [best.replace("last layer, best head", "last layer, best head*")])
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.set_xlabel("pointing game: images whose strongest patch touches the target (%)")
    ax.set_title(f"Does [CLS] look at the object? {n_images} shipped test images "
                 "(*best head chosen on this set: optimistic)", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8, frameon=False)
    return fig


def pointing_examples_figure(images, masks, rollout_maps, hits, titles, *, cmap: str = "inferno",
                             alpha: float = 0.6):
    """Images with their target outlined (top) and the rollout over them with its strongest patch boxed,
    marked hit or miss (bottom). ``images`` ``(n, S, S, 3)``, ``masks`` ``(n, S, S)``, ``rollout_maps``
    ``(n, g, g)``, ``hits`` ``(n,)`` bool, ``titles`` one string per image."""
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.8), constrained_layout=True, squeeze=False)
    size = images.shape[1]
    cell = size / rollout_maps.shape[-1]  # one patch of the model's grid, in the image's own pixels
    for i in range(n):
        axes[0, i].imshow(images[i])
        axes[0, i].contour(masks[i], levels=[0.5], colors="white", linewidths=0.8)
        axes[0, i].set_title(titles[i], fontsize=8)
        axes[1, i].imshow(images[i], extent=(0, size, size, 0))
        axes[1, i].imshow(rollout_maps[i], cmap=cmap, alpha=alpha, interpolation="nearest",
                          extent=(0, size, size, 0), vmin=0, vmax=float(rollout_maps[i].max()))
        row, col = divmod(int(rollout_maps[i].argmax()), rollout_maps[i].shape[1])
        axes[1, i].add_patch(plt.Rectangle((col * cell, row * cell), cell, cell, fill=False,
                                           color="cyan", lw=1.5))
        axes[1, i].set_title("hit" if hits[i] else "miss", fontsize=9,
                             color="#2ca02c" if hits[i] else "#d62728")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image, target outlined", fontsize=8)
    axes[1, 0].set_ylabel("rollout (0 to its max);\nbox: strongest patch", fontsize=8)
    fig.suptitle("The pointing game, image by image", fontsize=10)
    return fig
