"""Lesson 1.1 — Attention basics: where the weights come from and how to draw one honest heatmap.

The idea
--------
Self-attention lets every token build its new representation as a weighted average of all tokens.
For one head, with the token representations projected to queries ``Q``, keys ``K`` and values ``V``
(each ``n × d_k``, one row per token)::

    A = softmax(Q Kᵀ / √d_k)          # (n, n): row i = how much token i attends to each token j
    Attention(Q, K, V) = A V

``A[i, j]`` is the weight query token *i* puts on key token *j*. Every row of ``A`` is a probability
distribution over the keys — non-negative and summing to 1 — and that is what we draw: rows are queries
(who is looking), columns are keys (what is looked at). Multi-head attention runs ``h`` such heads in
parallel on smaller projections, so a model gives one matrix per layer *and head*: ``(L, H, n, n)``
for one sentence (Vaswani et al. 2017, "Attention Is All You Need").

Where the weights come from — three real sources, three traps
-------------------------------------------------------------
1. **A ``transformers`` model** returns them with ``output_attentions=True`` as a tuple over layers of
   ``(batch, heads, query, key)`` tensors — but only under *eager* attention. The default SDPA kernel
   (and flash attention) computes ``softmax(QKᵀ/√d)V`` in one fused step that never materialises ``A``;
   asked for the weights, current ``transformers`` just warns and returns an **empty tuple**. We load
   with ``attn_implementation="eager"`` and fail loudly if the tuple is still empty.
2. **``torch.nn.MultiheadAttention``** returns ``(output, weights)``, but its default
   ``average_attn_weights=True`` averages the heads *silently*: you get ``(batch, q, k)`` and cannot
   tell. Pass ``need_weights=True, average_attn_weights=False`` (our recorder hooks do it for you).
3. **Keras-style arrays** ``(batch, heads, target, source)``: choose the example (batch) and the head —
   or average heads on purpose — before drawing; keep the target (query) axis as rows.

And one trap in drawing: do **not** min-max rescale a softmax matrix to fill the colour map (see
``self_attention_heatmap.py``); colour it on a fixed 0–1 scale so colour means probability.

Sharp or diffuse — one number
-----------------------------
How decisive is a head? The simplest measure is its *peakiness*, the mean over query rows of the row's
largest weight, ``(1/n) Σ_i max_j A[i, j]``: 1 when every query looks at a single key, ``1/n`` when every
row is uniform. (Entropy is the finer measure of the same thing; the intermediate tier uses it.) Averaging
heads can only spread weight: a row's largest mean weight is at most the mean of the heads' largest weights
(a maximum of a sum never exceeds the sum of the maxima), so the mean over heads is never peakier than
the heads are on average — and much flatter when they peak in different places. The figure
``head_average`` puts the sharpest head of the layer (the default ``--head``) next to the mean over heads,
and its caption states both numbers as measured.

Tokens, not words: the model counts ``[CLS]`` and ``[SEP]`` (BERT family) or a BOS token, and splits
rare words into pieces ("##ing"). Label a figure with ``model.tokens(text)``, never ``text.split()``.

Run it
------
    python 01_beginner/attention_basics.py                         # MiniLM, offline
    python 01_beginner/attention_basics.py --text "Time flies like an arrow" --layer 0 --head 3

Usage from Python::

    from beginner.attention_basics import AttentionModel, AttentionVisualizer
    model = AttentionModel()
    weights = model.get_attention_weights("The cat sat on the mat")   # (layers, heads, query, key)
    tokens = model.tokens("The cat sat on the mat")                    # [CLS] the cat ... [SEP]
    batch = model.get_attention_weights(["a cat", "the dog sat"])      # (layers, batch, heads, query, key)
    AttentionVisualizer().plot_attention_heatmap(weights[-1, 0], tokens=tokens, save_path="heatmap.png")
"""

from __future__ import annotations

import numpy as np

