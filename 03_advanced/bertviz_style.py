"""Lesson 3.3 — Interactive head view and model view, as one self-contained HTML file that stays small.

The idea
--------
A static heatmap shows one ``(Q, K)`` matrix; a model has ``L × H`` of them for every input. Vig (2019,
"A Multiscale Visualization of Attention in the Transformer Model", ACL demo — the BertViz tool) drew
them two ways that this lesson rebuilds from scratch:

* the **head view**: the tokens twice, queries in a column on the left and keys on the right, one line
  from query ``i`` to key ``j`` whose opacity is the weight ``A[l, h, i, j]``. Every head gets a colour;
  choose the layer, switch heads on and off, and hover a token to isolate its attention: a query's row
  (where it looks) or a key's column (who looks at it);
* the **model view**: the whole ``L × H`` grid as thumbnails, so one glance finds the heads worth a
  closer look (diagonal, previous-token, "everything to [CLS]"); click one to enlarge it.

Both work for an encoder (self-attention), a decoder (causal self-attention: every line goes to an
earlier token) and an encoder-decoder, whose three kinds — encoder self-, decoder self- and
cross-attention (decoder queries × encoder keys) — are chosen in the page. Hover and click need code
in the page, so the file carries its own JavaScript and data: no CDN, no server, it opens on a plane.

Why a naive page breaks at 512 tokens, and how this one stays small
--------------------------------------------------------------------
The number of weights grows with the square of the length: the pre-trained encoder (6 layers × 12
heads) on 512 tokens has ``6 · 12 · 512² ≈ 18.9 million``. Written as JSON text, every weight a float
like ``0.0012774568656459451,`` is about 23 bytes: about 435 MB of JSON — and a BertViz page carries
that JSON twice, so the page is about 870 MB, which a browser cannot parse in reasonable time. This is
what makes BertViz stop loading on long inputs (its issue #82). Four choices keep the file small, and
the page states the ones that lose anything:

1. **Only the strongest links of each row.** For every query row we keep the keys whose weight is at
   least a *threshold* ``τ`` (default 0.002 — about what each key gets from a head that spreads its
   attention evenly over 512 tokens) and at most ``k`` of them (default 128, strongest first). The
   page draws lines at 32 opacity levels, the faintest 1/64 ≈ 1.6 % for every weight under 1/32: a
   dropped link would only have been one more line at that faint level. It is not hidden,
   though: the page shows ``τ``, ``k`` and the share of the attention mass the kept links carry,
   ``Σ_{j kept} A[i, j]`` averaged over the rows (all of it for a short sentence; less at 512 tokens,
   where many heads spread thin — the lesson's size figure shows how much).
2. **8-bit weights.** A kept weight is stored as ``round(255 · w)``, one byte: the error is at most
   ``1/510 ≈ 0.002``, below what opacity or colour can show.
3. **Binary, not text.** Key positions take one byte (two above 256 tokens), weights one byte, the
   links-per-row counts one byte.
4. **Compressed.** The binary arrays are deflate-compressed (zlib) and base64-encoded inside one
   ``<script type="application/json">``; the page inflates them with the browser's built-in
   ``DecompressionStream`` — no library, no network. Sorted key positions compress well.
   Should a page still exceed its budget (9 MB of data), ``τ`` is raised until it fits, with a warning,
   and the page shows the ``τ`` it used.

For MiniLM at 512 tokens that is a few MB instead of hundreds (``make bench`` measures it). Drawing
uses a ``<canvas>``, not SVG: SVG would make every line a DOM element — hundreds of thousands of them —
while a canvas just paints pixels, one stroke per head and opacity level. The page records when its
first drawing is done (``window.__firstDrawMs``), which the browser tests check is under 2 s at 512
tokens.

What it does not tell you: a thick line is a large weight, not an important token (Jain & Wallace
2019, "Attention is not Explanation"; Wiegreffe & Pinter 2019) — the gradient and flow lessons
(``attention_flow.py``, ``gradient_attention.py``) ask which of these lines matter to the output.

Here: how the weights are stored small (``sparsify``, ``encode_sets``), the pages, and the measurements
the captions state (sizes, kept mass, induction). The page itself, reading it back (``densify``,
``read_page_data``), the size figure's drawing and the file plumbing are in ``attnviz/views.py``.

Run it
------
    python 03_advanced/bertviz_style.py                          # MiniLM, plus the decoder, encoder-decoder
                                                                  # and 512-token examples
    python 03_advanced/bertviz_style.py --causal-model path/to/gpt2-folder   # your decoder in example 2
    python 03_advanced/bertviz_style.py --text-file notes.txt --out views/
    python 03_advanced/bertviz_style.py --model tiny-bart-dates --text "21 November 2026"

Usage from Python (in Jupyter the returned object displays itself inline)::

    from advanced.bertviz_style import head_view, model_view
    view = head_view(attention, tokens)             # attention: (layers, heads, query, key)
    view.save("head_view.html")                     # or view.html, the page as a string
    model_view(encoder_attention=enc, decoder_attention=dec, cross_attention=cross,
               encoder_tokens=src, decoder_tokens=tgt)
"""


