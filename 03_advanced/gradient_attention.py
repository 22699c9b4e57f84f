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
  to rollout's.
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


def _minilm_demo(out, args, rollout):
    import torch

    from beginner.attention_basics import AttentionModel

    model = AttentionModel(args.model, device=args.device)
    inputs, other_inputs = model.encode(args.text), model.encode(args.other)
    tokens = model.tokens(args.text)
    with torch.no_grad():
        hidden = model.model(**other_inputs).last_hidden_state  # (1, T, d)
        other = mean_pool(hidden, other_inputs["attention_mask"])[0]  # (d,)
    result = explain(model.model, inputs, embedding_similarity(other, inputs["attention_mask"]))
    plain = rollout.compute_rollout(list(result["attention"]))  # (Q, K)
    chefer = result["relevance"] - np.eye(len(tokens))  # what attention moved; R⁰ = I is the same everywhere
    fig = show_heatmaps(np.stack([plain, chefer])[None], xlabels=tokens, ylabels=tokens, tick_labels=True,
                        scale="row",
                        titles=["plain rollout", "Chefer R − I (gradient-weighted)"],
                        xlabel="input token", ylabel="position at the top",
                        suptitle=f"{model.name}: y = cos(embedding, '{args.other}')")
    out.save_figure(fig, "minilm_rollout_vs_chefer", "MiniLM, y = cosine similarity with a second sentence: "
                    "plain rollout vs the gradient-weighted relevance R − I, each row divided by its maximum "
                    "(per-row scale). Rollout credits [CLS]; the gradient moves the credit to the words the "
                    "score uses.")
    chefer = result["relevance"]
    series = {"rollout (mean row)": plain.mean(0), "Chefer R − I (mean row)": relevance_row(chefer, "mean")}
    fig = token_bars(series, tokens, title="Which words the similarity score uses (each series scaled to its "
                     "maximum)", ylabel="relative relevance", normalize="max")
    out.save_figure(fig, "minilm_relevance_bars", "Relevance of each word to the mean-pooled sentence "
                    "embedding's similarity score: gradient-weighted (Chefer) vs plain rollout, each scaled "
                    "to its maximum.")


def _gpt2_demo(out, args, rollout) -> bool:
    import torch

    from attnviz.models import ModelLoadError, load_model

    try:
        loaded = load_model(args.causal_model, kind="causal-lm", device=args.device)
    except ModelLoadError as err:
        print(f"skipping the GPT-2 example: {err}")
        return False
    special = set(loaded.tokenizer.all_special_ids)
    candidates = [i for i in range(int(loaded.model.config.vocab_size)) if i not in special]
    ids, expected, where = induction_sequence(candidates, seed=args.seed,
                                              bos_id=loaded.tokenizer.bos_token_id)
    input_ids = torch.tensor(ids[None], device=loaded.device)
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    with torch.no_grad():
        predicted = int(loaded.model(**inputs).logits[0, -1].argmax())
    result = explain(loaded.model, inputs, next_token_logit(expected))
    tokens = [str(t) for t in loaded.tokenizer.convert_ids_to_tokens(ids.tolist())]
    chefer_row = relevance_row(result["relevance"], -1)
    plain_row = rollout.compute_rollout(list(result["attention"]))[-1]  # (K,)
    hit = int(np.argmax(chefer_row[:-1]))
    print(f"{loaded.name}: predicts {predicted} (expected {expected}); Chefer relevance peaks at position "
          f"{hit} (the earlier occurrence is position {where}); rollout peaks at "
          f"{int(np.argmax(plain_row[:-1]))}")
    labels = [f"{k}:{t}" for k, t in enumerate(tokens)][:-1]  # the earlier positions (not the query itself)
    fig = token_bars({"rollout, last row": plain_row[:-1], "Chefer R − I, last row": chefer_row[:-1]}, labels,
                     title=f"{loaded.name}: relevance for the next-token logit of {tokens[where]!r} "
                     "(repeated sequence)", ylabel="relative relevance", normalize="max", highlight=where,
                     highlight_label="expected (earlier occurrence)")
    out.save_figure(fig, "gpt2_induction_relevance", "Tiny GPT-2 on a repeated random sequence: relevance of "
                    "each earlier position for the logit of the token that follows the repeat. An induction "
                    "head copies from the earlier occurrence (shaded); the gradient-weighted relevance "
                    "should peak there.")
    top = float(result["maps"].max())
    fig = show_heatmaps(result["maps"][None], titles=[f"layer {k}" for k in range(result["maps"].shape[0])],
                        vmin=0.0, vmax=top, colorbar_label="E_h[(∇A ⊙ A)⁺]",
                        suptitle=f"{loaded.name}: gradient-weighted attention per layer (next-token logit)")
    out.save_figure(fig, "gpt2_layer_maps", "Per layer, E_h[(∇A ⊙ A)⁺] for the next-token logit: only the "
                    "attention that raises the predicted token's score survives, mostly in the last row.")
    return True


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


def _vit_demo(out, args, rollout) -> bool:
    import torch

    from attnviz import REPO_ROOT
    from attnviz.models import ModelLoadError, load_model

    try:
        loaded = load_model(args.vit_model, kind="vit", device=args.device)
    except ModelLoadError as err:
        print(f"skipping the ViT example: {err}")
        return False
    from pathlib import Path

    from PIL import Image

    shipped = REPO_ROOT / "data" / "images" / "shapes_test"
    images = [Path(args.image)] if args.image else sorted(shipped.glob("*.png"))
    if not images:
        print("skipping the ViT example: no test image in data/images/shapes_test/")
        return False
    if not images[0].is_file():
        raise FileNotFoundError(f"image: {images[0]} does not exist")
    image = Image.open(images[0]).convert("RGB")
    inputs = {k: v.to(loaded.device) for k, v in loaded.processor(images=image, return_tensors="pt").items()}
    with torch.no_grad():
        logits = loaded.model(**inputs).logits[0]
    predicted = int(logits.argmax())
    result = explain(loaded.model, inputs, class_logit(predicted))
    maps = vit_patch_maps(result, loaded.model.config, inputs["pixel_values"].shape[-2:], rollout)
    label = loaded.model.config.id2label.get(predicted, str(predicted))
    plain, chefer = maps["rollout"], maps["chefer"]  # (g_h, g_w) each
    shown = np.stack([plain / plain.max(), chefer / max(chefer.max(), 1e-12)])[None]  # (1, 2, g_h, g_w)
    fig = show_heatmaps(shown, titles=["rollout, [CLS] row", f"Chefer R − I for class {label!r}"],
                        xlabel="patch column", ylabel="patch row", vmin=0, vmax=1,
                        colorbar_label="fraction of the map's maximum",
                        suptitle=f"{loaded.name} on {images[0].name}: where the class evidence is "
                        f"({maps['note']})")
    out.save_figure(fig, "vit_class_relevance", "Tiny ViT: the [CLS] row of plain rollout and of the "
                    "class-specific gradient-weighted relevance, as patch grids (each divided by its "
                    f"maximum); {maps['note']}.")
    return True


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
        require_vision_transformer(args.vit_model)  # Swin, ConvNeXt, a text model: one line, before any work
    if args.causal_model is not None:
        require_kind(args.causal_model, "causal-lm")  # an encoder-decoder or an image model: one line

    from intermediate.attention_rollout import AttentionRollout

    rollout = AttentionRollout()
    _minilm_demo(out, args, rollout)
    _gpt2_demo(out, args, rollout)
    _vit_demo(out, args, rollout)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
