"""Synthetic shape images: the data of ``tiny-vit-shapes``, with the truth about where the object is.

Each image is 64 × 64 RGB and holds exactly one *target*: a solid, single-coloured circle, square,
triangle or cross, 17–25 pixels across, at a random place. Its kind is the label. Around it lies
*clutter*: thin random line segments and small squares of per-pixel colour noise, over a noisy
background. The clutter is unlike every target on purpose — it is never solid, and it looks the same
whatever the label is — so it carries no information about the class. A classifier that works must read
the target itself, and an attention map that explains it *should* point at the target: the test of an
attention map (the pointing game) measures something real, not an artefact of the data.

Every image comes with its target's pixel mask, ``(64, 64)`` bool, so a patch map can be scored:
with 8 × 8 patches the image is an 8 × 8 grid of patches, and :func:`patch_mask` says which patches
overlap the target.

Patch order: a ViT with ``patch_size=8`` numbers its 64 patches row by row, patch ``k`` covering rows
``8·(k // 8) … 8·(k // 8) + 7`` and columns ``8·(k % 8) … 8·(k % 8) + 7``; token 0 is ``[CLS]``, so patch
``k`` is token ``k + 1``.

Generation is seeded: :func:`make_images` with the same seed gives the same images.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SIZE = 64
PATCH_SIZE = 8
GRID = IMAGE_SIZE // PATCH_SIZE  # 8 patches per side
CLASSES = ("circle", "square", "triangle", "cross")
TRAIN_SEED = 0
CARD_SEED = 1  # the shipped test set under data/images/shapes_test/
TEST_SET_SIZE = 200
RADIUS_RANGE = (8.5, 12.5)  # the target's "radius" in pixels: it is 17–25 pixels across

_ROWS, _COLS = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]  # (64, 64) each: the y and x coordinate of every pixel


@dataclass
class ShapeImages:
    """A batch of images with their labels and target masks."""

    images: np.ndarray  # (N, 64, 64, 3) uint8, RGB
    labels: np.ndarray  # (N,) int, index into CLASSES
    masks: np.ndarray  # (N, 64, 64) bool, True on the target's pixels

    def __len__(self) -> int:
        return len(self.labels)


def shape_mask(kind: str, cy: float, cx: float, radius: float) -> np.ndarray:
    """``(64, 64)`` bool: the pixels of a solid shape of the given kind, centred at ``(cy, cx)``."""
    dy, dx = _ROWS - cy, _COLS - cx  # (64, 64) offsets from the centre
    if kind == "circle":
        return dy**2 + dx**2 <= radius**2
    if kind == "square":
        half = 0.85 * radius  # a little smaller than the circle's radius: about the same area
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    if kind == "triangle":
        top, bottom = -radius, 0.85 * radius  # apex up, flat base
        height_fraction = (dy - top) / (bottom - top)  # 0 at the apex, 1 at the base
        return (dy >= top) & (dy <= bottom) & (np.abs(dx) <= radius * height_fraction)
    if kind == "cross":
        arm = radius / 3  # half-thickness of each bar
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= radius)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= radius))
    raise ValueError(f"unknown shape {kind!r}; expected one of {CLASSES}")


def _bright_colour(rng: np.random.Generator) -> np.ndarray:
    """A saturated colour: one channel high, one low, one anywhere."""
    colour = rng.permutation([rng.integers(180, 256), rng.integers(0, 70), rng.integers(0, 256)])
    return np.array(colour, dtype=np.float32)


def _draw_clutter(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Thin line segments and small squares of colour noise, drawn into ``canvas`` (64, 64, 3) float."""
    for _ in range(rng.integers(3, 7)):  # line segments, 1 pixel wide
        y0, x0 = rng.uniform(0, IMAGE_SIZE, size=2)
        angle, length = rng.uniform(0, np.pi), rng.uniform(8, 24)
        t = np.linspace(0, length, int(3 * length))
        ys = np.clip(np.round(y0 + t * np.sin(angle)), 0, IMAGE_SIZE - 1).astype(int)
        xs = np.clip(np.round(x0 + t * np.cos(angle)), 0, IMAGE_SIZE - 1).astype(int)
        canvas[ys, xs] = _bright_colour(rng)
    for _ in range(rng.integers(2, 5)):  # squares of random pixels: texture, never a solid colour
        size = rng.integers(4, 9)
        y0, x0 = rng.integers(0, IMAGE_SIZE - size, size=2)
        canvas[y0 : y0 + size, x0 : x0 + size] = rng.integers(0, 256, size=(size, size, 3))