from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from attnviz.cli import lesson_parser, run_lesson
from attnviz.kinds import MODEL_KINDS, attention_from_model, detect_kind
from attnviz.models import load_model, require_kind
from attnviz.outputs import LessonOutputs
from attnviz.validate import check_attention
from attnviz.views import (
    PREDICTED_ROWS,
    AttentionSet,
    AttentionView,
    collect_sets,
    densify,
    display_tokens,
    html_page,
    label_decoder_by_prediction,
    pack,
    packed_bytes,
    page_data,
    page_settings,
    page_size_figure,
    read_page_data,
    read_text_option,
    render_page,
    save_pair,
)

__all__ = ["MODEL_KINDS", "AttentionView", "attention_from_model", "bertviz_page_bytes", "both_views",
           "both_views_data", "collect_sets", "decoder_caption", "dense_json_bytes", "densify", "detect_kind",
           "display_tokens", "encode_sets", "head_view", "induction_scores", "label_decoder_by_prediction",
           "model_view", "read_page_data", "sparsify"]

THRESHOLD = 0.002  # links below this weight are not stored (≈ 1/512: an even spread over 512 tokens)
MAX_LINKS = 128  # at most this many links per query row, strongest first
DATA_BUDGET = 9_000_000  # bytes of attention data per page; beyond it the threshold is raised
SIZE_LIMIT = 10 * 1024**2  # the bar a 512-token page must stay under (browser tests)

DEFAULT_TEXT = "The animal didn't cross the street because it was too tired, so it lay down by the road."
DECODER_SAMPLE = " ".join(["t7 t42 t3 t19 t55 t8 t30 t12"] * 2)  # a random sequence, repeated: induction
# Original prose for the long-input example: 585 MiniLM word pieces, truncated (with a warning) to 512.
LONG_TEXT = (Path(__file__).resolve().parent / "_bertviz_assets" / "long_text.txt").read_text(
    encoding="utf-8").strip()


