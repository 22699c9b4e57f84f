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
  edge patches (a test checks it), and the figure's caption gives the numbers. Its verdict per head is a
  rule stated in advance: *off the object* when the head's share there is under twice a flat map's, *on
  its edges* when each edge patch gets more than each inside patch, else *on the object*.
* Big ViTs put large attention on a few background patches that carry global information ("Vision
  Transformers Need Registers", Darcet et al. 2024): a bright spot in the sky is not the object.
* Attention is where information is *read*, not proof that it *mattered* (Jain & Wallace 2019); the
  gradient lessons ask that question.

This file holds what the lesson teaches: the maps, the pointing game and the measurements that the
captions quote. How the figures are laid out and the captions worded is in ``attnviz/vit_figures.py``.

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

from pathlib import Path

import numpy as np

from attnviz import DATA_DIR, kinds, vit_figures
from attnviz.cli import lesson_parser, run_lesson
from attnviz.models import load_model
from attnviz.normalize import output_row
from attnviz.outputs import LessonOutputs, save_png
from attnviz.training.shapes import load_test_set
from attnviz.validate import check_attention, check_index
from attnviz.views import pointing_scores_figure
from intermediate.attention_rollout import AttentionRollout

TEST_SET = DATA_DIR / "images" / "shapes_test"  # the tiny ViT's test images, labels and target masks


# ------------------------------------------------------------------------ from attention to a grid
def cls_patch_maps(attention, grid: tuple[int, int], n_prefix: int = 1) -> np.ndarray:
    """The ``[CLS]`` row of every layer and head, reshaped onto the patch grid.

    ``attention`` is ``(L, H, N, N)`` (or ``(H, N, N)``) with ``N = n_prefix + g_h · g_w``. Returns
    ``(L, H, g_h, g_w)`` (or ``(H, g_h, g_w)``): entry ``[.., i, j]`` is the weight ``[CLS]`` puts on the
    patch in row ``i``, column ``j`` (the patches are numbered row by row, as the model cuts them).
    """
    arr = check_attention(attention, "HQK|LHQK", name="attention", square=True)
    g_h, g_w = kinds.check_grid(grid, n_prefix)
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
    patches — but it must be finite and non-negative (:func:`attnviz.kinds.check_maps`).
    """
    maps = kinds.check_maps(maps)
    kinds.check_object_masks(object_masks, len(maps))
    on_object = kinds.patch_cover(object_masks, maps.shape[1:]) > 0  # (n, g_h, g_w): patches on the object
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
    maps = kinds.check_maps(maps)
    masks = np.asarray(object_mask)[None]  # (S_h, S_w) -> (1, S_h, S_w)
    cover = kinds.patch_cover(masks, maps.shape[1:], name="object_mask")[0]  # (g_h, g_w): share on the object
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


# ------------------------------------------------------------------------------- the visualizer
class ViTAttentionVisualizer:
    """CLS-to-patch attention of a ``transformers`` ViT over the image: per head, per layer, rolled out.

    ``model`` (in every method) is a ``ViTForImageClassification`` / ``ViTModel`` — or any model with the
    same patch-embedding layout — or ``None`` for the course's tiny ViT. ``processor`` is its image
    processor; without one, the image is resized to ``config.image_size`` and normalised with mean and
    standard deviation 0.5 (ViT's convention).
    """

    def __init__(self, model=None, processor=None, device=None, cmap: str = vit_figures.OVERLAY_CMAP):
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
        actual = kinds.config_patch_size(model.config)
        if patch_size is None:
            return actual
        if isinstance(patch_size, bool) or not isinstance(patch_size, int | np.integer):
            raise TypeError("patch_size: expected an integer number of pixels, got "
                            f"{type(patch_size).__name__}")
        if patch_size != actual:
            size = kinds.image_size(model.config)
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
        return kinds.pixel_values(image, model.config, self._processor(model, processor))

    def _grid(self, model, patch_size, processor=None) -> tuple[int, int]:
        """The ``(g_h, g_w)`` patch grid of ``model``, after checking ``patch_size`` against its config."""
        size = kinds.input_size(model.config, self._processor(model, processor))
        patch = self.check_patch_size(model, patch_size)
        return size // patch, size // patch

    def attend(self, model=None, image=None, patch_size=None, processor=None) -> vit_figures.PatchAttention:
        """Run one image through the model; every attention weight, with the grid it lives on."""
        model = self._model(model)
        grid = self._grid(model, patch_size, processor)
        if image is None:  # the first shipped test image, when the course's data is there
            image = TEST_SET / "000.png"
            if not image.exists():
                raise ValueError("image: got None and no shipped test image; pass a PIL image, a path or "
                                 "pixel values")
        pixels = self.preprocess(image, model, processor)  # (1, 3, S, S)
        attention, logits = kinds.vision_attention(model, pixels)  # (L, 1, H, N, N), (1, classes) or None
        mean, std = kinds.image_normalisation(self._processor(model, processor))
        shown = pixels[0].permute(1, 2, 0).float().numpy() * std + mean  # (3, S, S) -> (S, S, 3) in [0, 1]
        special = kinds.vision_special_tokens(model.config, attention.shape[-1], grid)  # [CLS] first
        patch = pixels.shape[-1] // grid[0]
        return vit_figures.PatchAttention(attention[:, 0], np.clip(shown, 0, 1), grid, patch, len(special),
                              None if logits is None else logits[0], tuple(special))

    def attend_batch(self, model=None, images=(), patch_size=None, processor=None, batch_size: int = 64):
        """Many images at once: ``(attention (L, B, H, N, N), logits (B, C) or None, grid, n_prefix)``."""
        import torch

        model = self._model(model)
        grid = self._grid(model, patch_size, processor)
        if len(images) == 0:
            raise ValueError("images: got none; expected at least one image")
        pixels = torch.cat([self.preprocess(image, model, processor) for image in images])  # (B, 3, S, S)
        attention, logits = kinds.vision_attention(model, pixels, batch_size)  # (L, B, H, N, N), (B, C)|None
        special = kinds.vision_special_tokens(model.config, attention.shape[-1], grid)  # [CLS] first
        return attention, logits, grid, len(special)

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
        kinds.check_object_masks(object_masks, len(images))  # before the forward pass, not after it
        attention, logits, grid, n_prefix = self.attend_batch(model, images, patch_size, processor)
        size = grid[0] * self.check_patch_size(self._model(model), patch_size)
        object_masks = kinds.resize_masks(object_masks, size, self._processor(self._model(model), processor))
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
        panels = vit_figures.patch_attention_panels(maps, rolled, layer, head, n_layers)  # 3 titled panels
        fig = self._overlay_figure(result, panels, class_names=class_names,
                                   object_mask=self._input_mask(object_mask, result, model, processor))
        if save_path is not None:
            save_png(fig, save_path, dpi=130)
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

    def _input_mask(self, object_mask, result: vit_figures.PatchAttention, model, processor):
        """``object_mask`` brought to the image the model saw (``(S, S)`` bool), or ``None``."""
        if object_mask is None:
            return None
        processor = self._processor(self._model(model), processor)
        return vit_figures.input_mask(object_mask, result.image.shape[0], processor)

    def _overlay_figure(self, result: vit_figures.PatchAttention, panels, **options):
        """``panels`` beside the image in this visualizer's colour map (``vit_figures.patch_overlay_figure``:
        ``shared_scale``, ``show_image``, ``class_names``, ``suptitle``, ``object_mask`` pass through)."""
        return vit_figures.patch_overlay_figure(result, panels, cmap=self.cmap, **options)


def randomised_copy(model, seed: int = 2024):
    """The same architecture with fresh random weights — the model-randomisation sanity check (Adebayo et
    al. 2018, "Sanity Checks for Saliency Maps"): a map that scores as well on it explains nothing."""
    import torch

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    copy = type(model)(model.config).eval().to(next(model.parameters()).device)
    torch.random.set_rng_state(state)
    return copy


def single_image_figures(viz, model, image, patch, layer_idx, head_idx, class_names, object_mask=None):
    """Demo 1's three figures with their captions: ``[(name, figure, caption)]``. Every measured sentence
    of a caption comes from :func:`target_shares` on the maps drawn (when ``object_mask`` is known)."""
    result = viz.attend(model, image, patch)
    layer = check_index(layer_idx, result.attention.shape[0], name="layer_idx")
    mask = viz._input_mask(object_mask, result, model, None)
    made = []
    fig = viz.visualize_patch_attention(model, image, patch_size=patch, head_idx=head_idx, layer_idx=layer,
                                        class_names=class_names, object_mask=object_mask)
    made.append(("patch_attention", fig, vit_figures.PATCH_ATTENTION_CAPTION))
    heads = cls_patch_maps(result.attention[layer], result.grid, result.n_prefix)  # (H, g_h, g_w)
    fig = viz.plot_head_grid(model, image, layer_idx=layer, patch_size=patch, class_names=class_names,
                             object_mask=object_mask)
    head_shares = None if mask is None else target_shares(heads, mask)
    made.append(("head_grid", fig, vit_figures.head_grid_caption(layer, head_shares)))
    n_layers = result.attention.shape[0]
    names = [f"layer {i} (mean of heads)" for i in range(n_layers)] + ["rollout"]
    depth = np.stack([cls_patch_maps(result.attention[i], result.grid, result.n_prefix).mean(0)
                      for i in range(n_layers)]  # (L, g_h, g_w): each layer's head-mean map
                     + [rollout_map(result.attention, result.grid, result.n_prefix)])  # (L + 1, g_h, g_w)
    fig = viz._overlay_figure(result, list(zip(depth, names)), class_names=class_names, object_mask=mask,
                              suptitle="Depth: the [CLS] map of each layer (mean of heads) and the rollout")
    depth_shares = None if mask is None else target_shares(depth, mask)
    made.append(("by_layer", fig, vit_figures.depth_caption(names, depth_shares)))
    return made


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
    vit_figures.write_pointing_csv(out.path("pointing_game.csv"), rows, game["chance"], len(images))
    out.register("pointing_game.csv", "The pointing-game scores as a table.")
    fig, caption = vit_figures.pointing_examples(data, game, class_names)
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
        kinds.require_vision_transformer(args.model)  # Swin, ConvNeXt, a text model: one line, before work
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
