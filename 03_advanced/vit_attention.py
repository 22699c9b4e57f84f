"""Lesson 3.4 — Vision Transformer attention: where the [CLS] token looks in an image.

The idea
--------
A Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words") cuts an image of
``S × S`` pixels into ``P × P`` patches — a grid of ``g × g`` with ``g = S / P`` (224 / 16 = 14) — flattens
each patch into a token, and puts a learned ``[CLS]`` token in front: ``N = 1 + g²`` tokens. The
classifier reads only the ``[CLS]`` token's final state, so the row of ``[CLS]`` in each attention
matrix is the natural thing to look at::

    a_{l,h} = A[l, h, 0, 1:]            # (g²,)   what [CLS] takes from each patch, in layer l, head h
    M_{l,h} = reshape(a_{l,h}, (g, g))  # (g, g)  back onto the patch grid, row-major like the patches

and ``M`` drawn on the image's own coordinates (each cell covers its ``P × P`` patch), beside the image and
with the object outlined on it, shows where that head looked. Nearest-neighbour upsampling is the honest
choice: a patch has one weight, and bilinear smoothing would suggest detail finer than a patch that the
model never had. The map is drawn *opaque*: a half-transparent colour map blended over a photograph makes
colours that are on no colour bar (the blend of "0.2" over a bright pixel looks like "0.7" over a dark
one), so the reader could not read a weight off the bar.

One layer is not enough: in layer ``l`` the "patches" are already mixtures of patches. **Rollout**
(Abnar & Zuidema 2020; ``02_intermediate/attention_rollout.py``, imported here, not re-implemented)
multiplies the head-averaged, residual-corrected layers, ``R = Â_L ⋯ Â_1``, and its ``[CLS]`` row
``R[0, 1:]`` says how much of each input patch reaches the classifier through attention.

Is the map right? On the course's tiny ViT the answer can be measured: its images are synthetic
(shapes on a textured background) and the label depends on one object at a known place, shipped with
its mask. The **pointing game** (Zhang et al. 2018, "Top-down Neural Attention by Excitation
Backprop") counts a hit when the map's maximum falls on the object: here, when the highest-scoring
patch overlaps the object's mask. Compare the score with *chance* — the share of patches that overlap
the object, i.e. the score of a map that picks a patch at random — or a small object and a high score
say nothing. And compare it with the *same architecture with random weights* (the model-randomisation
check of Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): a bright, solid target stands out
in the patch embeddings even of an untrained network — on the course's test set the random network's
layer-0 map and its rollout hit the target far more often than chance (the lesson prints every map's rate,
and a test checks those two) —, so a map that
points at it only as often as the random network does shows the image, not what the classifier learned.
The example figure shows the first hits *and* the first misses in test-set order: a gallery of hits alone
would hide how a map fails.

Pitfalls
--------
* ``patch_size`` must be the model's: a map reshaped with the wrong grid is a scrambled picture that
  still looks like something. It is checked against ``model.config.patch_size``.
* Some ViTs have more than one special token (DeiT's distillation token ``[DIST]``, DINOv2's "register"
  tokens ``[REG0]`` …): the patches are the *last* ``g²`` tokens; the prefix count is ``N - g²``. The
  figures name the tokens left off the grid and say whose row they draw (``[CLS]``'s).
* A float image must be in [0, 1]; one in 0..255 (``np.asarray(img, dtype=float)``) is refused, not
  clipped — clipping turns the picture white and changes the prediction. Pass ``uint8`` or divide by 255.
* Masks, like images, must be at the model's input size: the shipped 64-pixel masks are resized
  (nearest neighbour) for a 224-pixel model before patches are scored.
* ``[CLS]`` can keep part of its attention on itself and the other special tokens: the map shows only the
  share that goes to patches, on a scale from 0 to the largest weight shown, as the colour bar says — not
  0–1 —, and each panel's title says how large that share is.
* "This head looks at clutter" is a claim about where the weight lies, so measure it: the share of a map
  on the patches the object touches (:func:`target_shares`), split into *edge* patches (partly object) and
  patches wholly *inside* it, against the share of the patches each region holds (what a flat map gives).
  On the tiny ViT's default image every head of the last layer puts most of its weight on the object's
  edge patches (a test checks it), and the figure's caption gives the numbers.
* Big ViTs put large attention on a few background patches that carry global information ("Vision
  Transformers Need Registers", Darcet et al. 2024): a bright spot in the sky is not the object.
* Attention is where information is *read*, not proof that it *mattered* (Jain & Wallace 2019); the
  gradient lessons ask that question.

Run it
------
    python 03_advanced/vit_attention.py                          # the tiny ViT: one test image, then the
                                                                  # pointing game on all 200
    python 03_advanced/vit_attention.py --image photo.jpg --model google/vit-base-patch16-224 --head 3

Usage from Python::

    from advanced.vit_attention import ViTAttentionVisualizer
    viz = ViTAttentionVisualizer()
    fig = viz.visualize_patch_attention(model, image, patch_size=16, head_idx=0, layer_idx=-1)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnviz import DATA_DIR
from attnviz.cli import lesson_parser, run_lesson
from attnviz.kinds import (
    check_grid,
    check_maps,
    check_object_masks,
    config_patch_size,
    image_normalisation,
    image_size,
    input_size,
    patch_cover,
    pixel_values,
    require_vision_transformer,
    resize_masks,
    vision_attention,
    vision_special_tokens,
)
from attnviz.models import load_model
from attnviz.normalize import output_row
from attnviz.outputs import LessonOutputs
from attnviz.training.shapes import load_test_set
from attnviz.validate import check_attention, check_index
from attnviz.views import overlay_figure, pointing_examples_figure, pointing_scores_figure
from intermediate.attention_rollout import AttentionRollout

TEST_SET = DATA_DIR / "images" / "shapes_test"  # the tiny ViT's test images, labels and target masks
OVERLAY_CMAP = "inferno"  # perceptually uniform; dark = little attention, so the image shows through
OVERLAY_ALPHA = 1.0  # opaque: a blend over the image makes colours the colour bar does not show
OUTLINE_COLOUR = "cyan"  # the object's outline over a map: a colour inferno never uses


@dataclass
class PatchAttention:
    """One image through a ViT: every attention weight and what is needed to put it back on the image."""

    attention: np.ndarray  # (L, H, N, N), N = n_prefix + grid[0] * grid[1]
    image: np.ndarray  # (S, S, 3) floats in [0, 1]: the image exactly as the model saw it
    grid: tuple[int, int]  # (g_h, g_w) patches
    patch_size: int
    n_prefix: int  # special tokens in front of the patches ([CLS], maybe a distillation token)
    logits: np.ndarray | None = None  # (num_labels,) for a classifier
    special_tokens: tuple[str, ...] = ("[CLS]",)  # the n_prefix tokens' names, [CLS] first

    def __post_init__(self):
        """Checked on construction: softmax attention, and as many tokens as special tokens + patches."""
        self.attention = check_attention(self.attention, "LHQK", name="attention", square=True)
        g_h, g_w = self.grid
        if self.attention.shape[-1] != self.n_prefix + g_h * g_w:
            raise ValueError(f"attention: {self.attention.shape[-1]} tokens do not match {self.n_prefix} "
                             f"special token(s) + a {g_h} × {g_w} patch grid = {self.n_prefix + g_h * g_w}")

    def token_note(self) -> str:
        """Which row is drawn and which tokens are not on the patch grid, for a figure's title."""
        others = ", ".join(self.special_tokens[1:])
        return "row drawn: [CLS]" + (f"; not on the patch grid: {others}" if others else "")

    @property
    def predicted(self) -> int | None:
        return None if self.logits is None else int(np.argmax(self.logits))


