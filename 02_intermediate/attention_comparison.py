"""Lesson 2.3 — How attention changes with depth: four numbers per head, layer by layer, two models.

The idea
--------
Heatmaps of 72 heads are hard to compare by eye. Four summary statistics of each head — each a mean over
the real query rows ``i`` of one row ``p = A[i, :]`` (a distribution over the keys ``j``) — make the trend
with depth visible and put two models on one chart:

* **mean attention distance** ``Σ_j p_j · |i − j|`` — how far (in tokens) a query looks on average. Local
  heads score ~1, broad ones ~n/3. (Dosovitskiy et al. 2021 used the same measure, in pixels, to show
  that ViT heads look locally in early layers and globally in late ones.)
* **entropy** ``H(p) = −Σ_j p_j log p_j`` in nats, with ``0 · log 0 = 0`` (the limit; ``log 0`` itself
  is ``-inf`` and ``0 · -inf`` is NaN in floating point — the classic bug). 0 for a head that puts all
  weight on one key, ``log n`` for uniform attention over ``n`` keys. Because ``n`` differs between
  sentences (and between rows of a causal model, where query ``i`` sees only ``i + 1`` keys) we also report
  the **entropy fraction** ``H / log n_i`` in ``[0, 1]``.
* **mass on special tokens** ``Σ_{j special} p_j`` — ``[CLS]``, ``[SEP]``, BOS. Clark et al. (2019, "What
  Does BERT Look At?") found BERT's middle and late heads park most of their weight on ``[SEP]`` and
  punctuation, which they read as a "no-op"; Kovaleva et al. (2019, "Revealing the Dark Secrets of BERT")
  found such vertical patterns in most heads.
* **diagonal mass** ``p_i`` — attention to the query itself.

What to look for when you run it (the printed table has the numbers): does the mean distance grow with
depth? Which layer is the broadest — Clark et al. found broad attention in BERT's lowest layers, beside a
few sharp positional heads (the caption names the strongest previous-token head and its share)? Where
does the weight on ``[CLS]``/``[SEP]`` peak? A decoder-only model differs by construction — its causal
mask lets query ``i`` see only keys ``0…i`` — so compare its *fractions*, not raw entropies, with the
encoder's. In the tiny GPT-2 on a repeated random sequence, look for induction heads in layer 1: in the
repeated half they jump back to the token after the current token's first occurrence (Olsson et al.
2022, "In-context Learning and Induction Heads").

Padding: every statistic takes the tokenizer's ``attention_mask``; padding queries are left out of the
means and padding keys are ignored, so a padded batch gives the same numbers as each sentence alone.

This lesson is also where the basic entropy lives: :func:`attention_entropy` is imported by
``03_advanced/attention_entropy.py`` (head specialisation, importance and pruning) and by exercise I4.

Run it
------
    python 02_intermediate/attention_comparison.py

writes ``attention_by_head.csv`` and ``attention_by_layer.csv`` (pandas) beside its figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnviz.cli import lesson_parser, run_lesson
from attnviz.kinds import detect_kind
from attnviz.models import require_kind
from attnviz.outputs import LessonOutputs
from attnviz.plotting import show_heatmaps
from attnviz.validate import check_attention, check_mask, check_tokens, to_numpy

STATISTICS = ("distance", "entropy", "entropy_fraction", "special_mass", "diagonal_mass")
LABELS = {
    "distance": "mean attention distance (tokens)",
    "entropy": "entropy (nats)",
    "entropy_fraction": "entropy / log(keys seen)",
    "special_mass": "mass on special tokens",
    "diagonal_mass": "mass on the query itself",
}
DEFAULT_SENTENCES = [
    "The cat sat on the mat because it was tired.",
    "Attention is not explanation, but it is a useful first look at what a model reads.",
    "The keys to the old cabinet are on the kitchen table.",
    "She gave the book to her brother after she had read it twice.",
]


# ------------------------------------------------------------------------------------------- entropy
def attention_entropy(weights, mask=None, *, per: str = "row") -> np.ndarray:
    """Shannon entropy of attention rows, in nats, with ``0 · log 0 = 0``.

    Args:
        weights: attention ``(..., Q, K)`` whose rows sum to 1 — ``(Q, K)``, ``(H, Q, K)``, ``(B, H, Q, K)``,
            ``(L, B, H, Q, K)`` …
        mask: optional key mask, 1 = real token, 0 = padding: ``(K,)`` for any layout, or ``(B, K)`` when the
            weights are ``(B, Q, K)`` or ``(..., B, H, Q, K)``. Masked keys are ignored: their weight is
            dropped and each row renormalised over the real keys (a model gives them 0 already). For
            self-attention (``Q == K``) the mask also marks the padding *query* rows.
        per: ``"row"`` (default) returns one entropy per query row, shape ``(..., Q)``; padding query rows
            are NaN so that they can never pass for a perfectly focused (zero-entropy) row.
            ``"head"`` returns the mean over the real query rows, shape ``(...)`` — one number per head.

    Returns:
        Entropies in nats: 0 when a row puts all its weight on one key, ``log n`` when it is uniform over
        ``n`` keys. Divide by ``np.log(n)`` for a fraction.
    """
    if per not in ("row", "head"):
        raise ValueError(f"per: got {per!r}; expected 'row' (one value per query) or 'head' "
                         "(mean over queries)")
    arr = check_attention(weights, "QK|HQK|BHQK|LBHQK", name="weights")
    keys, queries = _masks(mask, arr)  # broadcastable to (..., Q, K) and (..., Q)
    if keys is not None:
        arr = arr * keys
        sums = arr.sum(-1, keepdims=True)
        arr = np.divide(arr, sums, out=np.zeros_like(arr), where=sums > 0)  # renormalise over real keys
    plogp = np.where(arr > 0, arr * np.log(np.where(arr > 0, arr, 1.0)), 0.0)  # 0·log 0 = 0, never NaN
    entropy = -plogp.sum(-1)  # (..., Q)
    if queries is not None:
        entropy = np.where(queries, entropy, np.nan)
    if per == "row":
        return entropy
    return np.nanmean(entropy, axis=-1)  # (...) mean over real queries


def _masks(mask, arr: np.ndarray):
    """A tokenizer-style mask -> (key mask ``(..., 1, K)``, query mask ``(..., Q)``), broadcastable."""
    if mask is None:
        return None, None
    n_q, n_k = arr.shape[-2:]
    if to_numpy(mask, "mask").ndim == 1 or arr.ndim < 3:
        lead = check_mask(mask, n_k, name="mask")  # (K,)
    else:  # (B, K) for (B, Q, K) or (..., B, H, Q, K)
        lead = check_mask(mask, n_k, n_batch=arr.shape[-3 if arr.ndim == 3 else -4], name="mask")
        lead = lead[:, None, :] if arr.ndim >= 4 else lead  # (B, 1, K) broadcasts over heads, or (B, K)
    keys = lead[..., None, :]  # (…, 1, K)
    queries = lead if n_q == n_k else None  # (…, Q): self-attention only
    return keys, queries


# ----------------------------------------------------------------------------------- depth statistics
def row_statistics(attention, attention_mask=None, special=None,
                   causal: bool = False) -> dict[str, np.ndarray]:
    """The five per-row statistics of self-attention ``(L, B, H, Q, K)``; each value ``(L, B, H, Q)``.

    ``attention_mask`` ``(B, K)`` marks real tokens; ``special`` ``(B, K)`` marks special tokens
    (``[CLS]``, ``[SEP]``, BOS). ``causal`` says query ``i`` may only see keys ``0 … i`` (for the entropy
    fraction); then no weight may lie above the diagonal, or a ``ValueError`` says the attention is
    bidirectional. Padding query rows are NaN.
    """
    arr = check_attention(attention, "LBHQK", name="attention", square=True)
    n_batch, n = arr.shape[1], arr.shape[-1]
    real = check_mask(attention_mask, n, n_batch=n_batch)  # (B, K) boolean, or None
    real = np.ones((n_batch, n), bool) if real is None else real
    if causal:  # a causal model never attends to a later key: weight there means causal=True is wrong
        pairs = real[:, :, None] & real[:, None, :]  # (B, Q, K): real query × real key only
        future = float((np.triu(arr, k=1) * pairs[None, :, None]).max()) if n > 1 else 0.0
        if future > 1e-6:
            raise ValueError(f"causal: causal=True, but the attention puts weight {future:.3g} on a "
                             "later key (above the diagonal): this is bidirectional attention; pass "
                             "causal=False (else the entropy fraction divides by too few keys)")
    special = np.zeros((n_batch, n), bool) if special is None else to_numpy(special, "special") > 0
    if special.shape != (n_batch, n):
        raise ValueError(f"special: got shape {special.shape}; expected (batch, tokens) = ({n_batch}, {n})")
    queries, keys = np.indices((n, n))  # (Q, K) each
    entropy = attention_entropy(arr, real)  # (L, B, H, Q), NaN on padding rows
    seen = real[:, None, :] & ((keys <= queries) if causal else True)  # (B, Q, K) keys each query may see
    n_seen = seen.sum(-1)  # (B, Q)
    log_n = np.log(np.maximum(n_seen, 1)).astype(float)
    fraction = np.divide(entropy, log_n[None, :, None], out=np.full_like(entropy, np.nan),
                         where=(n_seen > 1)[None, :, None])  # a row with one visible key has no fraction
    stats = {
        "distance": (arr * np.abs(queries - keys)).sum(-1),  # Σ_k A[q, k] · |q − k|
        "entropy": entropy,
        "entropy_fraction": fraction,
        "special_mass": (arr * special[:, None, None, :]).sum(-1),  # Σ over special keys
        "diagonal_mass": np.diagonal(arr, axis1=-2, axis2=-1),  # A[q, q]
    }
    padding_rows = ~real[None, :, None, :]  # (1, B, 1, Q)
    return {name: np.where(padding_rows, np.nan, value) for name, value in stats.items()}


def depth_statistics(attention, attention_mask=None, special=None, causal: bool = False,
                     model: str = "model"):
    """Per layer and head, the mean of each statistic over all real query rows of the batch.

    ``attention`` is ``(L, B, H, Q, K)`` (or ``(L, H, Q, K)`` for one sentence). Returns a pandas
    ``DataFrame`` with one row per head: ``model, layer, head, depth`` (layer / (L − 1), so models of
    different depth share an axis) and the columns of :data:`STATISTICS`.
    """
    import pandas as pd

    arr = check_attention(attention, "LHQK|LBHQK", name="attention", square=True)
    if arr.ndim == 4:
        arr = arr[:, None]  # (L, B=1, H, Q, K)
        attention_mask = None if attention_mask is None else np.atleast_2d(to_numpy(attention_mask))
        special = None if special is None else np.atleast_2d(to_numpy(special))
    rows = row_statistics(arr, attention_mask, special, causal)
    n_layers, _, n_heads = arr.shape[:3]
    means = {name: np.nanmean(value, axis=(1, 3)) for name, value in rows.items()}  # (L, H) each
    layer, head = np.indices((n_layers, n_heads))
    return pd.DataFrame({
        "model": model,
        "layer": layer.ravel(),
        "head": head.ravel(),
        "depth": layer.ravel() / max(n_layers - 1, 1),
        **{name: means[name].ravel() for name in STATISTICS},
    })


def layer_summary(table):
    """Mean over heads per model and layer (the table drawn as a figure)."""
    return table.groupby(["model", "layer"], sort=False)[list(STATISTICS)].mean().round(3).reset_index()


# --------------------------------------------------------------------------------------------- figures
def plot_depth_trends(table):
    """Each statistic against relative depth: one line per model (mean over heads), one dot per head."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12.5, 7.0), constrained_layout=True)
    axes, spare = axes.ravel()[: len(STATISTICS)], axes.ravel()[len(STATISTICS):]
    styles = zip(table.groupby("model", sort=False), "os^", ("#1b9e77", "#d95f02", "#7570b3"))
    for (model, group), marker, colour in styles:
        per_layer = group.groupby("layer")
        for ax, name in zip(axes, STATISTICS):
            ax.scatter(group["depth"], group[name], s=9, alpha=0.35, color=colour, marker=marker)
            ax.plot(per_layer["depth"].first(), per_layer[name].mean(), color=colour, marker=marker,
                    label=model)
    for ax, name in zip(axes, STATISTICS):
        ax.set_xlabel("relative depth (first layer 0 … last layer 1)")
        ax.set_title(LABELS[name], fontsize=10)
        if name.endswith(("mass", "fraction")):
            ax.set_ylim(-0.02, 1.02)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in spare:
        ax.axis("off")
    spare[0].legend(handles, labels, loc="center", title="model (line = mean over heads)")
    fig.suptitle("How attention changes with depth (lines: mean over heads; dots: single heads)")
    return fig


