"""Cases of exercise A4 — compare attention patterns across model architectures."""

from functools import cache

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake, Property
from attnviz.grading.fixtures import minilm_attention, random_attention

TEXT = "The cat sat on the mat because it was tired."


# ------------------------------------------------------------------------------------------ inputs
def _causal(seed, shape):
    """Random causal attention ``(..., n, n)``: softmax rows over keys 0..q."""
    weights = random_attention(seed, shape) * np.tril(np.ones(shape[-2:]))
    return weights / weights.sum(-1, keepdims=True)


def _text_positions(n):
    return np.arange(n, dtype=float)[:, None]  # (n, 1)


def _grid_positions(grid):
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    return np.concatenate([np.full((1, 2), np.nan), np.stack([rows, cols], 1).astype(float)])  # (1 + grid², 2)


@cache
def _gpt2():
    """The shipped tiny GPT-2 on a repeated random sequence: (L, H, n, n)."""
    from beginner.attention_patterns import gpt2_attention

    attention, _, _ = gpt2_attention(None, "cpu")
    return attention.astype(np.float64)


@cache
def _vit():
    """The shipped tiny ViT on the first held-out test image: (L, H, 1 + g², 1 + g²) and the grid size g."""
    import torch
    from PIL import Image

    from attnviz import DATA_DIR
    from attnviz.extract import transformer_attentions
    from attnviz.models import load_model

    loaded = load_model(None, kind="vit", device="cpu")
    image = Image.open(sorted((DATA_DIR / "images" / "shapes_test").glob("*.png"))[0]).convert("RGB")
    pixels = loaded.processor(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        attention = transformer_attentions(loaded.model, {"pixel_values": pixels})[:, 0].numpy()  # (L, H, T, T)
    grid = int(round(np.sqrt(attention.shape[-1] - 1)))
    return attention.astype(np.float64), grid


def _models():
    encoder, tokens = minilm_attention(TEXT)
    gpt2 = _gpt2()
    vit, grid = _vit()
    return {"MiniLM": (encoder, _text_positions(len(tokens)), False),
            "tiny GPT-2": (gpt2, _text_positions(gpt2.shape[-1]), True),
            "tiny ViT": (vit, _grid_positions(grid), False)}


# ------------------------------------------------------------------------------------------ cases
def _run_positions(mod):
    return {"with_cls": mod.patch_positions(3), "without_cls": mod.patch_positions(4, with_cls=False)}


def _column_major(sol):
    out = _run_positions(sol)
    return {key: value[:, ::-1] for key, value in out.items()}


def _entropy_inputs():
    return _causal(41, (2, 3, 6, 6)), minilm_attention(TEXT)[0]


def _run_entropy(mod):
    causal, encoder = _entropy_inputs()
    return {"causal": mod.entropy_fraction(causal, causal=True), "encoder": mod.entropy_fraction(encoder)}


def _fraction_of_full_length(sol):
    causal, encoder = _entropy_inputs()
    return {"causal": sol.entropy_fraction(causal, causal=False), "encoder": sol.entropy_fraction(encoder)}


def _distance_inputs():
    vit_like = random_attention(42, (2, 2, 10, 10))  # [CLS] + a 3 × 3 grid
    return minilm_attention(TEXT)[0], vit_like


def _run_distance(mod):
    encoder, vit_like = _distance_inputs()
    return {"text": mod.mean_distance(encoder, _text_positions(encoder.shape[-1])),
            "grid": mod.mean_distance(vit_like, _grid_positions(3))}


def _not_renormalised(sol):
    encoder, vit_like = _distance_inputs()
    p = _grid_positions(3)[1:]
    distance = np.linalg.norm(p[:, None] - p[None], axis=-1)
    return {"text": sol.mean_distance(encoder, _text_positions(encoder.shape[-1])),
            "grid": (vit_like[..., 1:, 1:] * distance).sum(-1).mean(-1)}


def _run_masses(mod):
    return {key: value for key, value in mod.pattern_masses(_causal(43, (2, 2, 5, 5))).items()}


def _run_compare(mod):
    out = mod.compare_architectures(_models(), n_points=5)
    if isinstance(out, dict) and isinstance(out.get("ranking"), dict):
        out = {**out, "ranking": {k: [str(n) for n in v] for k, v in out["ranking"].items()}}
    return out


def _finite_profiles(out):
    for key, value in out.items():
        if key.startswith("ranking"):
            continue
        arr = np.asarray(value, dtype=float)
        if arr.shape != (5,):
            return f"{key}: expected a profile of 5 relative depths, got shape {arr.shape}"
        if not np.isfinite(arr).all():
            return f"{key}: contains NaN or Inf"
    return None


_STATS = ("entropy", "distance", "self", "previous", "first")
_MODELS = ("MiniLM", "tiny GPT-2", "tiny ViT")

EXERCISE = Exercise(
    id="a4_compare_architectures",
    path="03_advanced/a4_compare_architectures.py",
    title="A4 — Compare attention patterns across architectures",
    cases=[
        Case("patch_positions", _run_positions, points=1,
             checks=[Close("with_cls", atol=0, hint="[CLS] first as [nan, nan], then [row, column] in row-major order."),
                     Close("without_cls", atol=0, hint="Without [CLS]: just the grid² patches, row-major.")],
             mistakes=[Mistake("column_major", _column_major, "Your coordinates are [column, row]: patch k sits at "
                               "row k // grid, column k % grid (np.divmod).")]),
        Case("entropy_fraction", _run_entropy, points=3,
             checks=[Property(lambda out: None if np.isfinite(np.asarray(out.get("causal"), float)).all() else
                              "causal: contains NaN — a row that sees one key has entropy 0 and log 1 = 0; skip it",
                              "Skip the rows with n_q = 1 instead of dividing 0 by 0."),
                     Close("encoder", atol=1e-6, hint="Bidirectional: every row sees all n keys, divide by log n."),
                     Close("causal", atol=1e-6, hint="Causal: row q sees q + 1 keys; divide its entropy by log(q + 1) "
                           "and leave out row 0.")],
             mistakes=[Mistake("log_n_everywhere", _fraction_of_full_length,
                               "You divided every causal row by log n: row q can only spread over q + 1 keys, so its "
                               "maximum entropy is log(q + 1).")]),
        Case("mean_distance", _run_distance, points=3,
             checks=[Close("text", atol=1e-6, hint="Σ_k A[q, k]·|q − k| per row, then the mean over rows."),
                     Close("grid", atol=1e-6, hint="Leave [CLS] out as query and key, renormalise each row over the "
                           "patches (divide by the weight they received), Euclidean distance in patches.")],
             mistakes=[Mistake("not_renormalised", _not_renormalised,
                               "Dropping the [CLS] column leaves rows that sum to less than 1: divide by the weight "
                               "left on the patches.")]),
        Case("pattern_masses", _run_masses, points=1,
             checks=[Close("self", atol=1e-9, hint="The diagonal A[q, q], mean over the rows."),
                     Close("previous", atol=1e-9, hint="A[q, q − 1] for q ≥ 1: np.diagonal(..., offset=-1)."),
                     Close("first", atol=1e-9, hint="Column 0, mean over the rows.")]),
        Case("compare_architectures", _run_compare, points=2,
             checks=[Property(_finite_profiles, "Each profile has one value per relative depth."),
                     *[Close(f"{m}/{s}", atol=1e-6, hint=f"{s} of {m}: summarise, then resample on np.linspace(0, 1, "
                             "n_points) with np.interp.") for m in _MODELS for s in _STATS],
                     *[Equal(f"ranking/{s}", f"Sort the model names by the mean of their {s} profile, smallest first.")
                       for s in _STATS]]),
    ],
)
