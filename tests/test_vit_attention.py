"""ViT patch attention: the grid reshape, rollout on patches, the pointing game, input checks.

Most tests use a randomly initialised ``ViTConfig(image_size=224, patch_size=16)`` model (a 14 × 14 grid,
made small in width and depth so it builds in a blink) — no download.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advanced.vit_attention import (
    ViTAttentionVisualizer,
    cls_patch_maps,
    pointing_hits,
    rollout_map,
)


def random_vit(classifier=True, **overrides):
    from transformers import ViTConfig, ViTForImageClassification, ViTModel

    torch.manual_seed(0)
    settings = {"image_size": 224, "patch_size": 16, "hidden_size": 32, "num_hidden_layers": 2,
                "num_attention_heads": 4, "intermediate_size": 64, "attn_implementation": "eager", **overrides}
    config = ViTConfig(**settings)
    model = ViTForImageClassification(config) if classifier else ViTModel(config, add_pooling_layer=False)
    return model.eval()


@pytest.fixture(scope="module")
def vit():
    return random_vit()


def two_colour_image(height=180, width=240):
    """Red top half, blue bottom half: shows whether an image came through upside down or transposed."""
    from PIL import Image

    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[: height // 2, :, 0] = 255
    arr[height // 2 :, :, 2] = 255
    return Image.fromarray(arr)


def plain_rollout_cls(attention):
    """Rollout by a plain loop (mean of heads, 0.5·A + 0.5·I, rows renormalised, first layer rightmost)."""
    n = attention.shape[-1]
    result = np.eye(n)
    for layer in attention:  # (H, N, N), first layer first
        a = 0.5 * layer.mean(0) + 0.5 * np.eye(n)
        a = a / a.sum(-1, keepdims=True)
        result = a @ result
    return result[0]


# ----------------------------------------------------------------------------------- the grid
def test_cls_row_goes_onto_the_grid_row_by_row():
    g_h, g_w, prefix = 3, 4, 2  # a 3 × 4 grid behind two special tokens (like DeiT's [CLS] + distillation)
    n = prefix + g_h * g_w
    attention = np.full((1, 2, n, n), 1.0 / n)
    weights = np.arange(1, n + 1, dtype=float)
    attention[0, 1, 0] = weights / weights.sum()  # head 1's [CLS] row: token t gets weight ∝ t + 1
    maps = cls_patch_maps(attention, (g_h, g_w), n_prefix=prefix)  # (1, 2, 3, 4)
    assert maps.shape == (1, 2, g_h, g_w)
    for i in range(g_h):
        for j in range(g_w):
            token = prefix + i * g_w + j  # patches are numbered row by row
            assert maps[0, 1, i, j] == pytest.approx(attention[0, 1, 0, token])
    with pytest.raises(ValueError, match="do not match 2 special token"):
        cls_patch_maps(attention, (4, 4), n_prefix=2)


def test_rollout_map_is_the_cls_row_of_the_rollout():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 2, 10, 10)) * 2
    attention = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    got = rollout_map(attention, (3, 3), n_prefix=1)
    np.testing.assert_allclose(got.ravel(), plain_rollout_cls(attention)[1:], atol=1e-10)


def test_pointing_game_by_hand():
    masks = np.zeros((2, 8, 8), dtype=bool)  # 8 × 8 pixels, 4 × 4 grid of 2-pixel patches
    masks[0, 0:2, 6:8] = True  # object in patch (0, 3)
    masks[1, 3:5, 3:5] = True  # object touching patches (1, 1), (1, 2), (2, 1), (2, 2)
    maps = np.zeros((2, 4, 4))
    maps[0, 0, 3] = 1.0  # image 0: the maximum is on the object
    maps[1, 3, 3] = 1.0  # image 1: it is not
    hits, chance = pointing_hits(maps, masks)
    assert hits.tolist() == [True, False]
    np.testing.assert_allclose(chance, [1 / 16, 4 / 16])
    with pytest.raises(ValueError, match="cannot be cut"):
        pointing_hits(maps, np.zeros((2, 7, 8)))


# ------------------------------------------------------------------------- a random ViT, 14 × 14
def test_random_vit_gives_a_14_by_14_grid_and_the_models_own_weights(vit):
    image = two_colour_image()
    result = ViTAttentionVisualizer().attend(vit, image, patch_size=16)
    assert result.grid == (14, 14) and result.n_prefix == 1 and result.patch_size == 16
    assert result.attention.shape == (2, 4, 197, 197)
    pixels = ViTAttentionVisualizer().preprocess(image, vit)
    with torch.no_grad():
        direct = torch.stack(vit(pixel_values=pixels, output_attentions=True).attentions)[:, 0].numpy()
    np.testing.assert_allclose(result.attention, direct, atol=1e-6)
    # the image as the model saw it, the right way up: red on top, blue below
    assert result.image.shape == (224, 224, 3)
    assert result.image[:100, :, 0].min() > 0.95 and result.image[:100, :, 2].max() < 0.05
    assert result.image[124:, :, 2].min() > 0.95 and result.image[124:, :, 0].max() < 0.05


def test_visualize_patch_attention_draws_head_mean_and_rollout(vit):
    import matplotlib.pyplot as plt

    image = two_colour_image()
    viz = ViTAttentionVisualizer()
    fig = viz.visualize_patch_attention(vit, image, patch_size=16, head_idx=2, layer_idx=-1)
    attention = viz.attend(vit, image).attention  # (L, H, N, N)
    overlays = [ax.images[1].get_array() for ax in fig.axes if len(ax.images) == 2]
    assert len(overlays) == 3, "head, mean of heads and rollout, each over the image"
    np.testing.assert_allclose(overlays[0], attention[1, 2, 0, 1:].reshape(14, 14), atol=1e-7)
    np.testing.assert_allclose(overlays[1], attention[1, :, 0, 1:].mean(0).reshape(14, 14), atol=1e-7)
    np.testing.assert_allclose(overlays[2], plain_rollout_cls(attention)[1:].reshape(14, 14), atol=1e-7)
    titles = [ax.get_title() for ax in fig.axes]
    assert "layer 1, head 2" in titles and "rollout of 2 layers" in titles
    for ax in fig.axes:
        if len(ax.images) == 2:
            im = ax.images[1]
            assert im.get_clim()[0] == 0 and im.get_clim()[1] == pytest.approx(float(im.get_array().max()))
            assert im.get_extent() == [0, 224, 224, 0], "each cell covers its 16-pixel patch"
    plt.close(fig)


def test_head_grid_shares_one_scale(vit):
    import matplotlib.pyplot as plt

    fig = ViTAttentionVisualizer().plot_head_grid(vit, two_colour_image(), layer_idx=0)
    overlays = [ax.images[1] for ax in fig.axes if len(ax.images) == 2]
    assert len(overlays) == 4
    limits = {im.get_clim() for im in overlays}
    assert len(limits) == 1 and limits.pop()[1] == pytest.approx(max(float(im.get_array().max()) for im in overlays))
    plt.close(fig)


def test_inputs_paths_arrays_and_a_model_without_classifier(tmp_path):
    image = two_colour_image()
    path = tmp_path / "image.png"
    image.save(path)
    model = random_vit(classifier=False)
    viz = ViTAttentionVisualizer()
    from_path = viz.attend(model, path)
    from_array = viz.attend(model, np.asarray(image))
    np.testing.assert_allclose(from_path.attention, from_array.attention, atol=1e-7)
    assert from_path.logits is None and from_path.predicted is None


# --------------------------------------------------------------------------------- bad input
def test_patch_size_must_match_the_config(vit):
    with pytest.raises(ValueError, match=r"patch_size: got 8, but the model's config has patch_size=16 \(a 14 × 14"):
        ViTAttentionVisualizer().visualize_patch_attention(vit, two_colour_image(), patch_size=8)
    with pytest.raises(TypeError, match="patch_size"):
        ViTAttentionVisualizer().attend(vit, two_colour_image(), patch_size="16")


@pytest.mark.parametrize(("image", "error", "match"), [
    (torch.zeros(1, 3, 200, 200), ValueError, r"image: pixel values of shape \(1, 3, 200, 200\)"),
    (np.zeros((10, 10)), ValueError, "image: an array must be"),
    ("/nonexistent/cat.png", FileNotFoundError, "image: /nonexistent/cat.png does not exist"),
    (42, TypeError, "image: expected a PIL image"),
])
def test_bad_images(vit, image, error, match):
    with pytest.raises(error, match=match):
        ViTAttentionVisualizer().attend(vit, image)


def test_no_image_without_the_shipped_test_set(vit, monkeypatch, tmp_path):
    import advanced.vit_attention as lesson

    monkeypatch.setattr(lesson, "TEST_SET", tmp_path / "absent")
    with pytest.raises(ValueError, match="image: got None and no shipped test image"):
        ViTAttentionVisualizer().attend(vit, None)


@pytest.mark.parametrize(("kwargs", "match"), [({"layer_idx": 2}, "layer_idx: index 2"),
                                              ({"head_idx": -5}, "head_idx: index -5")])
def test_bad_indices(vit, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ViTAttentionVisualizer().visualize_patch_attention(vit, two_colour_image(), **kwargs)


def test_the_usage_line_on_a_default_size_random_vit():
    """Exactly the documented call, on ``ViTConfig(image_size=224, patch_size=16)`` at its default size."""
    import matplotlib.pyplot as plt
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(image_size=224, patch_size=16, attn_implementation="eager")).eval()
    image = two_colour_image()
    fig = ViTAttentionVisualizer().visualize_patch_attention(model, image, patch_size=16, head_idx=0, layer_idx=-1)
    overlays = [ax.images[1].get_array() for ax in fig.axes if len(ax.images) == 2]
    assert [o.shape for o in overlays] == [(14, 14)] * 3
    assert "layer 11, head 0" in [ax.get_title() for ax in fig.axes]
    plt.close(fig)


# ------------------------------------------------------------------------------------- the lesson
def test_lesson_pointing_game_matches_a_plain_computation(tmp_path):
    """The lesson on a random 64-pixel ViT and 16 generated shape images: its CSV against a plain loop."""
    import csv

    from transformers import ViTImageProcessor

    from advanced.vit_attention import main
    from attnviz.cli import run_lesson
    from attnviz.training import shapes

    model = random_vit(image_size=64, patch_size=8, num_labels=4, num_hidden_layers=3,
                       id2label=dict(enumerate(shapes.CLASSES)), label2id={c: i for i, c in enumerate(shapes.CLASSES)})
    model.save_pretrained(tmp_path / "model")
    ViTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(tmp_path / "model")
    data = shapes.make_images(16, seed=5)
    shapes.save_test_set(tmp_path / "test", data)
    assert run_lesson(main, ["--model", str(tmp_path / "model"), "--test-set", str(tmp_path / "test"),
                             "--out", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "pointing_game.csv", encoding="utf-8") as f:
        rows = {row["method"]: row for row in csv.DictReader(f)}

    hits_rollout, hits_last, chance = [], [], []
    for image, mask in zip(data.images, data.masks):
        pixels = torch.from_numpy((image.astype(np.float32) / 255 - 0.5) / 0.5).permute(2, 0, 1)[None]
        with torch.no_grad():
            attention = torch.stack(model(pixel_values=pixels, output_attentions=True).attentions)[:, 0].numpy()
        touching = [[mask[8 * r:8 * r + 8, 8 * c:8 * c + 8].any() for c in range(8)] for r in range(8)]
        for scores, hits in ((plain_rollout_cls(attention)[1:], hits_rollout), (attention[-1, :, 0, 1:].mean(0), hits_last)):
            r, c = divmod(int(np.argmax(scores)), 8)
            hits.append(touching[r][c])
        chance.append(np.mean(touching))
    assert float(rows["rollout"]["hit_rate"]) == pytest.approx(np.mean(hits_rollout), abs=1e-4)
    assert float(rows["layer 2 (mean of heads)"]["hit_rate"]) == pytest.approx(np.mean(hits_last), abs=1e-4)
    assert float(rows["rollout"]["chance"]) == pytest.approx(np.mean(chance), abs=1e-4)
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"patch_attention.png", "head_grid.png", "by_layer.png", "pointing_game.png", "pointing_examples.png",
            "pointing_game.csv", "manifest.json"} <= written


def test_the_shipped_vit_points_at_the_target_better_than_its_random_twin():
    """On the shipped tiny ViT and test set: rollout beats chance and the same network with random weights."""
    from PIL import Image

    from advanced.vit_attention import TEST_SET, randomised_copy
    from attnviz.models import MODELS_DIR, load_model
    from attnviz.training.shapes import load_test_set

    if not (MODELS_DIR / "tiny-vit-shapes" / "config.json").exists() or not (TEST_SET / "labels.csv").exists():
        pytest.skip("the tiny ViT or its test set is not shipped in data/ yet")
    loaded = load_model(None, kind="vit", device="cpu")
    _, data = load_test_set(TEST_SET)
    images = [Image.fromarray(a) for a in data.images[:100]]
    viz = ViTAttentionVisualizer(loaded.model, loaded.processor)
    trained = viz.pointing_game(loaded.model, images, data.masks[:100])
    random = viz.pointing_game(randomised_copy(loaded.model), images, data.masks[:100], processor=loaded.processor)
    assert trained["methods"]["rollout"] > max(random["methods"]["rollout"] + 0.2, 2 * trained["chance"])
    assert (trained["logits"].argmax(1) == data.labels[:100]).mean() > 0.8


# ----------------------------------------------------------- other vision families (issue 12, tiny zoo)
ZOO_SPECIAL_TOKENS = {
    "vit": ["[CLS]"],
    "deit": ["[CLS]", "[DIST]"],
    "dinov2-registers": ["[CLS]", "[REG0]", "[REG1]", "[REG2]", "[REG3]"],
    "beit": ["[CLS]"],
}


@pytest.fixture(scope="module")
def vision_zoo(tmp_path_factory):
    from zoo import build_zoo

    return build_zoo(tmp_path_factory.mktemp("vision_zoo"), list(ZOO_SPECIAL_TOKENS))


@pytest.mark.parametrize("family", list(ZOO_SPECIAL_TOKENS))
def test_special_tokens_are_named_and_left_off_the_patch_grid(vision_zoo, family):
    """The [CLS] row over the last g² tokens, against transformers' own output read by hand."""
    import matplotlib.pyplot as plt

    from attnviz.models import load_model

    loaded = load_model(str(vision_zoo[family]), kind="vit", device="cpu")
    viz = ViTAttentionVisualizer(loaded.model, loaded.processor)
    image = two_colour_image()
    result = viz.attend(loaded.model, image)
    assert list(result.special_tokens) == ZOO_SPECIAL_TOKENS[family]
    assert result.n_prefix == len(ZOO_SPECIAL_TOKENS[family]) and result.grid == (4, 4)
    pixels = loaded.processor(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = loaded.model(pixel_values=pixels, output_attentions=True)
    last = out.attentions[-1][0].numpy()  # (H, N, N)
    assert last.shape[-1] == len(ZOO_SPECIAL_TOKENS[family]) + 16
    expected = last[:, 0, -16:].reshape(-1, 4, 4)  # [CLS] row over the 16 patch tokens (they come last)
    np.testing.assert_allclose(cls_patch_maps(result.attention[-1], result.grid, result.n_prefix), expected,
                               atol=1e-6)
    fig = viz.visualize_patch_attention(loaded.model, image)
    others = ", ".join(ZOO_SPECIAL_TOKENS[family][1:])
    assert "row drawn: [CLS]" in fig._suptitle.get_text()
    assert (f"not on the patch grid: {others}" in fig._suptitle.get_text()) == bool(others)
    plt.close(fig)


def test_pointing_game_resizes_the_masks_for_a_224_by_16_vit():
    """64-pixel shape images and masks on a 224/16 ViT (a 14 × 14 grid): hits against a plain loop."""
    from PIL import Image
    from transformers import ViTImageProcessorPil

    from attnviz.training import shapes

    model = random_vit(num_hidden_layers=1, num_labels=4)  # 224 px, 16 px patches
    processor = ViTImageProcessorPil(size={"height": 224, "width": 224})
    data = shapes.make_images(6, seed=3)
    images = [Image.fromarray(a) for a in data.images]
    result = ViTAttentionVisualizer().pointing_game(model, images, data.masks, processor=processor)

    source = np.floor((np.arange(224) + 0.5) * 64 / 224).astype(int)  # nearest-neighbour source pixel
    hits, chance = [], []
    for image, mask in zip(images, data.masks):
        big = mask[source][:, source]  # (224, 224)
        touching = np.array([[big[16 * r:16 * r + 16, 16 * c:16 * c + 16].any() for c in range(14)]
                             for r in range(14)])
        with torch.no_grad():
            pixels = processor(images=image, return_tensors="pt")["pixel_values"]
            attention = torch.stack(model(pixel_values=pixels, output_attentions=True).attentions)[:, 0].numpy()
        r, c = divmod(int(np.argmax(plain_rollout_cls(attention)[1:])), 14)
        hits.append(touching[r, c])
        chance.append(touching.mean())
    np.testing.assert_array_equal(result["hits"]["rollout"], hits)
    assert result["chance"] == pytest.approx(np.mean(chance), abs=1e-9)


def test_lesson_runs_with_a_model_whose_labels_are_not_the_shapes_tasks(vision_zoo, tmp_path, capsys):
    import csv

    from advanced.vit_attention import main
    from attnviz.cli import run_lesson
    from attnviz.training import shapes

    shapes.save_test_set(tmp_path / "test", shapes.make_images(8, seed=4))
    assert run_lesson(main, ["--model", str(vision_zoo["deit"]), "--test-set", str(tmp_path / "test"),
                             "--out", str(tmp_path / "out")]) == 0
    assert "not the shapes task's: no accuracy" in capsys.readouterr().out
    with open(tmp_path / "out" / "pointing_game.csv", encoding="utf-8") as f:
        assert {row["method"] for row in csv.DictReader(f)} >= {"rollout", "layer 1 (mean of heads)"}
    assert (tmp_path / "out" / "pointing_examples.png").exists()


def test_the_training_processor_does_not_warn_about_torchvision():
    """In a fresh process (transformers warns once per process), building the processor prints nothing."""
    import subprocess
    import sys

    code = "from attnviz.training.vit_shapes import build_processor; print(type(build_processor()).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ImageProcessor" in done.stdout and "torchvision" not in done.stderr, done.stderr


def test_dinov2_input_size_comes_from_its_processor_and_masks_follow_its_crop():
    """DINOv2 interpolates its position embeddings: its config says one size, its processor makes another
    (resize the short side, then cut the centre). The grid and the masks must follow the processor."""
    from PIL import Image
    from transformers import BitImageProcessorPil, Dinov2Config, Dinov2ForImageClassification

    torch.manual_seed(0)
    config = Dinov2Config(image_size=64, patch_size=8, hidden_size=32, num_hidden_layers=1,
                          num_attention_heads=4, mlp_ratio=2, num_labels=4, attn_implementation="eager")
    model = Dinov2ForImageClassification(config).eval()
    processor = BitImageProcessorPil(size={"shortest_edge": 40}, crop_size={"height": 24, "width": 24},
                                     do_center_crop=True)  # 64 -> 40, then the centre 24 × 24: a 3 × 3 grid
    viz = ViTAttentionVisualizer(model, processor)
    result = viz.attend(model, two_colour_image(64, 64))
    assert result.grid == (3, 3) and result.attention.shape[-1] == 1 + 9 and result.patch_size == 8

    mask = np.zeros((1, 64, 64), dtype=bool)
    mask[0, :24, :24] = True  # the top-left 24 px: 15 px after the resize, 7 px after the 8-px crop
    game = viz.pointing_game(model, [Image.fromarray(mask[0].astype(np.uint8) * 255).convert("RGB")], mask)
    assert game["per_image_chance"].tolist() == pytest.approx([1 / 9]), "only patch (0, 0) holds the object"


@pytest.mark.parametrize(("family", "reason"), [("swin", "shifted windows"), ("convnext", "no attention"),
                                                ("bert", "not an image model")])
def test_models_it_cannot_draw_are_refused_in_one_line_before_any_work(tmp_path, capsys, family, reason):
    import json

    from zoo import build_zoo

    from advanced.vit_attention import main
    from attnviz.cli import run_lesson

    folder = build_zoo(tmp_path / "zoo", [family])[family]
    capsys.readouterr()  # what building the checkpoint printed
    assert run_lesson(main, ["--model", str(folder), "--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error:") and reason in message, message
    assert "offline" not in message and "vision transformer (ViT, DeiT, DINOv2, BEiT)" in message
    manifest = tmp_path / "out" / "manifest.json"
    assert not manifest.exists() or json.loads(manifest.read_text())["files"] == []