# ------------------------------------------------------------------------ from attention to a grid
def cls_patch_maps(attention, grid: tuple[int, int], n_prefix: int = 1) -> np.ndarray:
    """The ``[CLS]`` row of every layer and head, reshaped onto the patch grid.

    ``attention`` is ``(L, H, N, N)`` (or ``(H, N, N)``) with ``N = n_prefix + g_h · g_w``. Returns
    ``(L, H, g_h, g_w)`` (or ``(H, g_h, g_w)``): entry ``[.., i, j]`` is the weight ``[CLS]`` puts on the
    patch in row ``i``, column ``j`` (the patches are numbered row by row, as the model cuts them).
    """
    arr = check_attention(attention, "HQK|LHQK", name="attention", square=True)
    g_h, g_w = check_grid(grid, n_prefix)
    if arr.shape[-1] != n_prefix + g_h * g_w:
        raise ValueError(f"attention: {arr.shape[-1]} tokens do not match {n_prefix} special token(s) + a "
                         f"{g_h} × {g_w} patch grid = {n_prefix + g_h * g_w}; is the patch size right?")
    cls_row = output_row(arr, 0)[..., n_prefix:]  # (..., g_h · g_w): [CLS] (query 0) over the patch keys
    return cls_row.reshape(*arr.shape[:-2], g_h, g_w)  # (..., g_h, g_w)


