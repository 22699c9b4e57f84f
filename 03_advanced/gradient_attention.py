"""Lesson 3.2 — Gradient-weighted attention (Chefer et al. 2021): which attention the *prediction* uses.

The idea
--------
Rollout and flow (``attention_rollout.py``, ``attention_flow.py``) look at attention alone, so they give the
same map whatever the model is asked: the explanation of "cat" and of "dog" is identical, and a head that
attends strongly but whose output the prediction ignores counts as much as one it relies on. Chefer,
Gur & Wolf (2021, "Generic Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder
Transformers", ICCV) weight every attention map by the gradient of the score being explained, ``y``
(a class logit, the next token's logit, a similarity), and keep only what *raises* it::

    Ā_l = E_h[ (∇A_l,h ⊙ A_l,h)⁺ ]            (Q, K)  ∇A = ∂y/∂A_l,h, ⁺ = max(·, 0), E_h = mean over heads
    R⁰  = I                                   (Q, K)  each token starts as its own relevance
    R   ← R + Ā_l · R      for l = 1 … L      (first layer first)

``R[q, k]`` is how much input token ``k`` is relevant to position ``q`` at the top. Read the row of the
position the prediction is made from: ``[CLS]`` (row 0) for a ViT or a BERT classifier, the last position
for a GPT-2 next-token logit, the mean of all real rows for a mean-pooled sentence embedding.

Why each piece:

* **``∇A ⊙ A``** is a first-order Taylor term: how much ``y`` would drop if that weight were removed.
  Weights the prediction does not depend on get zero, whatever their size.
* **``⁺`` before the head mean.** A head that works *against* the class (negative product) should not
  cancel one that supports it; clamping per head, then averaging, keeps the supporting evidence. Averaging
  first (or taking ``|·|``, which is the gradient-weighted flow of ``attention_flow.py``) loses the sign.
* **``R + Ā·R``** is rollout with the residual *added*, not mixed in: the identity carries each token's own
  relevance through the skip connection, ``Ā·R`` what attention moves. No row normalisation — ``R`` is a
  relevance, not a distribution, so figures use a stated non-probability scale.
* **Class-specific.** Change the class (or the next token) and the map changes — plain rollout cannot.

Gradients are taken with respect to the attention *probabilities* of the eager attention path
(``attention_gradients`` in ``attnviz/gradients.py``: ``retain_grad()`` on the returned tensors, no
``torch.no_grad()``), so ``∇A`` has the shape ``(L, B, H, Q, K)`` of ``A``.

Pitfalls: forgetting the clamp (negative evidence cancels positive); taking the head mean before the
product; reading the wrong row (the CLS row for GPT-2 explains the first token, which sees only itself);
comparing ``R`` and rollout on one probability scale (``R``'s rows do not sum to 1 — compare rows after
dividing by their sums, and say so). And gradients are local: they say what a *small* change of a weight
does (integrated gradients, ``integrated_attention.py``, follow the whole path).

The examples
------------
* **Tiny GPT-2 trained on repeated random sequences** (``data/models/tiny-gpt2-induction``): given
  ``x₁ … x_m x₁ … x_k``, an induction head predicts ``x_{k+1}`` by finding the earlier ``x_k`` and copying
  what followed it. The relevance of the predicting position should therefore fall on the earlier
  occurrence of the predicted token — a check with a known right answer.
* **Tiny ViT** (``data/models/tiny-vit-shapes``): the class logit's relevance over the image patches, next
  to rollout's (drawn over the image by ``attnviz/attribution_figures.py``).
* **all-MiniLM-L6-v2**: ``y`` = cosine similarity of the sentence embedding with a second sentence's.

Run it
------
    python 03_advanced/gradient_attention.py
    python 03_advanced/gradient_attention.py --text "The cat sat on the mat" --other "A dog lay on the rug"

Usage from Python::

    from advanced.gradient_attention import chefer_relevance
    from attnviz.gradients import attention_gradients, next_token_logit
    A, dA = attention_gradients(model, inputs, next_token_logit())   # (L, B, H, Q, K) each
    R = chefer_relevance(A[:, 0], dA[:, 0])                            # (Q, K); row -1 for GPT-2
"""

from __future__ import annotations

import numpy as np