# ------------------------------------------------------------------------ storing it small
def sparsify(attention, threshold: float = THRESHOLD, max_links: int = MAX_LINKS) -> dict:
    """Keep, for every query row, the keys with weight ``>= threshold`` — at most ``max_links``, strongest.

    ``attention`` is ``(L, H, Q, K)``. Returns the rows in compressed sparse row (CSR) form, row order
    ``(layer, head, query)``:

    - ``counts`` ``(L·H·Q,)`` uint8: how many links row ``r`` keeps;
    - ``keys`` uint16: their key positions, ascending within a row, rows one after another;
    - ``weights`` uint8: ``round(255 · w)`` for each kept link (error ≤ 1/510);
    - ``kept_mass`` ``(L, H, Q)`` float: the exact attention mass the kept links carry, per row.
    """
    arr = check_attention(attention, "LHQK", name="attention")
    _check_threshold(threshold, max_links)
    n_layers, n_heads, n_q, n_k = arr.shape
    k = min(max_links, n_k)
    rows = arr.reshape(-1, n_k).astype(np.float32)  # (L, H, Q, K) -> (R, K), R = L·H·Q rows
    strongest = np.argpartition(-rows, k - 1, axis=1)[:, :k]  # (R, k): the k largest, in no order
    weight = np.take_along_axis(rows, strongest, axis=1)  # (R, k)
    quantised = np.minimum(np.rint(weight * 255.0), 255.0)  # (R, k)
    keep = (weight >= threshold) & (quantised >= 1)  # (R, k)
    order = np.argsort(np.where(keep, strongest, n_k), axis=1, kind="stable")  # kept keys first, ascending
    strongest, quantised, keep = (np.take_along_axis(a, order, axis=1) for a in (strongest, quantised, keep))
    kept_mass = np.where(keep, np.take_along_axis(rows, strongest, axis=1), 0.0).sum(1)  # (R,)
    return {
        "counts": keep.sum(1).astype(np.uint8),  # (R,)
        "keys": strongest[keep].astype(np.uint16),  # row-major: row 0's keys, then row 1's ...
        "weights": quantised[keep].astype(np.uint8),
        "kept_mass": kept_mass.reshape(n_layers, n_heads, n_q),  # (R,) -> (L, H, Q)
    }


def _check_threshold(threshold, max_links) -> None:
    if not isinstance(threshold, int | float) or not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold: got {threshold!r}; expected a weight in [0, 1), e.g. {THRESHOLD}")
    if isinstance(max_links, bool) or not isinstance(max_links, int | np.integer) or not 1 <= max_links < 256:
        raise ValueError(f"max_links: got {max_links!r}; expected an integer from 1 to 255 "
                         "(one byte per row)")


def _encode_set(aset: AttentionSet, threshold: float, max_links: int) -> dict:
    """One attention kind as the page's JSON: sizes, tokens and the packed CSR arrays."""
    sparse = sparsify(aset.attention, threshold, max_links)
    n_layers, n_heads, n_q, n_k = aset.attention.shape
    key_width = 1 if n_k <= 256 else 2
    keys = sparse["keys"].astype("<u2" if key_width == 2 else np.uint8)
    live = aset.attention.sum(-1) > 0.5  # (L, H, Q): rows that are distributions (not masked padding)
    mass = np.where(live, sparse["kept_mass"], np.nan)  # (L, H, Q)
    per_head = np.nan_to_num(np.nanmean(np.where(live.any(-1, keepdims=True), mass, 1.0), axis=-1), nan=1.0)
    return {
        "id": aset.id, "name": aset.name, "layers": n_layers, "heads": n_heads, "q": n_q, "k": n_k,
        "qTokens": display_tokens(aset.query_tokens), "kTokens": display_tokens(aset.key_tokens),
        "qLabel": aset.query_label, "kLabel": aset.key_label, "keyWidth": key_width,
        "counts": pack(sparse["counts"]), "keys": pack(keys), "weights": pack(sparse["weights"]),
        "keptMass": np.round(per_head, 4).tolist(),  # (L, H): mean over rows of the mass kept
    }