def rollout_map(attention, grid: tuple[int, int], n_prefix: int = 1, *, head_fusion: str = "mean",
                discard_ratio: float = 0.0) -> np.ndarray:
    """The ``[CLS]`` row of the attention rollout (computed by the rollout lesson), on the patch grid.

    ``attention`` is ``(L, H, N, N)``, or ``(L, B, H, N, N)`` for a batch of images; returns ``(g_h, g_w)``
    (or ``(B, g_h, g_w)``): the share of each input patch in the ``[CLS]`` position at the top layer.
    """
    arr = check_attention(attention, "LHQK|LBHQK", name="attention", square=True)
    rolled = AttentionRollout().compute_rollout(arr, discard_ratio=discard_ratio, head_fusion=head_fusion,
                                                add_residual=True)  # (N, N), or (B, N, N) for a batch
    maps = cls_patch_maps(rolled.reshape(-1, *rolled.shape[-2:]), grid, n_prefix)  # (B or 1, g_h, g_w)
    return maps if arr.ndim == 5 else maps[0]


def pointing_hits(maps, object_masks) -> tuple[np.ndarray, np.ndarray]:
    """The pointing game on patch maps: ``(hits, chance)``, one entry per image.

    ``maps`` is ``(n, g_h, g_w)``; ``object_masks`` ``(n, S_h, S_w)`` pixel masks of the object (0/1, none
    empty). An image is a hit when the map's highest patch overlaps the object; its chance level is the
    share of patches that overlap the object (the expected hit rate of a patch picked at random). A map
    need not sum to 1 — only its strongest patch counts, and a ``[CLS]`` row keeps weight off the
    patches — but it must be finite and non-negative (:func:`check_maps`).
    """
    maps = check_maps(maps)
    check_object_masks(object_masks, len(maps))
    on_object = patch_cover(object_masks, maps.shape[1:]) > 0  # (n, g_h, g_w): patches that touch the object
    on_object = on_object.reshape(len(maps), -1)  # (n, g_h, g_w) -> (n, g_h · g_w), row-major
    best = maps.reshape(len(maps), -1).argmax(1)  # (n, g_h, g_w) -> (n,): the highest patch, row-major
    return on_object[np.arange(len(maps)), best], on_object.mean(1)


def target_shares(maps, object_mask) -> dict:
    """Where the weight of each map lies relative to one object: the test of "this head looks at X".

    ``maps`` is ``(n, g_h, g_w)`` (e.g. the heads of one layer), ``object_mask`` the ``(S_h, S_w)`` pixel mask
    of the image's object. A patch is *inside* when the object covers all its pixels, an *edge* patch when it
    covers some. Returns ``{"target", "edge", "inside": (n,)`` shares of each map's total on those patches,
    ``"edge_per_patch", "inside_per_patch": (n,)`` the same divided by the number of such patches (NaN when
    there is none), ``"n_edge", "n_inside", "n_patches"`` and ``"chance"``: the share of the patches that
    touch the object — what a flat map would put there.``}``
    """
    maps = check_maps(maps)
    cover = patch_cover(np.asarray(object_mask)[None], maps.shape[1:], name="object_mask")[0]  # (g_h, g_w)
    edge, inside = (cover > 0) & (cover < 1), cover == 1  # (g_h, g_w) each
    totals = maps.sum(axis=(1, 2))  # (n,)
    on_edge = maps[:, edge].sum(1) / totals  # (n, g_h, g_w)[:, mask] -> (n, patches) -> (n,)
    on_inside = maps[:, inside].sum(1) / totals
    n_edge, n_inside = int(edge.sum()), int(inside.sum())
    return {"target": on_edge + on_inside, "edge": on_edge, "inside": on_inside,
            "edge_per_patch": on_edge / n_edge if n_edge else np.full(len(maps), np.nan),
            "inside_per_patch": on_inside / n_inside if n_inside else np.full(len(maps), np.nan),
            "n_edge": n_edge, "n_inside": n_inside, "n_patches": int(cover.size),
            "chance": (n_edge + n_inside) / cover.size}


def head_verdicts(shares: dict) -> list[str]:
    """One phrase per map from :func:`target_shares`, decided by the numbers: ``"off the object"`` when its
    share on the object is under twice a flat map's, ``"on the object's edges"`` when each edge patch gets
    more than each inside patch, else ``"on the object"``."""
    verdicts = []
    for target, edge, inside in zip(shares["target"], shares["edge_per_patch"], shares["inside_per_patch"]):
        if target < 2 * shares["chance"]:
            verdicts.append("off the object")
        elif shares["n_inside"] and edge > inside:
            verdicts.append("on the object's edges")
        else:
            verdicts.append("on the object")
    return verdicts