from attnviz.attribution_figures import object_mask_for, relevance_overlay_figure
from attnviz.cli import lesson_parser, run_lesson
from attnviz.gradients import (
    attention_gradients,
    check_attention_gradients,
    class_logit,
    embedding_similarity,
    mean_pool,
    next_token_logit,
)
from attnviz.kinds import config_patch_size, require_vision_transformer, vision_special_tokens
from attnviz.models import require_kind
from attnviz.normalize import output_row
from attnviz.outputs import LessonOutputs
from attnviz.plotting import show_heatmaps, token_bars
from attnviz.validate import check_attention, to_numpy

DEFAULT_TEXT = "The cat sat on the mat because it was tired."
DEFAULT_OTHER = "A sleepy kitten is lying on a rug."


def chefer_layer_maps(attention, gradients) -> np.ndarray:
    """Per layer ``Ā_l = E_h[(∇A ⊙ A)⁺]``: ``(L, [B,] H, Q, K)`` -> ``(L, [B,] Q, K)``."""
    weights, grads = check_attention_gradients(attention, gradients)
    return np.clip(grads * weights, 0.0, None).mean(axis=-3)  # clamp per head, then the head mean


def chefer_relevance(attention, gradients, cumulative: bool = False) -> np.ndarray:
    """Relevance ``R`` from ``R⁰ = I`` and ``R ← R + Ā_l · R`` over the layers, first layer first.

    ``attention``, ``gradients``: ``(L, H, Q, K)`` (one example) or ``(L, B, H, Q, K)``. Returns ``(Q, K)``
    (or ``(B, Q, K)``); with ``cumulative=True`` every partial ``R`` after each layer, ``(L, [B,] Q, K)``.
    """
    if not isinstance(cumulative, bool):
        raise TypeError(f"cumulative: got {type(cumulative).__name__}; expected True or False")
    maps = chefer_layer_maps(attention, gradients)  # (L, [B,] Q, K)
    relevance = np.broadcast_to(np.eye(maps.shape[-1]), maps.shape[1:]).copy()  # ([B,] Q, K): R⁰ = I
    partial = []
    for layer_map in maps:  # first layer first
        relevance = relevance + layer_map @ relevance  # R ← R + Ā_l · R
        partial.append(relevance)
    return np.stack(partial) if cumulative else relevance


def relevance_row(relevance, row, attention_mask=None) -> np.ndarray:
    """One position's relevance over the input tokens, without its own identity term ``R⁰ = I``.

    ``row`` is an index (0 for ``[CLS]``, -1 for the last position) or ``"mean"`` (the mean of the real
    rows, for a mean-pooled sentence embedding). Returns ``(K,)``.
    """
    arr = check_attention(relevance, "QK", name="relevance", stochastic=False, square=True)
    extra = arr - np.eye(arr.shape[0])  # what attention moved; R⁰ = I is every token's own starting relevance
    return output_row(extra, row, attention_mask=attention_mask, name="relevance")


def explain(model, inputs, target, *, kind: str = "self") -> dict:
    """Everything the lesson plots for one example: attention, gradients, ``Ā_l`` and ``R``.

    Returns numpy arrays ``attention``/``gradients`` ``(L, H, Q, K)``, ``maps`` ``(L, Q, K)`` and
    ``relevance`` ``(Q, K)`` for the first example of ``inputs``.
    """
    attention, grads = attention_gradients(model, inputs, target, kind=kind)  # (L, B, H, Q, K) each
    attention, grads = attention[:, 0], grads[:, 0]  # (L, H, Q, K)
    return {"attention": attention, "gradients": grads, "maps": chefer_layer_maps(attention, grads),
            "relevance": chefer_relevance(attention, grads)}