def plot_table(summary, title: str):
    """A pandas table as a matplotlib figure (for the gallery)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.35 * len(summary.columns) + 1, 0.32 * len(summary) + 1.0))
    ax.axis("off")
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
             for row in summary.itertuples(index=False)]
    table = ax.table(cellText=cells, colLabels=[c.replace("_", " ") for c in summary.columns], loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(col=list(range(len(summary.columns))))
    table.scale(1, 1.25)
    ax.set_title(title)
    return fig


def early_vs_late(attention, tokens, name: str, n_heads_shown: int = 6):
    """First and last layer side by side: ``n_heads_shown`` heads of each, rows = layers."""
    arr = check_attention(attention, "LHQK", name="attention")
    shown = min(n_heads_shown, arr.shape[1])
    grid = arr[[0, -1], :shown]  # (2, heads shown, Q, K)
    last = arr.shape[0] - 1
    titles = [[f"layer 0, head {h}" for h in range(shown)], [f"layer {last}, head {h}" for h in range(shown)]]
    return show_heatmaps(grid, titles=titles, xlabels=tokens, ylabels=tokens, panel_size=2.6,
                         tick_labels=True, suptitle=f"{name}: first layer (top) vs last layer (bottom)")


def most_read_key(layer_weights) -> tuple[np.ndarray, np.ndarray]:
    """Per head of ``(H, Q, K)``: the key with the largest mean weight over the queries, and that mean.

    A head whose rows all read one key (a vertical stripe) scores near 1; uniform attention ``1/n``.
    Returns ``(keys (H,), shares (H,))``.
    """
    arr = check_attention(layer_weights, "HQK", name="layer_weights")
    column_means = arr.mean(-2)  # (H, K): the average row of each head
    return column_means.argmax(-1), column_means.max(-1)


def induction_scores(layer_weights, tokens) -> np.ndarray:
    """Per head of ``(H, Q, K)``: the mean weight a query puts on the *induction target*, ``(H,)``.

    For a query ``q`` whose token occurred before, at ``p < q`` (the last such ``p``), the target is
    ``p + 1``: the token that followed it last time (Olsson et al. 2022). Queries without an earlier
    occurrence are left out. 1.0 is a perfect induction head.
    """
    arr = check_attention(layer_weights, "HQK", name="layer_weights", square=True)
    tokens = check_tokens(tokens, arr.shape[-1], name="tokens")
    queries, targets = [], []
    for q, token in enumerate(tokens):
        earlier = [p for p in range(q) if tokens[p] == token]
        if earlier:
            queries.append(q)
            targets.append(earlier[-1] + 1)
    if not queries:
        raise ValueError("tokens: no token occurs twice, so there is no induction target to score")
    return arr[:, queries, targets].mean(-1)  # (H,)


# ------------------------------------------------------------------------------------------------ lesson
def encoder_batch(model_name, device, sentences):
    """MiniLM (or ``--model``) on a padded batch.

    Returns attention ``(L, B, H, Q, K)``, mask, special, tokens and the model's name."""
    from beginner.attention_basics import AttentionModel

    model = AttentionModel(model_name, device=device)
    weights, mask, tokens = model.get_batch_attention(sentences)  # (L, B, H, Q, K), (B, T)
    special_ids = set(model.tokenizer.all_special_tokens)
    special = np.array([[tok in special_ids for tok in row] for row in tokens]) & (mask > 0)
    return weights, mask, special, tokens, Path(model.name).name