def head_grid_caption(layer: int, shares: dict | None) -> str:
    """The head grid's caption, every number from :func:`target_shares` of the layer's heads."""
    text = f"Every head of layer {layer} on one shared scale, beside the image"
    if shares is None:
        return text + " (no object mask for this image: where the heads look is not measured)."
    percent = lambda values: ", ".join(f"head {h} {100 * v:.0f}%" for h, v in enumerate(values))  # noqa: E731
    n_target = shares["n_edge"] + shares["n_inside"]
    text += (f", the object outlined. Share of each head's patch weight on the {n_target} patches the object "
             f"touches ({100 * shares['chance']:.0f}% of the patches: what a flat map puts there): "
             f"{percent(shares['target'])}. Per patch, each of the {shares['n_edge']} edge patches (partly "
             f"object) gets {percent(shares['edge_per_patch'])}")
    if shares["n_inside"]:
        inside = "the 1 patch" if shares["n_inside"] == 1 else f"each of the {shares['n_inside']} patches"
        text += f"; {inside} wholly inside gets {percent(shares['inside_per_patch'])}"
        if shares["n_inside"] < 3:
            text += " (so few inside patches make edge-versus-inside one image's hint, not a rule)"
    groups: dict[str, list[int]] = {}
    for head, verdict in enumerate(head_verdicts(shares)):
        groups.setdefault(verdict, []).append(head)
    said = "; ".join(f"head{'s' if len(heads) > 1 else ''} {', '.join(map(str, heads))}: {verdict}"
                     for verdict, heads in groups.items())
    worst = int(np.argmin(shares["target"]))
    return text + (f". So — {said}; the most weight off the object is head {worst}'s, "
                   f"{100 * (1 - shares['target'][worst]):.0f}%.")