# ================================================================================================ lesson
def induction_sequence(candidates, half: int = 12, repeat: int = 6, seed: int = 0,
                       bos_id: int | None = None) -> tuple[np.ndarray, int, int]:
    """``<bos> x₁ … x_half x₁ … x_repeat``: ``half`` distinct random ids from ``candidates``, then a repeat.

    The data the tiny GPT-2 was trained on (``attnviz/training/repeats.py``). Returns ``(ids, the expected
    next id x_{repeat+1}, the position of its earlier occurrence)``.
    """
    for name, value in (("half", half), ("repeat", repeat), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name}: got {type(value).__name__} {value!r}; expected an integer")
    candidates = np.unique(to_numpy(candidates, "candidates").ravel())  # distinct ids, sorted
    if candidates.size and (candidates.min() < 0 or np.any(candidates != np.round(candidates))):
        raise ValueError("candidates: expected token ids (integers >= 0)")
    candidates = candidates.astype(np.int64)
    if not 0 < repeat < half <= candidates.size:
        raise ValueError(f"half, repeat: need 0 < repeat ({repeat}) < half ({half}) <= {candidates.size} "
                         "candidate ids")
    first = np.random.default_rng(seed).choice(candidates, size=half, replace=False)
    prefix = [] if bos_id is None else [bos_id]
    ids = np.concatenate([prefix, first, first[:repeat]]).astype(np.int64)
    return ids, int(first[repeat]), repeat + len(prefix)


def share_on(row, keys) -> float:
    """The share of a relevance ``row`` ``(K,)`` (non-negative) that lies on the boolean ``keys`` ``(K,)``."""
    row = to_numpy(row, "row")
    keys = np.asarray(keys, dtype=bool)
    if row.ndim != 1 or keys.shape != row.shape:
        raise ValueError(f"row, keys: got shapes {row.shape} and {keys.shape}; expected two (K,) vectors")
    if not np.isfinite(row).all() or row.min() < 0:
        raise ValueError("row: expected finite, non-negative relevance")
    total = row.sum()
    return float(row[keys].sum() / total) if total > 0 else float("nan")


def minilm_example(model, text: str, other: str, rollout) -> dict:
    """MiniLM, ``y`` = cosine similarity with ``other``'s embedding: plain rollout, Chefer's ``R``, and the
    shares of their mean rows on the special tokens ([CLS], [SEP])."""
    import torch

    inputs, other_inputs = model.encode(text), model.encode(other)
    tokens = model.tokens(text)
    with torch.no_grad():
        hidden = model.model(**other_inputs).last_hidden_state  # (1, T, d)
        other_embedding = mean_pool(hidden, other_inputs["attention_mask"])[0]  # (d,)
    result = explain(model.model, inputs, embedding_similarity(other_embedding, inputs["attention_mask"]))
    plain = rollout.compute_rollout(list(result["attention"]))  # (Q, K)
    chefer_row = relevance_row(result["relevance"], "mean")  # (K,)
    special = np.isin(inputs["input_ids"][0].cpu().numpy(), model.tokenizer.all_special_ids)  # (K,)
    content_order = [int(k) for k in np.argsort(-chefer_row) if not special[k]]
    return {"tokens": tokens, "plain": plain, "relevance": result["relevance"], "chefer_row": chefer_row,
            "rollout_on_special": share_on(plain.mean(0), special),
            "chefer_on_special": share_on(chefer_row, special),
            "chefer_top": [tokens[k] for k in content_order[:3]]}


def _minilm_demo(out, args, rollout) -> dict:
    from beginner.attention_basics import AttentionModel

    model = AttentionModel(args.model, device=args.device)
    x = minilm_example(model, args.text, args.other, rollout)
    tokens, plain = x["tokens"], x["plain"]
    chefer = x["relevance"] - np.eye(len(tokens))  # what attention moved; R⁰ = I is the same everywhere
    fig = show_heatmaps(np.stack([plain, chefer])[None], xlabels=tokens, ylabels=tokens, tick_labels=True,
                        scale="row",
                        titles=["plain rollout", "Chefer R − I (gradient-weighted)"],
                        xlabel="input token", ylabel="position at the top",
                        suptitle=f"{model.name}: y = cos(embedding, '{args.other}')")
    moved = x["chefer_on_special"] < x["rollout_on_special"]
    shares = (f"the special tokens hold {100 * x['rollout_on_special']:.0f} % of rollout's mean row and "
              f"{100 * x['chefer_on_special']:.0f} % of the gradient-weighted one's")
    out.save_figure(fig, "minilm_rollout_vs_chefer", "MiniLM, y = cosine similarity with a second sentence: "
                    "plain rollout vs the gradient-weighted relevance R − I, each row divided by its maximum "
                    f"(per-row scale). Measured: {shares}"
                    + (f"; the gradient moves the credit to the words the score uses (most: "
                       f"{', '.join(x['chefer_top'])})." if moved else
                       " — here the gradient does not move credit away from them."))
    series = {"rollout (mean row)": plain.mean(0), "Chefer R − I (mean row)": x["chefer_row"]}
    fig = token_bars(series, tokens, title="Which words the similarity score uses (each series scaled to its "
                     "maximum)", ylabel="relative relevance", normalize="max")
    out.save_figure(fig, "minilm_relevance_bars", "Relevance of each word to the mean-pooled sentence "
                    "embedding's similarity score: gradient-weighted (Chefer) vs plain rollout, each scaled "
                    f"to its maximum; {shares}.")
    return x


