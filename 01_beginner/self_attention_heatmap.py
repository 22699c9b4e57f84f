"""Lesson 1.2 — Self-attention heatmaps: several sentences, heads vs their mean, padding, honest colour.

The idea
--------
A self-attention heatmap draws one ``(n, n)`` matrix ``A`` of a layer and head: row *i* is the
distribution ``softmax(q_i Kᵀ / √d_k)`` of query token *i* over all key tokens. Four decisions decide
whether the picture tells the truth:

1. **Which head.** A layer has ``H`` heads that each learn their own pattern. Averaging them
   (``A̅ = (1/H) Σ_h A_h``) gives one smooth picture, but sharp single-head patterns — a head that
   only looks at the previous token, say — blur into the mean. Show a head, or say you averaged.
2. **Padding.** Sentences of different lengths are padded to one length in a batch. The model gives
   padding *keys* zero weight (their scores are set to −∞ before the softmax), but padding *queries*
   still carry a full distribution over the real keys. Those rows mean nothing: mask them out and
   crop the matrix to the real tokens, or the heatmap shows attention from tokens that are not there.
3. **The colour scale.** Each row sums to 1, so a weight is a probability and the honest scale is a
   fixed 0–1 colour bar, the same for every figure. A popular recipe instead min-max rescales each
   matrix, ``(A − min A) / (max A − min A)``. It stretches any matrix to the full colour range: a head
   that spreads its weight evenly (every entry ≈ 1/n, no preference at all) then looks exactly as
   decisive as a head that puts 0.99 on one token, and figures can no longer be compared. If small
   weights must be visible, use a *stated* per-row scale (each row divided by its maximum, labelled
   so) — it answers "where does this token look most?" without pretending to be a probability.
4. **Labels.** Rows and columns are labelled with the (sub-word) tokens, so the reader can see that
   "[CLS]", "[SEP]" and "##ing" are there.

Run it
------
    python 01_beginner/self_attention_heatmap.py
    python 01_beginner/self_attention_heatmap.py --layer 2 --text "Colorless green ideas sleep furiously."
    python 01_beginner/self_attention_heatmap.py --model gpt2 --layer last

``--layer`` defaults to the middle layer, ``(L − 1) // 2`` (layer 2 of MiniLM's 6, layer 5 of GPT-2's
12), so any depth works; it also takes ``last`` or a negative index. A tokenizer without a pad token
(GPT-2, Llama) pads the batch with its end-of-sequence token, and the attention mask marks the padding.
"""

from __future__ import annotations

import numpy as np

from attnviz.cli import lesson_parser, resolve_layer, run_lesson
from attnviz.normalize import display_scale, mask_padding
from attnviz.outputs import LessonOutputs
from attnviz.plotting import show_heatmaps
from attnviz.validate import check_attention, check_index, check_mask
from beginner.attention_basics import AttentionModel, check_token_labels, peakiness

__all__ = ["SENTENCES", "crop_to_real_tokens", "padding_summary", "peakiness", "scale_comparison", "main"]

SENTENCES = [
    "The cat sat on the mat.",
    "The animal didn't cross the street because it was too tired.",
    "Bank robbers took the money from the river bank.",
]


def crop_to_real_tokens(attention, attention_mask, tokens):
    """Drop padding positions: ``(T, T)``, ``(H, T, T)`` or ``(L, H, T, T)`` attention of one example and
    its ``(T,)`` mask -> ``(..., n, n)`` and the n real tokens.

    The padding rows and columns are removed, not just set to zero, so the heatmap has one row and one
    column per real token. The input must be softmax attention as the model returned it: every row sums
    to 1 and padding keys carry no weight (checked). The cropped rows still sum to 1 over the real keys.
    """
    arr = check_attention(attention, "QK|HQK|LHQK", name="attention", square=True)  # (..., T, T)
    mask = check_mask(attention_mask, arr.shape[-1])  # (T,) boolean
    check_attention(arr, "QK|HQK|LHQK", name="attention", key_mask=mask)  # padding keys carry no weight
    tokens = check_token_labels(tokens, arr.shape[-1], name="tokens", axis="sequence")
    real = np.flatnonzero(mask)
    cropped = mask_padding(arr, mask)[..., real[:, None], real[None, :]]  # (..., n, n)
    return cropped, [tokens[i] for i in real]