# ------------------------------------------------------------------------------- the visualizer
class ViTAttentionVisualizer:
    """CLS-to-patch attention of a ``transformers`` ViT over the image: per head, per layer, rolled out.

    ``model`` (in every method) is a ``ViTForImageClassification`` / ``ViTModel`` — or any model with the
    same patch-embedding layout — or ``None`` for the course's tiny ViT. ``processor`` is its image
    processor; without one, the image is resized to ``config.image_size`` and normalised with mean and
    standard deviation 0.5 (ViT's convention).
    """

    def __init__(self, model=None, processor=None, device=None, cmap: str = OVERLAY_CMAP):
        self.model, self.processor, self.device, self.cmap = model, processor, device, cmap

    # ------------------------------------------------------------------------------------ inputs
    def _model(self, model):
        """The model to use: the argument, the constructor's, or the tiny ViT (loaded once)."""
        if model is not None:
            return model
        if self.model is None:
            loaded = load_model(None, kind="vit", device=self.device)
            self.model, self.processor = loaded.model, loaded.processor
        return self.model

    @staticmethod
    def check_patch_size(model, patch_size) -> int:
        """``patch_size`` must be the model's (``None`` means: take it from the config)."""
        actual = config_patch_size(model.config)
        if patch_size is None:
            return actual
        if isinstance(patch_size, bool) or not isinstance(patch_size, int | np.integer):
            raise TypeError("patch_size: expected an integer number of pixels, got "
                            f"{type(patch_size).__name__}")
        if patch_size != actual:
            size = image_size(model.config)
            raise ValueError(f"patch_size: got {patch_size}, but the model's config has patch_size={actual} "
                             f"(a {size // actual} × {size // actual} grid on {size}-pixel images); pass "
                             f"patch_size={actual} or None")
        return int(patch_size)

    def _processor(self, model, processor):
        """The processor to use: the argument, or the constructor's when ``model`` is the constructor's."""
        return processor if processor is not None else (self.processor if model is self.model else None)

    def preprocess(self, image, model, processor=None):
        """``image`` (a PIL image, a path, an ``(H, W, 3)`` array, or ready ``pixel_values``) -> a
        ``(1, 3, S, S)`` tensor of pixel values, checked against the model's image size."""
        return pixel_values(image, model.config, self._processor(model, processor))

    def _grid(self, model, patch_size, processor=None) -> tuple[int, int]:
        """The ``(g_h, g_w)`` patch grid of ``model``, after checking ``patch_size`` against its config."""
        size = input_size(model.config, self._processor(model, processor))
        patch = self.check_patch_size(model, patch_size)
        return size // patch, size // patch

    def attend(self, model=None, image=None, patch_size=None, processor=None) -> PatchAttention:
        """Run one image through the model; every attention weight, with the grid it lives on."""
        model = self._model(model)
        grid = self._grid(model, patch_size, processor)
        if image is None:  # the first shipped test image, when the course's data is there
            image = TEST_SET / "000.png"
            if not image.exists():
                raise ValueError("image: got None and no shipped test image; pass a PIL image, a path or "
                                 "pixel values")
        pixels = self.preprocess(image, model, processor)  # (1, 3, S, S)
        attention, logits = vision_attention(model, pixels)  # (L, 1, H, N, N), (1, classes) or None
        mean, std = image_normalisation(self._processor(model, processor))
        shown = pixels[0].permute(1, 2, 0).float().numpy() * std + mean  # (3, S, S) -> (S, S, 3) in [0, 1]
        special = vision_special_tokens(model.config, attention.shape[-1], grid)  # [CLS] first
        patch = pixels.shape[-1] // grid[0]
        return PatchAttention(attention[:, 0], np.clip(shown, 0, 1), grid, patch, len(special),
                              None if logits is None else logits[0], tuple(special))

    def attend_batch(self, model=None, images=(), patch_size=None, processor=None, batch_size: int = 64):
        """Many images at once: ``(attention (L, B, H, N, N), logits (B, C) or None, grid, n_prefix)``."""
        import torch

        model = self._model(model)
        grid = self._grid(model, patch_size, processor)
        if len(images) == 0:
            raise ValueError("images: got none; expected at least one image")
        pixels = torch.cat([self.preprocess(image, model, processor) for image in images])  # (B, 3, S, S)
        attention, logits = vision_attention(model, pixels, batch_size)  # (L, B, H, N, N), (B, C) or None
        return attention, logits, grid, len(vision_special_tokens(model.config, attention.shape[-1], grid))

    def pointing_game(self, model=None, images=(), object_masks=(), patch_size=None,
                      processor=None) -> dict:
        """The pointing game of every map this lesson draws, on a labelled test set.

        ``images`` are PIL images (or paths), ``object_masks`` their object masks; masks of another size
        than the model's input ``S × S`` are resized to it, as the images are. Returns ``{"methods":
        {name: hit rate}, "hits": {name: (B,) bool}, "chance": float, "per_image_chance": (B,),
        "logits": (B, C) or None}`` for ``"layer l (mean of heads)"`` of every
        layer, ``"last layer, best head"`` and ``"rollout"``.
        """
        if len(images) == 0:
            raise ValueError("images: got none; expected at least one image")
        check_object_masks(object_masks, len(images))  # before the forward pass, not after it
        attention, logits, grid, n_prefix = self.attend_batch(model, images, patch_size, processor)
        size = grid[0] * self.check_patch_size(self._model(model), patch_size)
        object_masks = resize_masks(object_masks, size, self._processor(self._model(model), processor))
        n_layers = attention.shape[0]
        maps = cls_patch_maps(attention.mean(2), grid, n_prefix)  # (L, B, g_h, g_w): head-mean map per layer
        rollout_maps = rollout_map(attention, grid, n_prefix)  # (B, g_h, g_w)
        hits, chance = {}, None
        for layer in range(n_layers):
            hits[f"layer {layer} (mean of heads)"], chance = pointing_hits(maps[layer], object_masks)
        last = cls_patch_maps(attention[-1], grid, n_prefix)  # (B, H, g_h, g_w): every head of the last layer
        per_head = [pointing_hits(last[:, h], object_masks)[0] for h in range(attention.shape[2])]
        best = int(np.argmax([h.mean() for h in per_head]))
        hits[f"last layer, best head ({best})"] = per_head[best]
        hits["rollout"], _ = pointing_hits(rollout_maps, object_masks)
        return {"methods": {name: float(h.mean()) for name, h in hits.items()}, "hits": hits,
                "chance": float(chance.mean()), "per_image_chance": chance, "logits": logits,
                "rollout_maps": rollout_maps}

    # ------------------------------------------------------------------------------------ figures
    def visualize_patch_attention(self, model=None, image=None, patch_size: int | None = None,
                                  head_idx: int = 0, layer_idx: int = -1, processor=None, save_path=None,
                                  class_names=None, object_mask=None):
        """The image; the CLS-to-patch attention of one head, of the mean over the layer's heads, and the
        rollout of all layers, each on the image's coordinates. Returns the matplotlib ``Figure``.

        ``patch_size`` is checked against the model's config (``None`` takes it from there);
        ``layer_idx`` and ``head_idx`` count from 0, negative from the end. Each panel's title says the
        share of ``[CLS]``'s attention that went to patches (the rest stayed on the special tokens).
        ``object_mask`` (a pixel mask of the object, any square size) is outlined on every panel.
        """
        result = self.attend(model, image, patch_size, processor)
        n_layers, n_heads = result.attention.shape[:2]
        layer = check_index(layer_idx, n_layers, name="layer_idx")
        head = check_index(head_idx, n_heads, name="head_idx")
        maps = cls_patch_maps(result.attention[layer], result.grid, result.n_prefix)  # (H, g_h, g_w)
        rolled = rollout_map(result.attention, result.grid, result.n_prefix)  # (g_h, g_w)
        on_patches = "of [CLS]'s attention on patches"
        panels = [(maps[head], f"layer {layer}, head {head}\n{100 * maps[head].sum():.0f}% {on_patches}"),
                  (maps.mean(0), f"layer {layer}, mean of {n_heads} heads\n{100 * maps.mean(0).sum():.0f}% "
                                 f"{on_patches}"),
                  (rolled, f"rollout of {n_layers} layers\n{100 * rolled.sum():.0f}% of the rollout row on "
                           "patches")]
        fig = self._overlay_figure(result, panels, class_names=class_names,
                                   object_mask=self._input_mask(object_mask, result, model, processor))
        if save_path is not None:
            fig.savefig(save_path, dpi=130, bbox_inches="tight")
        return fig

    def plot_head_grid(self, model=None, image=None, layer_idx: int = -1, patch_size: int | None = None,
                       processor=None, class_names=None, object_mask=None):
        """Every head of one layer beside the image, on one shared colour scale, ``object_mask`` (if given)
        outlined. Returns the ``Figure``; :func:`target_shares` measures what it shows."""
        result = self.attend(model, image, patch_size, processor)
        layer = check_index(layer_idx, result.attention.shape[0], name="layer_idx")
        maps = cls_patch_maps(result.attention[layer], result.grid, result.n_prefix)  # (H, g_h, g_w)
        panels = [(m, f"head {h}") for h, m in enumerate(maps)]
        return self._overlay_figure(result, panels, shared_scale=True, class_names=class_names,
                                    object_mask=self._input_mask(object_mask, result, model, processor),
                                    suptitle=f"Layer {layer}: where [CLS] looks, head by head "
                                             "(one shared scale)")

    def _input_mask(self, object_mask, result: PatchAttention, model, processor):
        """``object_mask`` brought to the image the model saw (``(S, S)`` bool), or ``None``."""
        if object_mask is None:
            return None
        size = result.image.shape[0]
        return resize_masks(np.asarray(object_mask)[None], size, self._processor(self._model(model),
                                                                                   processor))[0]

    def _overlay_figure(self, result: PatchAttention, panels, *, shared_scale: bool = False,
                        show_image: bool = True, class_names=None, suptitle: str | None = None,
                        object_mask=None):
        """``panels`` (``(map (g_h, g_w), title)`` each) beside the image, titled with the prediction;
        ``object_mask`` ``(S, S)`` outlined on the image and on every map."""
        label = ""
        if class_names is not None and result.logits is not None and len(class_names) != len(result.logits):
            raise ValueError(f"class_names: got {len(class_names)} names for a model with "
                             f"{len(result.logits)} classes; expected one name per class")
        if result.predicted is not None:
            name = class_names[result.predicted] if class_names else f"class {result.predicted}"
            label = f" — predicted: {name}"
        outline = "" if object_mask is None else f"; object outlined in {OUTLINE_COLOUR}"
        title = (suptitle or "Where the [CLS] token looks (weights on patches; colour scale 0 to each "
                 "map's maximum)") + label + f"\n{result.token_note()}{outline}"
        fig = overlay_figure(result.image, panels, grid=result.grid, patch_size=result.patch_size,
                             cmap=self.cmap, alpha=OVERLAY_ALPHA, shared_scale=shared_scale,
                             show_image=show_image, title=title, scale_label=_scale_label)
        if object_mask is not None:
            for ax in fig.axes:
                if ax.images:  # the image and every map (colour bars hold no image)
                    outline_object(ax, object_mask)
        return fig