from attnviz.cli import lesson_parser, resolve_layer, run_lesson
from attnviz.extract import MultiheadAttentionRecorder, from_keras, transformer_attentions
from attnviz.models import encode_texts, load_model
from attnviz.outputs import LessonOutputs, save_png
from attnviz.plotting import show_heatmaps
from attnviz.validate import check_attention, check_index, check_tokens, to_numpy

DEFAULT_TEXT = "The cat sat on the mat because it was tired."


def _check_text(text, name: str = "text"):
    """One string, or a non-empty list/tuple of strings (a batch); anything else is a ``TypeError``."""
    if isinstance(text, str):
        return text
    if isinstance(text, list | tuple):
        if not text:
            raise ValueError(f"{name}: got an empty list; expected at least one string")
        bad = [type(t).__name__ for t in text if not isinstance(t, str)]
        if bad:
            raise TypeError(f"{name}: expected a list of strings, got an item of type {bad[0]}")
        return list(text)
    raise TypeError(f"{name}: expected a string or a list of strings, got {type(text).__name__}")


class AttentionModel:
    """A ``transformers`` model wrapped for attention extraction (the offline MiniLM by default).

    ``get_attention_weights(text)`` runs one forward pass with eager attention and returns every
    layer's and head's weights as numpy ``(L, H, Q, K)`` — or ``(L, B, H, Q, K)`` for a list of texts,
    padded to the longest; ``tokens(text)`` the matching token strings (special tokens included).
    """

    def __init__(self, model: str | None = None, device=None, kind: str = "encoder"):
        self.loaded = load_model(model, kind=kind, device=device)
        self.model, self.tokenizer = self.loaded.model, self.loaded.tokenizer
        self.name = self.loaded.name

    def encode(self, text):
        """Tokenize (with a warning if the text is longer than the model takes) and move to the device."""
        return encode_texts(self.tokenizer, _check_text(text), self.model).to(self.loaded.device)

    def get_attention_weights(self, text: str | list[str]) -> np.ndarray:
        """All attention weights: numpy ``(L, H, Q, K)`` for one text, ``(L, B, H, Q, K)`` for a list.

        A list is one padded batch (right padding, as :meth:`get_batch_attention`, which also returns the
        attention mask that says which positions are padding).
        """
        import torch

        batch = not isinstance(_check_text(text), str)
        inputs = self.encode(text)
        with torch.no_grad():
            attention = transformer_attentions(self.model, inputs)  # (L, B, H, Q, K)
        attention = attention.cpu().numpy()
        return attention if batch else attention[:, 0]  # (L, B, H, Q, K) or (L, H, Q, K)

    def get_batch_attention(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """A padded batch: weights ``(L, B, H, Q, K)``, the attention mask ``(B, T)`` and tokens per text."""
        import torch

        inputs = self.encode(texts)
        with torch.no_grad():
            attention = transformer_attentions(self.model, inputs)  # (L, B, H, Q, K)
        mask = inputs["attention_mask"].cpu().numpy()
        tokens = [self.tokenizer.convert_ids_to_tokens(ids) for ids in inputs["input_ids"].cpu().tolist()]
        return attention.cpu().numpy(), mask, tokens

    def tokens(self, text: str | list[str]) -> list[str] | list[list[str]]:
        """The token strings, one per query position (special tokens included); a list per text for a
        list of texts, padded like :meth:`get_attention_weights`' batch."""
        ids = self.encode(text)["input_ids"].tolist()  # (B, T)
        per_text = [self.tokenizer.convert_ids_to_tokens(row) for row in ids]
        return per_text if isinstance(_check_text(text), list) else per_text[0]


def check_token_labels(tokens, length: int, *, name: str = "tokens", axis: str = "query (rows)") -> list[str]:
    """:func:`attnviz.validate.check_tokens`, with the likely cause when the count is off: the model's
    special tokens (``[CLS]``/``[SEP]``, BOS), or words given where sub-word tokens were needed."""
    try:
        return check_tokens(tokens, length, name=name, axis=axis)
    except ValueError as err:
        given = len(list(tokens))
        hint = (" — the model adds special tokens ([CLS] … [SEP], or BOS) and splits rare words into "
                "pieces; take the labels from model.tokens(text), not text.split()")
        if given == length - 2:
            hint = f" — exactly 2 short: [CLS] and [SEP]?{hint}"
        raise ValueError(f"{err}{hint}") from None


def peakiness(matrix) -> float:
    """Mean of each row's largest weight, ``(1/n) Σ_i max_j A[i, j]``: near 1 = every query looks at one
    key, ``1/K`` = every row uniform. (Entropy is the finer measure: see the intermediate tier.)
    """
    arr = check_attention(matrix, "QK", name="matrix")
    return float(arr.max(-1).mean())


def sharpest_head(layer_weights) -> int:
    """The head of a layer ``(H, Q, K)`` with the highest :func:`peakiness`."""
    arr = check_attention(layer_weights, "HQK", name="layer_weights")
    return int(np.argmax([peakiness(m) for m in arr]))


class AttentionVisualizer:
    """Draws attention matrices as labelled heatmaps on a stated colour scale."""

    def __init__(self, cmap: str = "viridis", scale: str = "fixed"):
        self.cmap, self.scale = cmap, scale

    def select_matrix(self, attention_weights, *, head: int | None = None, batch: int | None = None,
                      average_heads: bool = False) -> tuple[np.ndarray, str]:
        """Reduce ``(Q, K)``, ``(H, Q, K)`` or ``(B, H, Q, K)`` to one ``(Q, K)`` matrix and a description."""
        arr = check_attention(attention_weights, "QK|HQK|BHQK", name="attention_weights")
        what = []
        if arr.ndim == 4:  # (B, H, Q, K): pick the example first
            if batch is None:
                raise ValueError(f"batch: attention_weights has a batch axis of size {arr.shape[0]} "
                                 f"(shape {arr.shape}); pass batch=<index> to choose an example")
            b = check_index(batch, arr.shape[0], name="batch")
            arr, what = arr[b], [f"example {b}"]  # (H, Q, K)
        if arr.ndim == 3:  # (H, Q, K): one head, or the mean over heads — never silently
            if average_heads:
                arr, what = arr.mean(0), what + [f"mean of {arr.shape[0]} heads"]  # (Q, K)
            elif head is not None:
                h = check_index(head, arr.shape[0], name="head")
                arr, what = arr[h], what + [f"head {h}"]  # (Q, K)
            else:
                raise ValueError(f"head: attention_weights has {arr.shape[0]} heads (shape {arr.shape}); "
                                 "pass head=<index> or average_heads=True")
        return arr, ", ".join(what)

    def plot_attention_heatmap(self, attention_weights, tokens, save_path=None, *, head: int | None = None,
                               batch: int | None = None, average_heads: bool = False,
                               title: str | None = None,
                               key_tokens=None, annotate: bool | None = None):
        """Draw one attention matrix with query tokens as rows and key tokens as columns.

        ``attention_weights`` is ``(Q, K)``, or ``(H, Q, K)`` with ``head=`` or ``average_heads=True``, or
        ``(B, H, Q, K)`` with ``batch=`` as well. ``key_tokens`` defaults to ``tokens`` (self-attention).
        Returns the matplotlib ``Figure``; saves it when ``save_path`` is given.
        """
        matrix, what = self.select_matrix(attention_weights, head=head, batch=batch,
                                          average_heads=average_heads)
        tokens = check_token_labels(tokens, matrix.shape[0], name="tokens", axis="query (rows)")
        key_tokens = tokens if key_tokens is None else key_tokens
        key_tokens = check_token_labels(key_tokens, matrix.shape[1], name="key_tokens", axis="key (columns)")
        title = title or ("Attention weights" + (f" ({what})" if what else ""))
        fig = show_heatmaps(matrix, xlabels=key_tokens, ylabels=tokens, titles=[title], scale=self.scale,
                            cmap=self.cmap,
                            annotate=max(matrix.shape) <= 12 if annotate is None else annotate)
        if save_path is not None:
            save_png(fig, save_path, dpi=130)
        return fig


def softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax: subtracting the row maximum changes nothing but avoids overflow.

    ``scores`` may be any finite real numbers (negative too); NaN, Inf or an empty array is a ``ValueError``.
    """
    scores = to_numpy(scores, "scores")
    if scores.size == 0 or scores.ndim == 0:
        raise ValueError(f"scores: got shape {scores.shape}; expected at least one score along axis {axis}")
    if not np.isfinite(scores).all():
        raise ValueError(f"scores: contains {int((~np.isfinite(scores)).sum())} NaN or Inf values; a softmax "
                         "needs finite scores (mask a key by leaving it out, or use a large negative score)")
    shifted = scores - scores.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def toy_attention(seed: int = 0, n: int = 5, d_k: int = 4) -> np.ndarray:
    """``softmax(QKᵀ/√d_k)`` for random Q, K: the formula, by hand, on a 5-token toy."""
    rng = np.random.default_rng(seed)
    queries, keys = rng.normal(size=(n, d_k)), rng.normal(size=(n, d_k))  # (n, d_k) each
    return softmax(queries @ keys.T / np.sqrt(d_k))  # (n, n), rows sum to 1


def multihead_module_attention(seed: int = 0, n: int = 6, d_model: int = 16, heads: int = 4) -> dict:
    """Per-head vs silently averaged weights from ``torch.nn.MultiheadAttention``."""
    import torch

    torch.manual_seed(seed)
    mha = torch.nn.MultiheadAttention(d_model, heads, batch_first=True).eval()
    x = torch.randn(1, n, d_model)  # (B, T, d_model)
    with torch.no_grad():
        _, averaged = mha(x, x, x)  # default: need_weights=True, average_attn_weights=True -> (B, Q, K)
        with MultiheadAttentionRecorder(mha) as recorder:
            mha(x, x, x)
    per_head = recorder.stacked()[0, 0]  # (L, B, H, Q, K) -> (H, Q, K)
    return {"per_head": per_head, "averaged": averaged[0].numpy()}


def _toy_demo(out, viz: AttentionVisualizer):
    """The formula on a toy: rows sum to 1."""
    toy = toy_attention()
    labels = [f"t{i}" for i in range(toy.shape[0])]
    fig = viz.plot_attention_heatmap(toy, labels, title="softmax(QKᵀ/√d_k) for random Q, K")
    out.save_figure(fig, "toy_softmax", "The formula by hand: softmax(QKᵀ/√d_k) on 5 random tokens. "
                    "Each row is a probability distribution over the keys (it sums to 1).")


def head_vs_average(layer_weights, head: int) -> dict:
    """Peakiness of one head of ``(H, Q, K)`` and of the mean over heads, and the caption they support."""
    arr = check_attention(layer_weights, "HQK", name="layer_weights")
    head = check_index(head, arr.shape[0], name="head")
    one, mean = peakiness(arr[head]), peakiness(arr.mean(0))  # mean over heads: (H, Q, K) -> (Q, K)
    uniform = 1.0 / arr.shape[-1]
    if one > mean:
        verdict = (f"the mean is flatter: its mean largest row weight is {mean:.2f} against {one:.2f} for "
                   f"head {head} (uniform rows: {uniform:.2f}) — averaging blurs the head's pattern")
    else:
        verdict = (f"here the mean is not flatter: its mean largest row weight is {mean:.2f} against "
                   f"{one:.2f} for head {head} (uniform rows: {uniform:.2f}) — head {head} is itself "
                   "diffuse")
    return {"head": head, "head_peakiness": one, "mean_peakiness": mean, "uniform": uniform,
            "verdict": verdict}


def _model_demo(out, viz: AttentionVisualizer, model: AttentionModel, args):
    """A real model: one chosen head, the head average, and the interactive twin."""
    weights = model.get_attention_weights(args.text)  # (L, H, Q, K)
    tokens = model.tokens(args.text)
    layer = resolve_layer(args.layer, weights.shape[0])
    chosen = "chosen"
    if args.head is None:  # default: the sharpest head, so the comparison with the mean has a point
        args.head, chosen = sharpest_head(weights[layer]), "sharpest"
    head = check_index(args.head, weights.shape[1], name="head")
    print(f"{model.name}: attention of shape {weights.shape} = (layers, heads, query, key) "
          f"for {len(tokens)} tokens")
    fig = viz.plot_attention_heatmap(weights[layer], tokens, head=head,
                                     title=f"{model.name} — layer {layer}, head {head} ({chosen})")
    out.save_figure(fig, "one_head", f"Layer {layer}, head {head} of {model.name} (the {chosen} head): rows "
                    "are query tokens, columns key tokens, colour is the weight on a fixed 0–1 scale.")
    compared = head_vs_average(weights[layer], head)
    fig = viz.plot_attention_heatmap(weights[layer], tokens, average_heads=True,
                                     title=f"{model.name} — layer {layer}, "
                                           f"mean over {weights.shape[1]} heads")
    out.save_figure(fig, "head_average", f"The same layer averaged over its {weights.shape[1]} heads. "
                    f"Measured: {compared['verdict']}. Averaging is a choice; state it.")
    out.save_heatmap_html("one_head.html", weights[layer, head], "Interactive version: hover a cell for "
                          "the query and key (position and token) and the weight.",
                          xlabels=tokens, ylabels=tokens,
                          title=f"{model.name} — layer {layer}, head {head} (hover for query, key, weight)")
    return {"layer": layer, **compared}


def _module_demo(out):
    """nn.MultiheadAttention: per-head weights vs the silent average."""
    mha = multihead_module_attention()
    grid = np.concatenate([mha["per_head"], mha["averaged"][None]])  # (H + 1, Q, K)
    titles = [f"head {h}" for h in range(mha["per_head"].shape[0])] + ["default output (averaged!)"]
    fig = show_heatmaps(grid, titles=titles, suptitle="torch.nn.MultiheadAttention: average_attn_weights="
                        "False keeps the heads; the default silently averages them")
    out.save_figure(fig, "multihead_module", "nn.MultiheadAttention: the per-head weights (hooked with "
                    "average_attn_weights=False) next to the default return value, their silent mean.")


def _keras_demo(out, viz: AttentionVisualizer):
    """A Keras-style (batch, heads, target, source) array: select example and head explicitly."""
    rng = np.random.default_rng(1)
    keras_scores = softmax(rng.normal(size=(2, 3, 4, 6)) * 2)  # (batch, heads, target, source)
    canonical = from_keras(keras_scores)  # (1, B, H, Q, K)
    fig = viz.plot_attention_heatmap(canonical[0], [f"tgt{i}" for i in range(4)], batch=1, head=2,
                                     key_tokens=[f"src{j}" for j in range(6)],
                                     title="Keras-style array: example 1, head 2 (target × source)")
    out.save_figure(fig, "keras_style", "A Keras-style (batch, heads, target, source) array: pick the "
                    "example and the head, keep targets (queries) as rows; rows sum to 1 over the source.")


def main(argv=None):
    parser = lesson_parser(__doc__, text=DEFAULT_TEXT, layer="last")
    parser.add_argument("--head", type=int, default=None,
                        help="head index (default: the sharpest head of the layer, by peakiness)")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)
    model = AttentionModel(args.model, device=args.device)  # before any figure: a wrong model stops here
    viz = AttentionVisualizer()
    _toy_demo(out, viz)
    measured = _model_demo(out, viz, model, args)
    _module_demo(out)
    _keras_demo(out, viz)
    return measured  # the numbers the captions state (tests assert them); run_lesson ignores it


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
