"""Train ``tiny-vit-shapes``: a tiny Vision Transformer that names the one solid shape in a cluttered image.

    python -m attnviz.training tiny-vit-shapes

Data: :mod:`attnviz.training.shapes` — 64 × 64 images, one target (circle, square, triangle or cross)
among clutter that says nothing about the class. Model: a real ``transformers``
``ViTForImageClassification`` — 8 × 8 patches (an 8 × 8 grid, 64 patch tokens + [CLS]), 2 layers,
4 heads, width 64 — with a ``ViTImageProcessor`` saved beside it, so ``AutoImageProcessor`` prepares
images exactly as training did (scale to [0, 1], then normalise with mean 0.5 and std 0.5 per channel).

Because every image's target mask is known, the model card can report not only accuracy but how often
CLS attention rollout points at the target (the pointing game).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from attnviz import DATA_DIR, MODELS_DIR
from attnviz.training import common
from attnviz.training.shapes import (
    CARD_SEED,
    CLASSES,
    IMAGE_SIZE,
    PATCH_SIZE,
    RADIUS_RANGE,
    TEST_SET_SIZE,
    TRAIN_SEED,
    make_image,
    make_images,
    save_test_set,
)

NAME = "tiny-vit-shapes"
TEST_SET_DIR = DATA_DIR / "images" / "shapes_test"
PIXEL_MEAN = PIXEL_STD = (0.5, 0.5, 0.5)


@dataclass
class ViTShapesConfig:
    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    mlp_size: int = 128
    steps: int = 1500
    batch_size: int = 128
    lr: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.05
    seed: int = TRAIN_SEED


def build_processor():
    try:  # without torchvision, ViTImageProcessor is this PIL class, reached through a warning
        from transformers import ViTImageProcessorPil as ViTImageProcessor
    except ImportError:  # an older transformers: ViTImageProcessor is the PIL one
        from transformers import ViTImageProcessor

    return ViTImageProcessor(
        do_resize=True,
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(PIXEL_MEAN),
        image_std=list(PIXEL_STD),
    )


def build_model(cfg: ViTShapesConfig):
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        num_channels=3,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.mlp_size,
        hidden_dropout_prob=0.0,  # endless fresh images: nothing to regularise against
        attention_probs_dropout_prob=0.0,
        num_labels=len(CLASSES),
        id2label=dict(enumerate(CLASSES)),
        label2id={name: i for i, name in enumerate(CLASSES)},
    )
    return ViTForImageClassification(config)


def to_pixel_values(images: np.ndarray) -> torch.Tensor:
    """``(N, 64, 64, 3)`` uint8 -> ``(N, 3, 64, 64)`` float, normalised exactly as the image processor does."""
    x = torch.from_numpy(images).float().permute(0, 3, 1, 2) / 255  # (N, 3, H, W) in [0, 1]
    mean = torch.tensor(PIXEL_MEAN)[None, :, None, None]
    std = torch.tensor(PIXEL_STD)[None, :, None, None]
    return (x - mean) / std


def random_batch(batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh batch: ``pixel_values`` (B, 3, 64, 64) and ``labels`` (B,)."""
    labels = rng.integers(0, len(CLASSES), size=batch_size)
    images = np.stack([make_image(int(label), rng)[0] for label in labels])  # (B, 64, 64, 3)
    return to_pixel_values(images), torch.from_numpy(labels).long()


def train_model(cfg: ViTShapesConfig, progress: bool = True, callback=None):
    """Train from scratch; returns ``(model, processor, losses)``.

    ``callback(step, model)``, if given, is called every 250 steps.
    """
    common.seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = build_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def batch_loss(step):
        pixel_values, labels = random_batch(cfg.batch_size, rng)
        return model(pixel_values=pixel_values, labels=labels).loss, {}

    losses = common.fit(model, optimizer, steps=cfg.steps, warmup_steps=cfg.warmup_steps, batch_loss=batch_loss,
                        name=NAME, progress=progress, callback=callback)
    return model, build_processor(), losses


def write_test_set(folder: Path = TEST_SET_DIR) -> None:
    """The fixed test set (seed CARD_SEED) and three example images for the lessons' default ``--image``."""
    from PIL import Image

    save_test_set(folder, make_images(TEST_SET_SIZE, CARD_SEED))
    examples = make_images(40, 2024)  # a separate seed: not part of the test set
    for kind in ("triangle", "circle", "cross"):
        # The first image of this kind whose target sits near the middle (nicer as a default picture).
        for image, label, mask in zip(examples.images, examples.labels, examples.masks):
            centre = np.argwhere(mask).mean(axis=0)  # (row, col) of the target's centre of mass
            if CLASSES[label] == kind and np.abs(centre - IMAGE_SIZE / 2).max() < 14:
                name = "example_shape.png" if kind == "triangle" else f"example_shape_{kind}.png"
                Image.fromarray(image).save(Path(folder).parent / name)
                break