def encode_sets(sets: list[AttentionSet], threshold: float = THRESHOLD, max_links: int = MAX_LINKS,
                budget: int = DATA_BUDGET) -> tuple[list[dict], float]:
    """Encode every kind of attention once (both pages can share it); returns ``(views, threshold used)``.

    When the packed data would exceed ``budget`` bytes, the threshold is doubled until it fits, with a
    warning: the page then shows the threshold it really used.
    """
    _check_threshold(threshold, max_links)
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
        raise ValueError(f"budget: got {budget!r}; expected a positive number of bytes (default "
                         f"{DATA_BUDGET})")
    while True:
        views = [_encode_set(s, threshold, max_links) for s in sets]
        size = packed_bytes(views)
        if size <= budget or threshold >= 0.5:
            return views, threshold
        raised = min(0.5, max(threshold * 2, 0.001))
        warnings.warn(f"attention data of {size / 1e6:.1f} MB exceeds the page budget of "
                      f"{budget / 1e6:.1f} MB; raising the threshold from {threshold} to {raised}",
                      stacklevel=2)
        threshold = raised


# ----------------------------------------------------------------------------------- the pages
def head_view(attention=None, tokens=None, *, layer: int = 0, heads=None, view: str | None = None,
              threshold: float = THRESHOLD, max_links: int = MAX_LINKS, title: str = "Head view",
              subtitle: str = "", **kinds) -> AttentionView:
    """The head view: two token columns joined by lines weighted by attention, with layer and head
    selectors, and hover to isolate a token. ``attention`` + ``tokens``, or the keyword arguments
    ``encoder_attention``, ``decoder_attention``, ``cross_attention``, ``encoder_tokens``,
    ``decoder_tokens``, as in :func:`attnviz.views.collect_sets`. ``layer`` and ``heads`` choose what is
    shown first, ``view`` which kind (``"self"``, ``"encoder"``, ``"decoder"``, ``"cross"``; default:
    cross-attention when given). Returns an :class:`AttentionView`."""
    views, used = encode_sets(collect_sets(attention, tokens, **kinds), threshold, max_links)
    return AttentionView(render_page("head", views, threshold=used, max_links=max_links, title=title,
                                     subtitle=subtitle, layer=layer, heads=heads, view=view), "head")


def model_view(attention=None, tokens=None, *, view: str | None = None, threshold: float = THRESHOLD,
               max_links: int = MAX_LINKS, title: str = "Model view", subtitle: str = "",
               **kinds) -> AttentionView:
    """The model view: every layer × head as a thumbnail of its matrix; click one to enlarge it (its
    heatmap with hover read-out, and its line drawing). Arguments as in :func:`head_view`."""
    views, used = encode_sets(collect_sets(attention, tokens, **kinds), threshold, max_links)
    return AttentionView(render_page("model", views, threshold=used, max_links=max_links, title=title,
                                     subtitle=subtitle, view=view), "model")


def both_views(*, title: str, subtitle: str = "", layer: int = 0, threshold: float = THRESHOLD,
               max_links: int = MAX_LINKS, **inputs) -> tuple[AttentionView, AttentionView]:
    """The head view and the model view of the same input, encoding the data only once."""
    head, model = both_views_data(title=title, subtitle=subtitle, layer=layer, threshold=threshold,
                                  max_links=max_links, **inputs)
    return AttentionView(html_page(head), "head"), AttentionView(html_page(model), "model")


def both_views_data(*, title: str, subtitle: str = "", layer: int = 0, threshold: float = THRESHOLD,
                    max_links: int = MAX_LINKS, **inputs) -> tuple[dict, dict]:
    """The data objects of :func:`both_views`' two pages, without the pages (the dashboard sends these):
    the same encoded ``views`` list in both."""
    views, used = encode_sets(collect_sets(**inputs), threshold, max_links)
    common = {"threshold": used, "max_links": max_links, "subtitle": subtitle}
    return (page_settings("head", views, title=f"Head view — {title}", layer=layer, **common),
            page_settings("model", views, title=f"Model view — {title}", **common))


BERTVIZ_JSON_COPIES = 2  # a BertViz page holds its attention JSON twice (≈ 870 MB at 512 tokens, not 435)