def decoder_batch(model_name, device, n_sequences: int = 4, half: int = 12):
    """The tiny GPT-2 on ``n_sequences`` random sequences repeated twice (BOS in front when it has one)."""
    import torch

    from attnviz.extract import transformer_attentions
    from attnviz.models import load_model
    from beginner.attention_patterns import repeated_random_tokens

    loaded = load_model(model_name, kind="causal-lm", device=device, option="--causal-model")
    tok = loaded.tokenizer
    sequences = []
    for seed in range(n_sequences):
        tokens = repeated_random_tokens(tok, half, seed=seed)
        sequences.append(([tok.bos_token] if tok.bos_token is not None else []) + tokens)
    ids = torch.tensor([tok.convert_tokens_to_ids(s) for s in sequences], device=loaded.device)  # (B, T)
    with torch.no_grad():
        weights = transformer_attentions(loaded.model, {"input_ids": ids}).cpu().numpy()  # (L, B, H, T, T)
    special = np.isin(ids.cpu().numpy(), list(tok.all_special_ids))  # (B, T)
    return weights, np.ones(ids.shape, dtype=int), special, sequences, Path(loaded.name).name


def previous_token_head(layer_weights) -> tuple[int, float]:
    """The head of one layer ``(H, Q, K)`` that puts the most weight on the previous token, and that weight.

    The weight is the mean of ``A[h, i, i − 1]`` over the queries ``i ≥ 1``; 1.0 is a perfect
    previous-token head.
    """
    arr = check_attention(layer_weights, "HQK", name="layer_weights", square=True)
    previous = np.diagonal(arr, offset=-1, axis1=-2, axis2=-1).mean(-1)  # (H,): mean of A[h, i, i-1]
    best = int(np.argmax(previous))
    return best, float(previous[best])


