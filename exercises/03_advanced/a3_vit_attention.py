"""Exercise A3: Vision Transformer attention on image classification.

A ViT classifies an image from its ``[CLS]`` token, so the ``[CLS]`` row of each attention matrix says
which patches it read. With the course's tiny ViT (``data/models/tiny-vit-shapes``: synthetic images
whose label depends on one object, shipped with the object's mask) you can check whether it looks at
the right place:

1. ``classify_with_attention``: run the model once; the predicted class and every attention weight;
2. ``cls_attention_grid``: the ``[CLS]`` row of every layer and head, back on the patch grid;
3. ``upsample_to_pixels``: one value per patch -> one per pixel, to draw over the image;
4. ``rollout_cls_map``: the same for attention rollout (use the lesson's ``AttentionRollout``);
5. ``pointing_game``: does each map's strongest patch fall on the object — and how often would chance?

Check your work with ``make check`` (or ``pytest tests/test_exercises.py --submission exercises -k a3``).

Background: ``03_advanced/vit_attention.py`` — read its docstring.
"""

import numpy as np
import torch

from intermediate.attention_rollout import AttentionRollout


def classify_with_attention(model, pixel_values: torch.Tensor) -> tuple[int, np.ndarray]:
    """The predicted class of one image and the model's attention weights.

    Args:
        model: a ``ViTForImageClassification`` loaded with ``attn_implementation="eager"``.
        pixel_values: ``(1, 3, S, S)``, already preprocessed.
    Returns:
        ``(predicted_class, attention)``: the index of the largest logit (a Python int) and a NumPy array
        ``(layers, heads, N, N)`` with ``N = 1 + (S / patch_size)²`` tokens ([CLS] first). Run the model
        once, under ``torch.no_grad()``, with ``output_attentions=True``.
    """
    raise NotImplementedError("classify_with_attention: your code here — see the docstring above")


def cls_attention_grid(attention: np.ndarray, grid_size: int, n_prefix: int = 1) -> np.ndarray:
    """The ``[CLS]`` token's attention to the patches, on the patch grid.

    Args:
        attention: ``(layers, heads, N, N)``, ``N = n_prefix + grid_size²``; rows are queries.
        grid_size: patches per side (image size / patch size).
        n_prefix: special tokens before the patches (1: just [CLS], which is token 0).
    Returns:
        ``(layers, heads, grid_size, grid_size)``: entry ``[l, h, i, j]`` is the weight the [CLS] *query*
        puts on the patch in row ``i``, column ``j`` (patches are numbered row by row). Raise
        ``ValueError`` naming ``grid_size`` when ``N`` does not match.
    """
    raise NotImplementedError("cls_attention_grid: your code here — see the docstring above")


def upsample_to_pixels(grid_map: np.ndarray, patch_size: int) -> np.ndarray:
    """``(g, g)`` -> ``(g·patch_size, g·patch_size)``: every patch's value repeated over its pixels
    (nearest neighbour — no smoothing, a patch has one value)."""
    raise NotImplementedError("upsample_to_pixels: your code here — see the docstring above")


def rollout_cls_map(attention: np.ndarray, grid_size: int, n_prefix: int = 1) -> np.ndarray:
    """The ``[CLS]`` row of the attention rollout (mean of heads, residual added, no discarding), on the
    patch grid: ``(grid_size, grid_size)``. Use ``AttentionRollout().compute_rollout`` from the lesson."""
    raise NotImplementedError("rollout_cls_map: your code here — see the docstring above")


def pointing_game(maps: np.ndarray, object_masks: np.ndarray) -> dict:
    """The pointing game on patch maps.

    Args:
        maps: ``(images, g, g)``: one patch map per image.
        object_masks: ``(images, S, S)`` booleans: the object's pixels (``S = g · patch_size``).
    Returns:
        ``{"hits": (images,) bool, "hit_rate": float, "chance": float}``: an image is a hit when the
        map's highest patch overlaps the object (any of the patch's pixels is in the mask); ``chance`` is
        the mean over images of the share of patches that overlap the object — the hit rate of a map
        that picks a patch at random.
    """
    raise NotImplementedError("pointing_game: your code here — see the docstring above")