def row_mass_shares(maps) -> np.ndarray:
    """``(L, Q, K)`` non-negative maps -> ``(L, Q)``: the share of each layer's total in each query row."""
    maps = to_numpy(maps, "maps")
    if maps.ndim != 3 or not np.isfinite(maps).all() or maps.min() < 0:
        raise ValueError(f"maps: got shape {maps.shape}; expected finite, non-negative (L, Q, K) maps")
    totals = maps.sum((1, 2))[:, None]  # (L, 1)
    return maps.sum(2) / np.where(totals > 0, totals, 1)  # (L, Q)


def ids_equal(tokens, i: int, j: int) -> bool:
    """Whether positions ``i`` and ``j`` hold the same token."""
    return str(tokens[i]) == str(tokens[j])


def gpt2_example(loaded, seed: int, rollout) -> dict:
    """The tiny GPT-2 on a repeated random sequence: Chefer's and rollout's last rows, where each peaks,
    and the share of each layer's map in each query row."""
    import torch

    special = set(loaded.tokenizer.all_special_ids)
    candidates = [i for i in range(int(loaded.model.config.vocab_size)) if i not in special]
    ids, expected, where = induction_sequence(candidates, seed=seed, bos_id=loaded.tokenizer.bos_token_id)
    input_ids = torch.tensor(ids[None], device=loaded.device)
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    with torch.no_grad():
        predicted = int(loaded.model(**inputs).logits[0, -1].argmax())
    result = explain(loaded.model, inputs, next_token_logit(expected))
    chefer_row = relevance_row(result["relevance"], -1)[:-1]  # (K - 1,): the earlier positions
    plain_row = rollout.compute_rollout(list(result["attention"]))[-1, :-1]  # (K - 1,)
    at_where = np.arange(len(chefer_row)) == where
    return {"tokens": [str(t) for t in loaded.tokenizer.convert_ids_to_tokens(ids.tolist())],
            "predicted": predicted, "expected": expected, "where": where, "maps": result["maps"],
            "chefer_row": chefer_row, "plain_row": plain_row,
            "chefer_peak": int(np.argmax(chefer_row)), "rollout_peak": int(np.argmax(plain_row)),
            "chefer_at_where": share_on(chefer_row, at_where),
            "rollout_at_where": share_on(plain_row, at_where),
            "row_shares": row_mass_shares(result["maps"])}