def early_vs_late_caption(first, tokens, name: str, head: int, share: float, shown: int = 6) -> str:
    """The early_vs_late_encoder caption: the previous-token head; how stripe-like each layer's heads are."""
    early_keys, early = most_read_key(first[0, :shown])  # (heads shown,) each
    late_keys, late = most_read_key(first[-1, :shown])
    late_names = sorted({tokens[k] for k in late_keys})
    return (f"{name}: {shown} heads of the first layer above {shown} of the last. In the first layer, head "
            f"{head} is the strongest previous-token head ({share:.0%} of each row on the previous token). "
            f"A head's most-read key takes {early.mean():.0%} of a row on average in the first layer and "
            f"{late.mean():.0%} in the last ({', '.join(late_names)}): the last layer's heads are "
            + ("more stripe-like, many queries reading the same few tokens." if late.mean() > early.mean()
               else "not more stripe-like than the first layer's."))


def _encoder_demo(out, model_name, device, sentences=None):
    """The encoder on a padded batch: its statistics table and the first vs the last layer."""
    weights, mask, special, tokens, name = encoder_batch(model_name, device, sentences or DEFAULT_SENTENCES)
    n_real = int(mask[0].sum())
    first = weights[:, 0, :, :n_real, :n_real]  # (L, H, Q, K): the first sentence, padding cut off
    head, share = previous_token_head(first[0])
    real_tokens = tokens[0][:n_real]
    fig = early_vs_late(first, real_tokens, name)
    out.save_figure(fig, "early_vs_late_encoder",
                    early_vs_late_caption(first, real_tokens, name, head, share))
    causal = model_name is not None and detect_kind(model_name) == "causal-lm"  # a decoder given as --model
    return depth_statistics(weights, mask, special, causal=causal, model=name)