def dense_json_bytes(attention, sample_heads: int | None = None, seed: int = 0) -> int:
    """The size of the attention as BertViz writes it: every weight as JSON text, **one copy**.

    Exactly ``len(json.dumps(attention.tolist()))`` for float32 weights (as ``tensor.tolist()`` gives
    them), computed one ``(layer, head)`` matrix at a time so memory stays flat. With ``sample_heads``,
    only that many random heads are written and the total is extrapolated (an estimate, for speed).
    A BertViz page carries this text :data:`BERTVIZ_JSON_COPIES` times: see :func:`bertviz_page_bytes`.
    """
    arr = check_attention(attention, "LHQK", name="attention").astype(np.float32)  # (L, H, Q, K)
    if sample_heads is not None and (isinstance(sample_heads, bool)
                                     or not isinstance(sample_heads, int | np.integer) or sample_heads < 1):
        raise ValueError(f"sample_heads: got {sample_heads!r}; expected None (every head) or a whole number "
                         "of heads ≥ 1")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
    n_layers, n_heads = arr.shape[:2]
    pairs = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    if sample_heads is not None and sample_heads < len(pairs):
        chosen = np.random.default_rng(seed).choice(len(pairs), size=sample_heads, replace=False)
        body = sum(len(json.dumps(arr[pairs[i]].tolist())) for i in chosen) * len(pairs) / sample_heads
    else:
        body = sum(len(json.dumps(arr[p].tolist())) for p in pairs)
    # "[" + ", ".join(layers) + "]", each layer "[" + ", ".join(heads) + "]"
    brackets = 2 + 2 * (n_layers - 1) + n_layers * (2 + 2 * (n_heads - 1))
    return int(round(body + brackets))


def bertviz_page_bytes(attention, sample_heads: int | None = None, seed: int = 0) -> int:
    """The attention data of a BertViz page for the same weights: its JSON text, twice."""
    return BERTVIZ_JSON_COPIES * dense_json_bytes(attention, sample_heads, seed)


# ------------------------------------------------------------------------------------ the lesson
def _views_for(loaded, text, target, layer, threshold, max_links, label=""):
    """Both pages for one input to a loaded model, and the attention they were made from."""
    kwargs = attention_from_model(loaded, text, target)
    n_tokens = len(kwargs.get("tokens") or kwargs.get("encoder_tokens"))
    subtitle = f"{loaded.name} ({loaded.kind}), {n_tokens} input tokens"
    if "decoder_tokens" in kwargs:
        kwargs = label_decoder_by_prediction(kwargs, loaded.tokenizer.eos_token,
                                             teacher_forced=target is not None)
        subtitle += f"; {PREDICTED_ROWS}"
    head, model = both_views(**kwargs, title=label or loaded.name, layer=layer, threshold=threshold,
                             max_links=max_links, subtitle=subtitle)
    return head, model, kwargs


def kept_mass_by_threshold(attention, thresholds, max_links: int = MAX_LINKS) -> np.ndarray:
    """Per threshold ``τ``: the attention mass the kept links carry (weight ≥ ``τ``, at most ``max_links``
    strongest per row), ``Σ_{j kept} A[i, j]`` averaged over every row of ``(L, H, Q, K)`` — what each ``τ``
    costs (the size figure's right panel)."""
    arr = check_attention(attention, "LHQK", name="attention")
    rows = arr.reshape(-1, arr.shape[-1])  # (L, H, Q, K) -> (L·H·Q, K)
    k = min(max_links, rows.shape[1])
    top = -np.partition(-rows, k - 1, axis=1)[:, :k]  # (R, k): the k largest of each row
    return np.array([float(np.where(top >= tau, top, 0).sum(1).mean()) for tau in thresholds])