def _gpt2_demo(out, args, rollout) -> dict | None:
    from attnviz.models import load_model

    # A --causal-model that cannot load is the user's error: one line naming --causal-model, exit 2.
    loaded = load_model(args.causal_model, kind="causal-lm", device=args.device, option="--causal-model")
    x = gpt2_example(loaded, args.seed, rollout)
    tokens, where, hit = x["tokens"], x["where"], x["chefer_peak"]
    print(f"{loaded.name}: predicts {x['predicted']} (expected {x['expected']}); Chefer relevance peaks at "
          f"position {hit} (the earlier occurrence is position {where}); rollout peaks at "
          f"{x['rollout_peak']}")
    labels = [f"{k}:{t}" for k, t in enumerate(tokens)]
    fig = token_bars({"rollout, last row": x["plain_row"], "Chefer R − I, last row": x["chefer_row"]},
                     labels[:-1], title=f"{loaded.name}: relevance for the next-token logit of "
                     f"{tokens[where]!r} (repeated sequence)", ylabel="relative relevance", normalize="max",
                     highlight=where, highlight_label="expected (earlier occurrence)")
    peak = (f"the gradient-weighted relevance peaks there (position {hit}, "
            f"{100 * x['chefer_at_where']:.0f} % of its row)" if hit == where else
            f"the gradient-weighted relevance peaks at position {hit}, not there "
            f"({100 * x['chefer_at_where']:.0f} % of its row)")
    out.save_figure(fig, "gpt2_induction_relevance", "Tiny GPT-2 on a repeated random sequence: relevance of "
                    "each earlier position for the logit of the token that follows the repeat. An induction "
                    f"head copies from the earlier occurrence (shaded, position {where}): {peak}; rollout "
                    f"peaks at position {x['rollout_peak']} and puts {100 * x['rollout_at_where']:.0f} % of "
                    "its row there.")
    maps, shares = x["maps"], x["row_shares"]  # (L, Q, K), (L, Q)
    peaks = maps.max(axis=(1, 2))  # (L,)
    busiest = int(np.argmax(shares[0]))
    fig = show_heatmaps((maps / np.where(peaks > 0, peaks, 1)[:, None, None])[None],  # (1, L, Q, K)
                        titles=[f"layer {k} (max {peaks[k]:.3g})" for k in range(maps.shape[0])],
                        xlabels=labels, ylabels=labels, tick_labels=True, vmin=0.0, vmax=1.0,
                        colorbar_label="E_h[(∇A ⊙ A)⁺] ÷ the layer's maximum",
                        suptitle=f"{loaded.name}: gradient-weighted attention per layer (next-token logit)")
    key = int(np.argmax(maps[0, busiest]))  # where that row's gradient-weighted attention peaks
    where_note = f", peaking on key {labels[key]}"
    if busiest == where and key == where - 1 and ids_equal(tokens, key, -1):
        where_note += (": the earlier occurrence looks at the token before it, a copy of the last token — "
                       "the previous-token step that the last layer's induction head matches on")
    out.save_figure(fig, "gpt2_layer_maps", "Per layer, E_h[(∇A ⊙ A)⁺] for the next-token logit, each layer "
                    "divided by its own maximum (written in its title): only the attention that raises the "
                    f"predicted token's score survives. In the last layer {100 * shares[-1, -1]:.0f} % of "
                    "the map is in the last row, the position the prediction is read from; in layer 0 the "
                    f"busiest row is {labels[busiest]} ({100 * shares[0, busiest]:.0f} % of that layer's map)"
                    f"{where_note}.")
    return x


