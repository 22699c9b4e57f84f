"""Cases of exercise A3 — Vision Transformer attention on image classification."""

from functools import cache

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake, Property
from attnviz.grading.fixtures import error_outcome, random_attention


# ----------------------------------------------------------------------------------------- inputs
@cache
def _model():
    """A small ViT classifier, built deterministically (seeded) so every machine gets the same weights."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(1234)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=64, num_labels=3, attn_implementation="eager")
    model = ViTForImageClassification(config).eval()
    torch.random.set_rng_state(generator_state)  # leave the student's random state as it was
    return model


def _pixels():
    import torch

    rng = np.random.default_rng(31)
    return torch.from_numpy(rng.normal(size=(1, 3, 32, 32)).astype(np.float32))  # (1, 3, S, S)


# ------------------------------------------------------------------------------ classify_with_attention
def _run_classify(mod):
    predicted, attention = mod.classify_with_attention(_model(), _pixels())
    return {"predicted": str(predicted), "predicted_type": type(predicted).__name__,
            "attention": np.asarray(attention, dtype=float)}


def _rows_are_distributions(out):
    arr = np.asarray(out.get("attention"), dtype=float)
    if arr.ndim != 4:
        return f"attention: expected 4 dimensions (layers, heads, N, N), got shape {arr.shape}"
    worst = float(np.abs(arr.sum(-1) - 1).max())
    return None if worst < 1e-4 else f"attention: rows should sum to 1 over the keys, one is off by {worst:.3g}"


# ---------------------------------------------------------------------------------- cls_attention_grid
def _grid_inputs():
    return random_attention(41, (2, 3, 17, 17)), random_attention(42, (1, 2, 18, 18))  # 4 × 4 grid, +1 or +2 prefix


def _run_grid(mod):
    plain, two_prefix = _grid_inputs()
    return {"grid": mod.cls_attention_grid(plain, 4), "two_prefix": mod.cls_attention_grid(two_prefix, 4, n_prefix=2),
            "bad_grid": error_outcome(lambda: mod.cls_attention_grid(plain, 5), "grid_size")}


def _column_instead_of_row(sol):
    plain, two_prefix = _grid_inputs()
    return {**_run_grid(sol), "grid": plain[:, :, 1:, 0].reshape(2, 3, 4, 4),
            "two_prefix": two_prefix[:, :, 2:, 0].reshape(1, 2, 4, 4)}


def _column_major(sol):
    plain, two_prefix = _grid_inputs()
    return {**_run_grid(sol), "grid": plain[:, :, 0, 1:].reshape(2, 3, 4, 4).swapaxes(-1, -2),
            "two_prefix": two_prefix[:, :, 0, 2:].reshape(1, 2, 4, 4).swapaxes(-1, -2)}


# ---------------------------------------------------------------------------------- upsample_to_pixels
def _run_upsample(mod):
    grid = np.arange(6, dtype=float).reshape(2, 3) / 10  # not square on purpose: rows and columns differ
    return {"pixels": mod.upsample_to_pixels(grid, 4)}


def _tiled(sol):
    return {"pixels": np.tile(np.arange(6, dtype=float).reshape(2, 3) / 10, (4, 4))}


# ------------------------------------------------------------------------------------- rollout_cls_map
def _rollout_input():
    return random_attention(43, (3, 2, 10, 10))  # (L, H, N, N): [CLS] + a 3 × 3 grid


def _run_rollout(mod):
    return {"map": mod.rollout_cls_map(_rollout_input(), 3)}


def _last_layer_only(sol):
    attention = _rollout_input()
    return {"map": sol.rollout_cls_map(attention[-1:], 3)}


def _rollout_column(sol):
    from intermediate.attention_rollout import AttentionRollout

    rolled = AttentionRollout().compute_rollout(_rollout_input())
    return {"map": rolled[1:, 0].reshape(3, 3)}


# -------------------------------------------------------------------------------------- pointing_game
def _pointing_inputs():
    rng = np.random.default_rng(44)
    maps = rng.random((12, 4, 4))  # (images, g, g)
    masks = np.zeros((12, 16, 16), dtype=bool)  # 4-pixel patches
    for i in range(12):
        top, left, size = rng.integers(0, 11), rng.integers(0, 11), rng.integers(2, 6)
        masks[i, top:top + size, left:left + size] = True
        if i % 2 == 0:  # half the maps point at the object's first pixel
            maps[i, top // 4, left // 4] = 2.0
    return maps, masks


def _run_pointing(mod):
    maps, masks = _pointing_inputs()
    result = mod.pointing_game(maps, masks)
    return {"hits": np.asarray(result["hits"], dtype=float), "hit_rate": np.asarray(result["hit_rate"], dtype=float),
            "chance": np.asarray(result["chance"], dtype=float)}


def _transposed_argmax(sol):
    maps, masks = _pointing_inputs()
    result = sol.pointing_game(maps.swapaxes(-1, -2), masks)
    return {"hits": result["hits"].astype(float), "hit_rate": np.asarray(result["hit_rate"]),
            "chance": np.asarray(result["chance"])}


def _pixel_chance(sol):
    out = _run_pointing(sol)
    out["chance"] = np.asarray(_pointing_inputs()[1].mean())
    return out


EXERCISE = Exercise(
    id="a3_vit_attention",
    path="03_advanced/a3_vit_attention.py",
    title="A3 — ViT attention on image classification",
    cases=[
        Case(
            name="classify_with_attention",
            run=_run_classify,
            points=2,
            checks=[Property(_rows_are_distributions, "Return outputs.attentions stacked, without the batch axis."),
                    Close("attention", atol=1e-5, hint="torch.stack(outputs.attentions)[:, 0]: (layers, heads, N, N)."),
                    Equal("predicted", "The predicted class is the argmax of outputs.logits[0]."),
                    Equal("predicted_type", "Return the class as a Python int: int(logits.argmax()).")],
        ),
        Case(
            name="cls_attention_grid",
            run=_run_grid,
            points=3,
            checks=[Close("grid", atol=1e-12, hint="Take the [CLS] query's row, attention[:, :, 0, n_prefix:], and "
                          "reshape it row by row to (grid_size, grid_size)."),
                    Close("two_prefix", atol=1e-12, hint="With n_prefix special tokens the patches start at "
                          "position n_prefix."),
                    Equal("bad_grid", "Raise ValueError naming grid_size when the token count does not match.")],
            mistakes=[Mistake("column", _column_instead_of_row,
                              "You took the [CLS] column (what the patches take from [CLS]); the map is the [CLS] "
                              "row: attention[:, :, 0, 1:]."),
                      Mistake("column_major", _column_major,
                              "Your grid is transposed: patches are numbered row by row, so reshape in C order "
                              "(no order='F', no transpose).")],
        ),
        Case(
            name="upsample_to_pixels",
            run=_run_upsample,
            points=1,
            checks=[Close("pixels", atol=1e-12, hint="Repeat every value patch_size times along both axes "
                          "(np.repeat twice, or np.kron with a block of ones).")],
            mistakes=[Mistake("tiled", _tiled, "np.tile repeats the whole grid side by side; each *patch* must "
                              "become a patch_size × patch_size block: np.repeat.")],
        ),
        Case(
            name="rollout_cls_map",
            run=_run_rollout,
            points=2,
            checks=[Close("map", atol=1e-10, hint="AttentionRollout().compute_rollout(attention) gives (N, N); take "
                          "row 0 without the prefix, reshaped to the grid.")],
            mistakes=[Mistake("last_layer", _last_layer_only, "Roll out all layers, not just the last one."),
                      Mistake("column", _rollout_column, "You took column 0 of the rollout; the [CLS] map is row 0.")],
        ),
        Case(
            name="pointing_game",
            run=_run_pointing,
            points=2,
            checks=[Close("hits", atol=0, hint="A hit: the map's argmax patch (row-major, like reshape) has a mask "
                          "pixel inside it."),
                    Close("hit_rate", atol=1e-12, hint="hit_rate is the mean of hits."),
                    Close("chance", atol=1e-12, hint="chance: per image, the share of *patches* touching the object, "
                          "then the mean over images.")],
            mistakes=[Mistake("transposed", _transposed_argmax, "Your argmax patch is transposed: unravel the flat "
                              "index as (row, column) = divmod(index, g)."),
                      Mistake("pixel_chance", _pixel_chance, "Chance is the share of patches that touch the object, "
                              "not the share of pixels in the mask.")],
        ),
    ],
)