def scale_comparison(matrix) -> dict[str, np.ndarray]:
    """The same ``(Q, K)`` attention matrix on the three display scales (fixed, per-row, min-max)."""
    arr = check_attention(matrix, "QK", name="matrix")
    return {scale: display_scale(arr, scale)[0] for scale in ("fixed", "row", "minmax")}


def padding_summary(raw, attention_mask) -> dict:
    """What a padded ``(T, T)`` matrix holds at its padding: how many positions, how much weight padding
    query rows carry in total (each is a full distribution over the real keys) and the largest weight
    any query puts on a padding key (0: the model masks them)."""
    arr = check_attention(raw, "QK", name="raw", square=True)  # (T, T)
    mask = check_mask(attention_mask, arr.shape[-1])  # (T,) boolean
    pad = ~mask
    return {"n_padding": int(pad.sum()), "n_real": int(mask.sum()),
            "padding_row_sums": arr[pad].sum(-1),  # (n_padding,)
            "max_weight_on_padding_keys": float(arr[:, pad].max()) if pad.any() else 0.0}


def _padding_demo(out, weights, attention_mask, batch_tokens, layer: int, head: int):
    """The raw padded matrix of the shortest sentence next to the same matrix masked (padding grey)."""
    shortest = int(np.argmin(attention_mask.sum(1)))
    raw = weights[layer, shortest, head]  # (T, T) with padding
    found = padding_summary(raw, attention_mask[shortest])
    pad = ~attention_mask[shortest].astype(bool)  # (T,)
    if found["n_padding"]:
        titles = [f"as returned: {found['n_padding']} padding rows still sum to "
                  f"{found['padding_row_sums'].min():.2f}–{found['padding_row_sums'].max():.2f}",
                  "padding rows and columns masked (grey)"]
        caption = (f"The shortest sentence ({found['n_real']} tokens) padded with {found['n_padding']} "
                   f"positions to the batch length. Measured: the largest weight on any padding key is "
                   f"{found['max_weight_on_padding_keys']:.2g}, but each padding query (bottom rows) "
                   f"still holds a full distribution over the real keys (row sums "
                   f"{found['padding_row_sums'].min():.2f}–{found['padding_row_sums'].max():.2f}): "
                   "meaningless rows that must be masked.")
    else:
        titles = ["as returned (no padding)", "masked: nothing to mask"]
        caption = (f"No padding here: the sentence drawn is the longest (or only) one of the batch, so its "
                   f"{found['n_real']} positions are all real tokens and masking changes nothing. Run with "
                   "several --text of different lengths to see padding rows.")
    masked = pad[:, None] | pad[None, :]  # (T, T): padding row or column
    fig = show_heatmaps(np.stack([raw, raw]), masked=np.stack([np.zeros_like(masked), masked]),  # (2, T, T)
                        titles=titles, xlabels=batch_tokens[shortest], ylabels=batch_tokens[shortest],
                        tick_labels=True, suptitle=f"Padding in a batch — layer {layer}, head {head}")
    out.save_figure(fig, "padding", caption)
    return found


def _sentences_demo(out, texts, weights, attention_mask, batch_tokens, layer: int, head: int):
    """Several sentences, one head vs the head average, all on the same fixed 0–1 scale."""
    measured = []
    for index, text in enumerate(texts):
        per_head, toks = crop_to_real_tokens(weights[layer, index], attention_mask[index],
                                             batch_tokens[index])  # (H, n, n)
        pair = np.stack([per_head[head], per_head.mean(0)])  # (2, n, n): one head, mean over heads
        sharp_head, sharp_mean = peakiness(pair[0]), peakiness(pair[1])
        measured.append((sharp_head, sharp_mean))
        verdict = (f"the mean is flatter (mean largest row weight {sharp_mean:.2f} against {sharp_head:.2f} "
                   "for the head): averaging blurs the head's pattern" if sharp_head > sharp_mean else
                   f"the mean is not flatter here (mean largest row weight {sharp_mean:.2f} against "
                   f"{sharp_head:.2f} for the head): head {head} is itself diffuse on this sentence")
        fig = show_heatmaps(pair, xlabels=toks, ylabels=toks, tick_labels=True,
                            titles=[f"head {head} (peakiness {sharp_head:.2f})",
                                    f"mean of {per_head.shape[0]} heads ({sharp_mean:.2f})"],
                            suptitle=f"“{text}” — layer {layer}")
        out.save_figure(fig, f"sentence_{index}", f"“{text}”: head {head} next to the mean over all heads "
                        f"(layer {layer}, fixed 0–1 scale). Measured: {verdict}.")
        if index == 1:
            out.save_heatmap_html(f"sentence_{index}.html", pair[0], "Interactive: hover for the query and "
                                  "key (position and token) and the weight.", xlabels=toks, ylabels=toks,
                                  title=f"“{text}” — layer {layer}, head {head}")
    return measured