def vit_patch_maps(result, config, pixel_shape, rollout) -> dict:
    """The ``[CLS]`` row of rollout and of Chefer's ``R − I`` on the patch grid, from :func:`explain`.

    A ViT puts special tokens before its patches: ``[CLS]`` alone (ViT, BEiT), ``[CLS]`` and a distillation
    token (DeiT), ``[CLS]`` and register tokens (DINOv2 with registers). Every one of them is dropped from
    the grid; only ``[CLS]``'s row — the one the classifier reads — is drawn. ``pixel_shape`` is the
    ``(S_h, S_w)`` the model saw. Returns ``rollout`` and ``chefer`` ``(g_h, g_w)``, the ``special`` token
    names and a ``note`` for the figure's title.
    """
    if not isinstance(result, dict) or not {"relevance", "attention"} <= set(result):
        raise TypeError("result: expected the dict explain() returns, with 'relevance' and 'attention'")
    if len(tuple(pixel_shape)) != 2 or min(int(s) for s in pixel_shape) <= 0:
        raise ValueError(f"pixel_shape: got {tuple(pixel_shape)}; expected (height, width) in pixels")
    patch = config_patch_size(config)
    grid = (int(pixel_shape[0]) // patch, int(pixel_shape[1]) // patch)  # (g_h, g_w) patches
    n_tokens = result["relevance"].shape[-1]  # N = n_prefix + g_h · g_w
    special = vision_special_tokens(config, n_tokens, grid)  # [CLS] first
    n_prefix = len(special)
    chefer = relevance_row(result["relevance"], 0)[n_prefix:].reshape(grid)  # (g_h · g_w,) -> (g_h, g_w)
    plain = rollout.compute_rollout(list(result["attention"]))[0, n_prefix:].reshape(grid)  # (g_h, g_w)
    others = ", ".join(special[1:])
    note = "row drawn: [CLS]" + (f"; not on the patch grid: {others}" if others else "")
    return {"rollout": plain, "chefer": chefer, "special": special, "note": note}


def _vit_demo(out, args, rollout) -> dict | None:
    import torch

    from advanced.vit_attention import target_shares
    from attnviz import REPO_ROOT
    from attnviz.models import load_model

    loaded = load_model(args.vit_model, kind="vit", device=args.device, option="--vit-model")  # or exit 2
    from pathlib import Path

    from PIL import Image

    shipped = REPO_ROOT / "data" / "images" / "shapes_test"
    images = [Path(args.image)] if args.image else sorted(shipped.glob("*.png"))
    if not images:
        print("skipping the ViT example: no test image in data/images/shapes_test/")
        return None
    if not images[0].is_file():
        raise FileNotFoundError(f"image: {images[0]} does not exist")
    image = Image.open(images[0]).convert("RGB")
    inputs = {k: v.to(loaded.device) for k, v in loaded.processor(images=image, return_tensors="pt").items()}
    with torch.no_grad():
        logits = loaded.model(**inputs).logits[0]
    predicted = int(logits.argmax())
    result = explain(loaded.model, inputs, class_logit(predicted))
    pixel_shape = tuple(int(n) for n in inputs["pixel_values"].shape[-2:])  # (S_h, S_w)
    maps = vit_patch_maps(result, loaded.model.config, pixel_shape, rollout)
    label = loaded.model.config.id2label.get(predicted, str(predicted))
    plain, chefer = maps["rollout"], maps["chefer"]  # (g_h, g_w) each
    grey = np.asarray(image.convert("L").resize(pixel_shape[::-1]), dtype=np.float64)  # (S_h, S_w)
    panels = {"rollout, [CLS] row": plain, f"Chefer R − I, class {label!r}": chefer}
    fig = relevance_overlay_figure(grey, panels, config_patch_size(loaded.model.config),
                                   f"{loaded.name} on {images[0].name}: where the class evidence is "
                                   f"({maps['note']})")
    mask = object_mask_for(images[0], pixel_shape[0], loaded.processor) if pixel_shape[0] == pixel_shape[1] \
        else None
    facts = {"rollout_on_object": None, "chefer_on_object": None}
    on_object = ""
    if mask is not None and mask.any():
        shares = target_shares(np.stack([plain, chefer]), mask)["target"]  # (2,): share on patches it touches
        facts = {"rollout_on_object": float(shares[0]), "chefer_on_object": float(shares[1])}
        on_object = (f" The patches the object touches hold {100 * shares[1]:.0f} % of the gradient-weighted "
                     f"relevance and {100 * shares[0]:.0f} % of rollout's.")
    out.save_figure(fig, "vit_class_relevance", "Tiny ViT: the input in grey, with the [CLS] row of "
                    "plain rollout and of the class-specific gradient-weighted relevance over it as "
                    f"iso-lines (each map divided by its maximum); {maps['note']}.{on_object}")
    return facts


def main(argv=None):
    parser = lesson_parser(__doc__, text=DEFAULT_TEXT)
    parser.add_argument("--other", default=DEFAULT_OTHER, help="second sentence of the similarity target "
                                                               f"(default: {DEFAULT_OTHER!r})")
    parser.add_argument("--causal-model", "--gpt2-model", dest="causal_model", default=None,
                        help="causal LM for the induction example (default: tiny-gpt2-induction)")
    parser.add_argument("--vit-model", default=None, help="image classifier for the ViT example (default: "
                                                          "tiny-vit-shapes)")
    parser.add_argument("--image", default=None, help="image for the ViT example (default: the first shipped "
                                                      "test image)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random repeated sequence (default: "
                                                            "0)")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)
    if args.vit_model is not None:
        require_vision_transformer(args.vit_model, option="--vit-model")  # Swin, ConvNeXt, a text model
    if args.causal_model is not None:
        require_kind(args.causal_model, "causal-lm", option="--causal-model")  # a wrong kind: one line

    from intermediate.attention_rollout import AttentionRollout

    rollout = AttentionRollout()
    _minilm_demo(out, args, rollout)
    _gpt2_demo(out, args, rollout)
    _vit_demo(out, args, rollout)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
