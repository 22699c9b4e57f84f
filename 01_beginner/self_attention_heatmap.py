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
from beginner.attention_basics import AttentionModel

SENTENCES = [
    "The cat sat on the mat.",
    "The animal didn't cross the street because it was too tired.",
    "Bank robbers took the money from the river bank.",
]


def crop_to_real_tokens(attention, attention_mask, tokens):
    """Drop padding positions: ``(..., T, T)`` attention, ``(T,)`` mask -> ``(..., n, n)`` and n tokens.

    The padding rows and columns are removed, not just set to zero, so the heatmap has one row and one
    column per real token.
    """
    mask = check_mask(attention_mask, np.shape(attention)[-1])  # (T,) boolean
    arr = mask_padding(attention, mask)  # zero padding rows and columns first (a check that they are inert)
    real = np.flatnonzero(mask)
    cropped = arr[..., real[:, None], real[None, :]]  # (..., n, n)
    return cropped, [tokens[i] for i in real]


def peakiness(matrix) -> float:
    """Mean of each row's largest weight: near 1 = every query looks at one key, near 1/n = spread evenly.

    (Entropy is the finer measure of the same thing: see ``02_intermediate/attention_comparison.py``.)
    """
    arr = check_attention(matrix, "QK", name="matrix")
    return float(arr.max(-1).mean())


def scale_comparison(matrix) -> dict[str, np.ndarray]:
    """The same matrix on the three display scales (fixed, per-row, min-max)."""
    return {scale: display_scale(matrix, scale)[0] for scale in ("fixed", "row", "minmax")}


def _padding_demo(out, weights, attention_mask, batch_tokens, layer: int, head: int):
    """The raw padded matrix of the shortest sentence next to the same matrix masked."""
    shortest = int(np.argmin(attention_mask.sum(1)))
    raw = weights[layer, shortest, head]  # (T, T) with padding
    fig = show_heatmaps(np.stack([raw, mask_padding(raw, attention_mask[shortest])]),  # (2, T, T)
                        titles=["as returned: padding rows hold noise", "padding rows and columns masked"],
                        xlabels=batch_tokens[shortest], ylabels=batch_tokens[shortest], tick_labels=True,
                        suptitle=f"Padding in a batch — layer {layer}, head {head}")
    out.save_figure(fig, "padding", "A short sentence padded to the batch length. Padding keys already get "
                    "0 weight, but padding queries (bottom rows) still hold a distribution: mask them.")


def _sentences_demo(out, texts, weights, attention_mask, batch_tokens, layer: int, head: int):
    """Several sentences, one head vs the head average, all on the same fixed 0–1 scale."""
    for index, text in enumerate(texts):
        per_head, toks = crop_to_real_tokens(weights[layer, index], attention_mask[index],
                                             batch_tokens[index])  # (H, n, n)
        pair = np.stack([per_head[head], per_head.mean(0)])  # (2, n, n): one head, mean over heads
        fig = show_heatmaps(pair, xlabels=toks, ylabels=toks, tick_labels=True,
                            titles=[f"head {head}", f"mean of {per_head.shape[0]} heads"],
                            suptitle=f"“{text}” — layer {layer}")
        out.save_figure(fig, f"sentence_{index}", f"“{text}”: one head next to the mean over all heads "
                        f"(layer {layer}, fixed 0–1 scale). The mean blurs the head's sharp pattern.")
        if index == 1:
            out.save_heatmap_html(f"sentence_{index}.html", pair[0], "Interactive: hover for query token, "
                                  "key token and weight.", xlabels=toks, ylabels=toks,
                                  title=f"“{text}” — layer {layer}, head {head}")


def _scales_demo(out, weights, attention_mask, batch_tokens, layer: int):
    """Why min-max rescaling misleads: a head with no preference, a diffuse head and a sharp head."""
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
    fig = show_heatmaps(grid, xlabels=toks, ylabels=toks,
                        colorbar_label="colour value (meaning depends on the column)",
                        titles=[[f"{name}\nfixed 0–1", "per-row max (stated)", "min-max (misleading)"]
                                for name in rows], panel_size=2.2,
                        suptitle=f"Three display scales — layer {layer}")
    out.save_figure(fig, "scales", "Top: a head with no preference at all (every weight 1/n ± 1 %). On the "
                    "fixed scale it is flat, as it should be; min-max rescaling paints it as if it had "
                    f"strong opinions. Middle and bottom: the most diffuse (head {diffuse}) and the sharpest "
                    f"head (head {sharp}) of layer {layer}.")


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
    _padding_demo(out, weights, attention_mask, batch_tokens, layer, head)
    _sentences_demo(out, texts, weights, attention_mask, batch_tokens, layer, head)
    _scales_demo(out, weights, attention_mask, batch_tokens, layer)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