def outline_object(ax, object_mask) -> None:
    """Draw the outline of a pixel mask ``(S, S)`` on ``ax``, in image coordinates (pixel centres at +0.5)."""
    centres = np.arange(object_mask.shape[0]) + 0.5
    ax.contour(centres, centres, np.asarray(object_mask, dtype=float), levels=[0.5], colors=OUTLINE_COLOUR,
               linewidths=1.2)


def _scale_label(panel_title: str) -> str:
    return "rollout share" if panel_title.startswith("rollout") else "CLS → patch weight"


def randomised_copy(model, seed: int = 2024):
    """The same architecture with fresh random weights — the model-randomisation sanity check (Adebayo et
    al. 2018, "Sanity Checks for Saliency Maps"): a map that scores as well on it explains nothing."""
    import torch

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    copy = type(model)(model.config).eval().to(next(model.parameters()).device)
    torch.random.set_rng_state(state)
    return copy


def depth_caption(names: list[str], shares: dict | None) -> str:
    """The by-layer figure's caption: each map's share on the object (from :func:`target_shares`)."""
    text = "How the [CLS] map changes with depth; each panel on its own 0-to-max scale"
    if shares is None:
        return text + "."
    listed = ", ".join(f"{name} {100 * share:.0f}%" for name, share in zip(names, shares["target"]))
    return text + (f". Share of each map on the patches the object touches (a flat map: "
                   f"{100 * shares['chance']:.0f}%): {listed}.")