def train_and_save(
    out_dir: Path | None = None, cfg: ViTShapesConfig | None = None, progress: bool = True
) -> dict:
    """Train, save, reload, measure on the fixed test set and on fresh images, write the card."""
    from transformers import AutoImageProcessor, ViTForImageClassification

    from attnviz.training import evaluate
    from attnviz.training.shapes import load_test_set

    out_dir = Path(out_dir or MODELS_DIR / NAME)
    cfg = cfg or ViTShapesConfig()
    trained = common.train_and_store(out_dir, lambda: train_model(cfg, progress))
    write_test_set()  # deterministic: rewriting it gives the same files unless the generator changed

    model = ViTForImageClassification.from_pretrained(out_dir, attn_implementation="eager").eval()
    processor = AutoImageProcessor.from_pretrained(out_dir)
    _, test = load_test_set(TEST_SET_DIR)
    fresh = make_images(1000, CARD_SEED + 1000)
    figures = {
        **trained,
        "test": evaluate.vit_scores(model, processor, test.images, test.labels, test.masks),
        "fresh": evaluate.vit_scores(model, processor, fresh.images, fresh.labels, fresh.masks),
        **common.size_figures(model, out_dir, cfg),
    }
    write_model_card(out_dir, figures)
    return figures


def write_model_card(out_dir: Path, f: dict) -> None:
    cfg, test, fresh = f["config"], f["test"], f["fresh"]
    body = f"""
A tiny `ViTForImageClassification` trained by this repository on synthetic images whose label is the
kind of one solid shape at a random place among clutter. Every image's target mask is known, so a patch
attention map can be scored against the truth. Part of the attention-visualization course.

| | |
|---|---|
| task | name the one solid shape: {", ".join(CLASSES)} (ids 0–{len(CLASSES) - 1}) |
| images | {IMAGE_SIZE} × {IMAGE_SIZE} RGB; target {2 * RADIUS_RANGE[0]:.0f}–{2 * RADIUS_RANGE[1]:.0f} px across, solid colour; clutter of thin lines and colour-noise squares; noisy background |
| architecture | ViT, patch {PATCH_SIZE} ({IMAGE_SIZE // PATCH_SIZE} × {IMAGE_SIZE // PATCH_SIZE} = {(IMAGE_SIZE // PATCH_SIZE) ** 2} patches + [CLS]), {cfg["layers"]} layers, {cfg["heads"]} heads, width {cfg["hidden_size"]}, MLP {cfg["mlp_size"]} |
| preprocessing | `ViTImageProcessor`: resize to {IMAGE_SIZE} × {IMAGE_SIZE}, × 1/255, normalise mean 0.5 std 0.5 |
| parameters | {f["parameters"]:,} |
| weights file | {common.human_bytes(f["weights_bytes"])} (`model.safetensors`) |
| training | {cfg["steps"]} steps × {cfg["batch_size"]} fresh images, AdamW lr {cfg["lr"]}, seed {cfg["seed"]} |
| training time | {f["train_seconds"]:.0f} s on {common.TRAIN_THREADS} CPU thread(s) |
| final training loss | {f["final_loss"]:.4f} |
| **accuracy** | **{test["accuracy"]:.1%}** on the fixed test set (`data/images/shapes_test/`, {TEST_SET_SIZE} images); {fresh["accuracy"]:.1%} on 1,000 fresh images |
| **pointing game** | **{test["pointing_game"]:.1%}** of test images: the CLS attention rollout peaks on a patch that overlaps the target ({fresh["pointing_game"]:.1%} on the fresh images) |

Retrain (deterministic, seeded): `python -m attnviz.training {NAME}`

## Load it

```python
from PIL import Image
from transformers import AutoImageProcessor, ViTForImageClassification
model = ViTForImageClassification.from_pretrained("data/models/{NAME}", attn_implementation="eager")
processor = AutoImageProcessor.from_pretrained("data/models/{NAME}")
inputs = processor(images=Image.open("data/images/example_shape.png").convert("RGB"), return_tensors="pt")
out = model(**inputs, output_attentions=True)
model.config.id2label[out.logits.argmax(-1).item()]    # 'triangle'
len(out.attentions), out.attentions[0].shape            # {cfg["layers"]}, (1, {cfg["heads"]}, 65, 65)
```

Token 0 is `[CLS]`; patch `k` (row-major over the 8 × 8 grid) is token `k + 1`.

## The pointing game

Attention rollout (Abnar & Zuidema, 2020): per layer, average the heads, mix in the residual as
`0.5·A + 0.5·I`, renormalise the rows, multiply the layers (`{" · ".join(f"Ã_{layer}" for layer in reversed(range(cfg["layers"])))}`, last layer on the left). Take the
[CLS] row over the 64 patch columns; a hit is an image whose largest patch overlaps the target's pixel
mask. On the {TEST_SET_SIZE} test images: **{test["pointing_game"]:.1%}** (on the correctly classified ones:
{test["pointing_game_correct"]:.1%}). Measured by `attnviz.training.evaluate.vit_scores`.

Why it should point at the target for an honest reason: the clutter is never a solid shape and does not
depend on the label, so the only evidence for the class is in the target's patches.
"""
    common.write_card(out_dir, NAME, body)