def make_image(label: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One image of class ``label``: returns ``(image (64, 64, 3) uint8, mask (64, 64) bool)``."""
    background = rng.uniform(20, 90)  # a dark grey, different per image
    canvas = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), background, dtype=np.float32)
    canvas += 6 * rng.standard_normal(size=canvas.shape, dtype=np.float32)  # sensor-like noise everywhere
    _draw_clutter(canvas, rng)
    radius = rng.uniform(*RADIUS_RANGE)
    margin = radius + 1
    cy, cx = rng.uniform(margin, IMAGE_SIZE - margin, size=2)
    mask = shape_mask(CLASSES[label], cy, cx, radius)
    canvas[mask] = _bright_colour(rng) + rng.normal(0, 4, size=(int(mask.sum()), 3))  # the target, on top
    return np.clip(canvas, 0, 255).astype(np.uint8), mask


def make_images(n: int, seed: int | np.random.Generator) -> ShapeImages:
    """``n`` images with uniformly random labels, drawn from ``seed`` (an int or a NumPy Generator)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), size=n)
    images, masks = zip(*(make_image(int(label), rng) for label in labels))
    return ShapeImages(np.stack(images), labels, np.stack(masks))


def patch_mask(mask: np.ndarray, patch_size: int = PATCH_SIZE) -> np.ndarray:
    """``(..., 64, 64)`` pixel mask -> ``(..., 8, 8)`` patch mask: True where a patch holds any target pixel."""
    *lead, height, width = mask.shape
    blocks = mask.reshape(*lead, height // patch_size, patch_size, width // patch_size, patch_size)
    return blocks.any(axis=(-3, -1))  # (..., rows of patches, cols of patches)


# ----------------------------------------------------------------------------------------------------
# The fixed test set on disk: data/images/shapes_test/
# ----------------------------------------------------------------------------------------------------


def save_test_set(folder: Path, data: ShapeImages) -> None:
    """Write ``NNN.png`` images, ``masks.npz`` (``masks``: (N, 64, 64) bool) and ``labels.csv``."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:03d}.png" for i in range(len(data))]
    for name, image in zip(names, data.images):
        Image.fromarray(image).save(folder / name, optimize=True)
    np.savez_compressed(folder / "masks.npz", masks=data.masks, files=np.array(names))
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "class"])
        for name, label in zip(names, data.labels):
            writer.writerow([name, int(label), CLASSES[int(label)]])
    (folder / "classes.json").write_text(json.dumps(list(CLASSES)) + "\n", encoding="utf-8")


def load_test_set(folder: Path | None = None) -> tuple[list[Path], ShapeImages]:
    """Read the fixed test set: ``(paths of the PNG files, ShapeImages)``."""
    from PIL import Image

    from attnviz import DATA_DIR

    folder = Path(folder or DATA_DIR / "images" / "shapes_test")
    with open(folder / "labels.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    paths = [folder / row["file"] for row in rows]
    images = np.stack([np.array(Image.open(p).convert("RGB")) for p in paths])
    stored = np.load(folder / "masks.npz")
    if list(stored["files"]) != [row["file"] for row in rows]:
        raise ValueError(f"{folder}: masks.npz and labels.csv list different files")
    return paths, ShapeImages(images, np.array([int(row["label"]) for row in rows]), stored["masks"])