def single_image_figures(viz, model, image, patch, layer_idx, head_idx, class_names, object_mask=None):
    """Demo 1's three figures with their captions: ``[(name, figure, caption)]``. Every measured sentence
    of a caption comes from :func:`target_shares` on the maps drawn (when ``object_mask`` is known)."""
    result = viz.attend(model, image, patch)
    layer = check_index(layer_idx, result.attention.shape[0], name="layer_idx")
    mask = viz._input_mask(object_mask, result, model, None)
    made = []
    fig = viz.visualize_patch_attention(model, image, patch_size=patch, head_idx=head_idx, layer_idx=layer,
                                        class_names=class_names, object_mask=object_mask)
    made.append(("patch_attention", fig, "The [CLS] token's attention to each patch, beside the image — one "
                 "head, the mean of the layer's heads, and the rollout of all layers; each title gives the "
                 "share of [CLS]'s attention that the map holds."))
    heads = cls_patch_maps(result.attention[layer], result.grid, result.n_prefix)  # (H, g_h, g_w)
    fig = viz.plot_head_grid(model, image, layer_idx=layer, patch_size=patch, class_names=class_names,
                             object_mask=object_mask)
    head_shares = None if mask is None else target_shares(heads, mask)
    made.append(("head_grid", fig, head_grid_caption(layer, head_shares)))
    n_layers = result.attention.shape[0]
    names = [f"layer {i} (mean of heads)" for i in range(n_layers)] + ["rollout"]
    depth = np.stack([cls_patch_maps(result.attention[i], result.grid, result.n_prefix).mean(0)
                      for i in range(n_layers)]  # (L, g_h, g_w): each layer's head-mean map
                     + [rollout_map(result.attention, result.grid, result.n_prefix)])  # (L + 1, g_h, g_w)
    fig = viz._overlay_figure(result, list(zip(depth, names)), class_names=class_names, object_mask=mask,
                              suptitle="Depth: the [CLS] map of each layer (mean of heads) and the rollout")
    made.append(("by_layer", fig, depth_caption(names, None if mask is None else target_shares(depth, mask))))
    return made