def page_size_caption(attention, page: AttentionView, bertviz_bytes: float | None = None) -> str:
    """The size figure's caption, filled from the measured sizes (the numbers the figure draws);
    ``bertviz_bytes`` is :func:`bertviz_page_bytes` of ``attention`` from 4 heads (measured here if not
    given)."""
    n_layers, n_heads, n_q, _ = attention.shape
    if bertviz_bytes is None:
        bertviz_bytes = bertviz_page_bytes(attention, sample_heads=4)
    bertviz = bertviz_bytes / 1e6
    ours = packed_bytes(page_data(page.html)["views"]) / 1e6
    return (f"Why the {n_q}-token page stays small. Left: its attention data as a BertViz page holds it — "
            f"every weight as JSON text, written twice: {bertviz:.0f} MB (estimated from 4 of the "
            f"{n_layers * n_heads} heads) — as one byte per weight ({attention.size * 4 / 3 / 1e6:.1f} MB), "
            f"and as this page stores it ({ours:.1f} MB, {bertviz / ours:.0f}× smaller; the whole page is "
            f"{page.nbytes / 1e6:.1f} MB). Right: the share of each row's attention the kept links carry.")


def _input_demo(loaded, text, args, out) -> None:
    """Demo 1: the head view and the model view of the input text."""
    head, model, _ = _views_for(loaded, text, args.target, args.layer, args.threshold, args.max_links)
    save_pair(out, head, model, "",
              f"Head view of {loaded.name}: token columns joined by lines weighted by attention; pick the "
              "layer and heads, hover a token to isolate its attention.",
              f"Model view of {loaded.name}: every layer × head as a thumbnail; click one to enlarge it.")
    print(f"head view {head.nbytes / 1024:.0f} KiB, model view {model.nbytes / 1024:.0f} KiB")


def induction_scores(attention, tokens) -> tuple[np.ndarray, np.ndarray]:
    """Per head of one layer ``(H, Q, K)``: over the rows whose token occurred before, the share whose
    strongest key is the token *after* that previous occurrence (what an induction head attends to:
    Olsson et al. 2022), and the mean weight on that key. Returns ``(share (H,), weight (H,))``."""
    arr = check_attention(attention, "HQK", name="attention", square=True)
    if len(tokens) != arr.shape[-1]:
        raise ValueError(f"tokens: got {len(tokens)} tokens for attention of shape {arr.shape}")
    rows = [(q, max(j for j in range(q) if tokens[j] == tokens[q]) + 1)
            for q in range(len(tokens)) if tokens[q] in tokens[:q]]  # (query, key after previous occurrence)
    if not rows:
        raise ValueError("tokens: no token repeats, so there is nothing for an induction head to find")
    queries, keys = np.array(rows).T
    share = (arr[:, queries].argmax(-1) == keys).mean(-1)  # (H, rows) -> (H,)
    weight = arr[:, queries, keys].mean(-1)  # (H,)
    return share, weight


def decoder_caption(attention, tokens) -> str:
    """The causal decoder example's caption, from :func:`induction_scores` on its last layer."""
    share, weight = induction_scores(attention[-1], tokens)
    n_induction = int((share >= 0.5).sum())
    return (f"a causal decoder: every line goes to an earlier token; shown first, the last layer, where in "
            f"the repeated half {n_induction} of its {len(share)} heads put their strongest weight one token "
            f"past the previous occurrence of the current token (induction; mean weight there "
            f"{100 * weight.mean():.0f}%)")


def _architectures_demo(args, out) -> None:
    """Demo 2: a causal decoder (``--causal-model``) and an encoder-decoder (``--seq2seq-model``); by default
    the course's shipped models. A model given to either option that cannot load is a user error: one line
    naming that option, exit 2."""
    examples = (("causal-lm", args.causal_model, "--causal-model", DECODER_SAMPLE, "decoder", None),
                ("seq2seq", args.seq2seq_model, "--seq2seq-model", "21 November 2026", "seq2seq",
                 "an encoder-decoder: choose encoder, decoder or cross-attention (shown first: where each "
                 "output character looks in the source)"))
    for kind_name, name, option, sample, label, what in examples:
        other = load_model(name, kind=kind_name, device=args.device, option=option)
        first_layer = -1 if label == "decoder" else 0
        head, model, inputs = _views_for(other, sample, None, first_layer, args.threshold, args.max_links,
                                         label=f"{other.name} on {sample!r}")
        if what is None:
            what = decoder_caption(inputs["attention"], inputs["tokens"])
        save_pair(out, head, model, f"_{label}", f"Head view of {other.name}, {what}.",
                  f"Model view of {other.name}, {what}.")