def _decoder_demo(out, model_name, device):
    """The tiny GPT-2 on repeated random sequences (a --causal-model that cannot load: exit 2, one line)."""
    weights, mask, special, tokens, name = decoder_batch(model_name, device)  # (L, B, H, T, T)
    head, share = previous_token_head(weights[0, 0])
    fig = early_vs_late(weights[:, 0], tokens[0], name)
    induction = induction_scores(weights[-1, 0], tokens[0])  # (H,)
    upper = float(np.triu(weights[:, 0], k=1).max())  # weight above the diagonal: 0 under a causal mask
    out.save_figure(fig, "early_vs_late_decoder", f"{name} on a random sequence repeated twice: first "
                    f"layer (top) vs last layer (bottom). The causal mask leaves the upper triangle empty "
                    f"(largest weight there {upper:.2g}); in layer 0, head {head} puts {share:.0%} of each "
                    f"row on the previous token (the sub-diagonal). In the last layer, head "
                    f"{int(np.argmax(induction))} puts {induction.max():.0%} of each repeated token's row on "
                    "the token after that token's first occurrence (an induction head: the long "
                    "off-diagonal).")
    return depth_statistics(weights, mask, special, causal=True, model=name)


def _tables_demo(out, tables):
    """Both models' statistics as CSV files, trend lines and a table figure."""
    import pandas as pd

    table = pd.concat(tables, ignore_index=True)
    summary = layer_summary(table)
    table.round(4).to_csv(out.path("attention_by_head.csv"), index=False)
    out.register("attention_by_head.csv", "Per model, layer and head: mean attention distance, entropy, "
                 "entropy fraction, special-token mass and diagonal mass (means over real query rows).")
    summary.to_csv(out.path("attention_by_layer.csv"), index=False)
    out.register("attention_by_layer.csv", "The same statistics averaged over the heads of each layer.")
    print(summary.to_string(index=False))
    fig = plot_depth_trends(table)
    out.save_figure(fig, "depth_trends", "Each statistic against relative depth for both models: the line is "
                    "the mean over heads, the dots single heads. The spread of the dots is the heads' "
                    "specialisation.")
    fig = plot_table(summary, "Attention statistics per layer (mean over heads)")
    out.save_figure(fig, "layer_table", "attention_by_layer.csv as a table: the numbers behind the trend "
                    "lines.")


def main(argv=None):
    parser = lesson_parser(__doc__)
    parser.add_argument("--text", action="append", default=None,
                        help="a sentence for --model (repeat for several; default: four example sentences)")
    parser.add_argument("--causal-model", default=None,
                        help="a decoder-only model (default: tiny-gpt2-induction)")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)
    require_kind(args.model, "encoder")  # a model of the wrong kind is refused before any work
    require_kind(args.causal_model, "causal-lm", option="--causal-model")
    tables = [_encoder_demo(out, args.model, args.device, args.text),
              _decoder_demo(out, args.causal_model, args.device)]
    _tables_demo(out, [t for t in tables if t is not None])


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