def _scales_demo(out, weights, attention_mask, batch_tokens, layer: int):
    """Why min-max rescaling misleads: a head with no preference, a diffuse head and a sharp head.

    Returns the measured numbers the caption states (the tests assert their direction)."""
    per_head, toks = crop_to_real_tokens(weights[layer, 0], attention_mask[0], batch_tokens[0])  # (H, n, n)
    peak = np.array([peakiness(m) for m in per_head])  # (H,)
    diffuse, sharp = int(np.argmin(peak)), int(np.argmax(peak))
    n = len(toks)
    rng = np.random.default_rng(0)
    no_preference = 1.0 / n + rng.uniform(-0.01, 0.01, size=(n, n)) / n  # every weight 1/n ± 1 %
    no_preference /= no_preference.sum(-1, keepdims=True)
    rows = {"no preference (synthetic)": no_preference, f"head {diffuse} (most diffuse)": per_head[diffuse],
            f"head {sharp} (sharpest)": per_head[sharp]}
    grid = np.stack([[scale_comparison(m)[s] for s in ("fixed", "row", "minmax")] for m in rows.values()])
    # grid: (3 matrices, 3 scales, n, n)
    flat = {scale: float(np.ptp(grid[0, k])) for k, scale in enumerate(("fixed", "row", "minmax"))}
    fig = show_heatmaps(grid, xlabels=toks, ylabels=toks, tick_labels=True,
                        colorbar_label="colour value (meaning depends on the column)",
                        titles=[[f"{name}\nfixed 0–1", "per-row max (stated)", "min-max (misleading)"]
                                for name in rows], panel_size=max(2.6, 0.2 * n + 1.2),
                        suptitle=f"Three display scales — layer {layer}")
    caption = (f"Top: a head with no preference at all (every weight 1/n ± 1 %). Measured: on the fixed "
               f"scale its colours span {flat['fixed']:.4f} of the bar — flat, as it should be; min-max "
               f"rescaling stretches them over {flat['minmax']:.2f} of it, as if the head had strong "
               f"opinions. Middle and bottom: the most diffuse (head {diffuse}, peakiness "
               f"{peak[diffuse]:.2f}) and the sharpest head (head {sharp}, {peak[sharp]:.2f}) of layer "
               f"{layer}.")
    out.save_figure(fig, "scales", caption)
    return {"span": flat, "diffuse": (diffuse, float(peak[diffuse])), "sharp": (sharp, float(peak[sharp]))}


def main(argv=None):
    parser = lesson_parser(__doc__, text=None, layer="middle", head=0)
    parser.add_argument("--text", action="append", default=None,
                        help="a sentence (repeat for several; default: three example sentences)")
    args = parser.parse_args(argv)
    texts = args.text or SENTENCES
    out = LessonOutputs(__file__, args.out)
    model = AttentionModel(args.model, device=args.device)
    # One padded batch, exactly as a model sees it: (L, B, H, T, T) with T = the longest sentence.
    weights, attention_mask, batch_tokens = model.get_batch_attention(texts)
    layer = resolve_layer(args.layer, weights.shape[0])  # default: the middle layer, whatever the depth
    head = check_index(args.head, weights.shape[2], name="head")
    print(f"batch attention {weights.shape} = (layers, batch, heads, query, key); "
          f"real lengths {attention_mask.sum(1).tolist()}")
    return {"padding": _padding_demo(out, weights, attention_mask, batch_tokens, layer, head),
            "sentences": _sentences_demo(out, texts, weights, attention_mask, batch_tokens, layer, head),
            "scales": _scales_demo(out, weights, attention_mask, batch_tokens, layer)}


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