def _long_input_demo(loaded, args, out) -> None:
    """Demo 3: the long input that breaks a naive page — 512 tokens — and why this page stays small."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the tokenizer's "longer than the maximum" note is expected here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # and so is our truncation warning
        head, model, long_kwargs = _views_for(loaded, LONG_TEXT, None, 0, args.threshold, args.max_links,
                                              label=f"{loaded.name} on a long text")
    n = len(long_kwargs["tokens"])
    # One page is enough to show that 512 tokens load; the model view holds the same data, so it is not
    # written (outputs/ stays small) and the caption gives its size instead.
    head.save(out.path("head_view_512.html"))
    out.register("head_view_512.html", f"The head view on a {n}-token input (where BertViz stops loading): "
                 f"{head.nbytes / 1e6:.1f} MB, drawn on a canvas; the model view of it is "
                 f"{model.nbytes / 1e6:.1f} MB (not written).")
    attention = long_kwargs["attention"]  # (L, H, Q, K)
    bertviz = bertviz_page_bytes(attention, sample_heads=4)  # estimated from 4 heads: see dense_json_bytes
    thresholds = np.array([0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1])
    kept = kept_mass_by_threshold(attention, thresholds)  # (thresholds,)
    fig = page_size_figure(attention, head, bertviz / 1e6, thresholds, kept, max_links=MAX_LINKS,
                           size_limit=SIZE_LIMIT)
    out.save_figure(fig, "page_size", page_size_caption(attention, head, bertviz))


def main(argv=None):
    parser = lesson_parser(__doc__, model_kind="encoder", text=DEFAULT_TEXT, layer=0)
    parser.add_argument("--text-file", default=None,
                        help="read the input text from this file (overrides --text)")
    parser.add_argument("--kind", default="auto", choices=MODEL_KINDS,
                        help="what --model is (default: read from its config)")
    parser.add_argument("--target", default=None,
                        help="encoder-decoder only: the decoder's text (default: the model's greedy output)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help=f"links below this weight are not stored (default: {THRESHOLD})")
    parser.add_argument("--max-links", type=int, default=MAX_LINKS,
                        help=f"at most this many links per query token (default: {MAX_LINKS})")
    parser.add_argument("--causal-model", default=None,
                        help="decoder-only model of the decoder example (default: the shipped tiny GPT-2)")
    parser.add_argument("--seq2seq-model", default=None,
                        help="encoder-decoder of the seq2seq example (default: the shipped tiny BART)")
    args = parser.parse_args(argv)
    _check_threshold(args.threshold, args.max_links)
    text = read_text_option(args.text, args.text_file)
    require_kind(args.causal_model, "causal-lm", option="--causal-model")  # refused before any work
    require_kind(args.seq2seq_model, "seq2seq", option="--seq2seq-model")
    out = LessonOutputs(__file__, args.out)
    kind = "encoder" if args.model is None else args.kind
    kind = detect_kind(args.model) if kind == "auto" else kind
    loaded = load_model(args.model, kind=kind, device=args.device)

    _input_demo(loaded, text, args, out)
    default_run = args.model is None and args.text_file is None and args.text == DEFAULT_TEXT
    if default_run or args.causal_model is not None or args.seq2seq_model is not None:
        _architectures_demo(args, out)  # the other examples: the default run, or when their model is given
    if default_run:
        _long_input_demo(loaded, args, out)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