def first_hits_and_misses(hits, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first ``k`` hits and the first ``k`` misses, in data-set order: examples chosen by a
    rule stated in advance, not by how good they look."""
    hits = np.asarray(hits)
    if hits.ndim != 1 or hits.dtype != bool:
        raise ValueError(f"hits: expected a 1-d bool array, got shape {hits.shape} and dtype {hits.dtype}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k: expected a positive integer, got {k!r}")
    return np.flatnonzero(hits)[:k], np.flatnonzero(~hits)[:k]


def pointing_examples(data, game: dict, class_names, k: int = 4):
    """The pointing-game examples figure and its caption: the first ``k`` hits and the first ``k`` misses of
    the rollout, in test-set order, each titled with its test-set index, its class and the prediction."""
    from attnviz.training.shapes import CLASSES

    hits = np.asarray(game["hits"]["rollout"])
    shown_hits, shown_misses = first_hits_and_misses(hits, k)
    show = np.concatenate([shown_hits, shown_misses])  # hits first, then misses
    logits = game["logits"]
    predicted = ["" if logits is None else f"\n(predicted {class_names[int(logits[i].argmax())]})"
                 for i in show]
    titles = [f"#{i}: {CLASSES[data.labels[i]]}{p}" for i, p in zip(show, predicted)]
    fig = pointing_examples_figure(data.images[show], data.masks[show], game["rollout_maps"][show],
                                   hits[show], titles, cmap=OVERLAY_CMAP, alpha=OVERLAY_ALPHA)
    for ax, i in zip(fig.axes[len(show):], show):  # the bottom row: the maps; outline the object there too
        outline_object(ax, data.masks[i])
    n_miss = int((~hits).sum())
    if n_miss == 0:
        misses = "no misses (there are none to show)"
    elif n_miss <= k:
        misses = f"all {n_miss} of its misses"
    else:
        misses = f"the first {len(shown_misses)} of its {n_miss} misses"
    caption = (f"The rollout's first {len(shown_hits)} hits and {misses} among {len(hits)} test images, in "
               f"test-set order (chosen by that rule, not by looks): the target outlined, the rollout beside "
               "it with its strongest patch boxed; hit when the box touches the target.")
    return fig, caption


def _single_image_demo(viz, model, image, patch, args, class_names, out, name, object_mask=None) -> None:
    """Demo 1: one image — a head, the layer's head mean and the rollout; every head; every layer."""
    for file, fig, caption in single_image_figures(viz, model, image, patch, args.layer, args.head,
                                                   class_names, object_mask):
        out.save_figure(fig, file, f"{name}: {caption}")


def _pointing_game_demo(viz, loaded, data, patch, class_names, out) -> None:
    """Demo 2: the pointing game on a labelled test set, against chance and against random weights."""
    from PIL import Image

    from attnviz.training.shapes import CLASSES

    model = loaded.model
    images = [Image.fromarray(a) for a in data.images]  # (S, S, 3) uint8 each
    game = viz.pointing_game(model, images, data.masks, patch_size=patch)
    baseline = viz.pointing_game(randomised_copy(model), images, data.masks, patch_size=patch,
                                 processor=loaded.processor)
    same_task = game["logits"] is not None and class_names == list(CLASSES)  # the shapes task's labels?
    predictions = game["logits"].argmax(1) if game["logits"] is not None else None
    accuracy = (f"classification accuracy {100 * float((predictions == data.labels).mean()):.0f}%"
                if same_task else "the model's labels are not the shapes task's: no accuracy")
    print(f"{len(images)} test images, {accuracy}; pointing game (chance {100 * game['chance']:.1f}%), "
          "trained / random weights:")
    rows = [(name, rate, other) for (name, rate), other in zip(game["methods"].items(),
                                                                baseline["methods"].values())]
    for name, rate, other in rows:
        print(f"  {name:32s} {100 * rate:5.1f}%   {100 * other:5.1f}%")
    fig = pointing_scores_figure(game, baseline, len(images))
    out.save_figure(fig, "pointing_game", f"Pointing game on {len(images)} test images ({accuracy}): how "
                    "often each map's strongest patch touches the target, for the trained model and for the "
                    "same architecture with random weights, against the chance of a random patch.")
    with open(out.path("pointing_game.csv"), "w", encoding="utf-8") as f:
        f.write("method,hit_rate,hit_rate_random_weights,chance,images\n")
        for name, rate, other in rows:
            f.write(f'"{name}",{rate:.4f},{other:.4f},{game["chance"]:.4f},{len(images)}\n')
    out.register("pointing_game.csv", "The pointing-game scores as a table.")
    fig, caption = pointing_examples(data, game, class_names)
    out.save_figure(fig, "pointing_examples", caption)


def main(argv=None):
    parser = lesson_parser(__doc__, model_kind="vit", image="", layer=-1, head=0)
    parser.add_argument("--patch-size", type=int, default=None,
                        help="must equal the model's config (default: read from it)")
    parser.add_argument("--test-set", default=str(TEST_SET),
                        help="folder with NNN.png, labels.csv and masks.npz for the pointing game "
                             "(default: the shipped one)")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)
    if args.model is not None:
        require_vision_transformer(args.model)  # Swin, ConvNeXt, a text model: one line, before any work
    loaded = load_model(args.model, kind="vit", device=args.device)
    viz = ViTAttentionVisualizer(loaded.model, loaded.processor)
    model = loaded.model
    class_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    test_folder = Path(args.test_set)
    paths, data = load_test_set(test_folder) if (test_folder / "labels.csv").exists() else ([], None)
    image = args.image or (paths[0] if paths else None)
    if image is None:
        raise FileNotFoundError(f"--image: none given and no test set in {test_folder}")
    patch = viz.check_patch_size(model, args.patch_size)

    object_mask = data.masks[0] if data is not None and not args.image else None  # the default image's object
    _single_image_demo(viz, model, image, patch, args, class_names, out, loaded.name, object_mask)
    if data is None:
        print(f"no test set in {test_folder}: skipping the pointing game")
        return
    _pointing_game_demo(viz, loaded, data, patch, class_names, out)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))
