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
        pointing_hits(maps, np.ones((2, 7, 8)))


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
    head_share = attention[1, 2, 0, 1:].sum()  # what [CLS] gives the 196 patches, not itself
    rollout_share = plain_rollout_cls(attention)[1:].sum()
    assert f"layer 1, head 2\n{100 * head_share:.0f}% of [CLS]'s attention on patches" in titles
    assert f"rollout of 2 layers\n{100 * rollout_share:.0f}% of the rollout row on patches" in titles
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
    assert any(ax.get_title().startswith("layer 11, head 0\n") for ax in fig.axes)
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
    assert len(data) == 200, "the docstring's 'the pointing game on all 200'"
    images = [Image.fromarray(a) for a in data.images[:100]]
    viz = ViTAttentionVisualizer(loaded.model, loaded.processor)
    trained = viz.pointing_game(loaded.model, images, data.masks[:100])
    random = viz.pointing_game(randomised_copy(loaded.model), images, data.masks[:100], processor=loaded.processor)
    assert trained["methods"]["rollout"] > max(random["methods"]["rollout"] + 0.2, 2 * trained["chance"])
    # the docstring's claim: even random weights point at the bright, solid target far more often than chance
    assert random["methods"]["layer 0 (mean of heads)"] > 2 * trained["chance"]
    assert random["methods"]["rollout"] > 2 * trained["chance"]
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


# --------------------------------------------------------------- issue 13: what the figures claim, measured
def test_target_shares_by_hand():
    """A 4 × 4 grid of 2-pixel patches; the object covers pixels rows 1–3, columns 1–3 of an 8 × 8 image."""
    from advanced.vit_attention import target_shares

    mask = np.zeros((8, 8), dtype=bool)
    mask[1:4, 1:4] = True
    # patch (0, 0): 1 of 4 pixels on the object; (0, 1) and (1, 0): 2 of 4; (1, 1): all 4 -> inside
    maps = np.zeros((2, 4, 4))
    maps[0, 0, 0], maps[0, 1, 1], maps[0, 3, 3] = 0.2, 0.3, 0.5  # edge 0.2, inside 0.3, background 0.5
    maps[1, 0, 1], maps[1, 1, 0] = 1.0, 1.0  # all on two edge patches, sums to 2 (a share is of the map's total)
    shares = target_shares(maps, mask)
    assert shares["n_edge"] == 3 and shares["n_inside"] == 1 and shares["n_patches"] == 16
    assert shares["chance"] == pytest.approx(4 / 16)
    np.testing.assert_allclose(shares["edge"], [0.2, 1.0])
    np.testing.assert_allclose(shares["inside"], [0.3, 0.0])
    np.testing.assert_allclose(shares["target"], [0.5, 1.0])
    np.testing.assert_allclose(shares["edge_per_patch"], [0.2 / 3, 1 / 3])
    np.testing.assert_allclose(shares["inside_per_patch"], [0.3, 0.0])


def test_head_verdicts_and_caption_follow_the_numbers():
    from attnviz.vit_figures import head_grid_caption, head_verdicts

    shares = {"target": np.array([0.9, 0.9, 0.2]), "edge_per_patch": np.array([0.1, 0.01, 0.02]),
              "inside_per_patch": np.array([0.05, 0.5, 0.0]), "n_edge": 8, "n_inside": 2, "n_patches": 64,
              "chance": 10 / 64, "edge": np.array([0.8, 0.08, 0.16]), "inside": np.array([0.1, 0.82, 0.04])}
    # head 2: 0.2 < 2 × 10/64 = 0.31 -> off; head 0: edge patch 0.1 > inside 0.05; head 1: inside wins
    assert head_verdicts(shares) == ["on the object's edges", "on the object", "off the object"]
    caption = head_grid_caption(3, shares)
    assert "layer 3" in caption and "head 0 90%, head 1 90%, head 2 20%" in caption
    assert "head 0: on the object's edges; head 1: on the object; head 2: off the object" in caption
    assert "the most weight off the object is head 2's, 80%" in caption
    assert "not measured" in head_grid_caption(3, None)


def plain_target_share(head_map, mask, patch):
    """Share of a map on the patches a pixel mask touches, by a loop over the patches."""
    g = head_map.shape[0]
    on = sum(head_map[r, c] for r in range(g) for c in range(g)
             if mask[patch * r:patch * (r + 1), patch * c:patch * (c + 1)].any())
    return on / head_map.sum()


def test_default_head_grid_caption_states_what_the_shipped_vit_does():
    """The claim on the default inputs (shipped tiny ViT, first test image, last layer): every head puts
    more than twice a flat map's share on the object, and per patch more on its edge patches than inside."""
    import matplotlib.pyplot as plt

    from advanced.vit_attention import TEST_SET, single_image_figures, target_shares
    from attnviz.models import MODELS_DIR, load_model
    from attnviz.training.shapes import load_test_set

    if not (MODELS_DIR / "tiny-vit-shapes" / "config.json").exists() or not (TEST_SET / "labels.csv").exists():
        pytest.skip("the tiny ViT or its test set is not shipped in data/ yet")
    loaded = load_model(None, kind="vit", device="cpu")
    paths, data = load_test_set(TEST_SET)
    viz = ViTAttentionVisualizer(loaded.model, loaded.processor)
    pixels = viz.preprocess(paths[0], loaded.model)
    with torch.no_grad():
        attention = torch.stack(loaded.model(pixel_values=pixels, output_attentions=True).attentions)[:, 0].numpy()
    last = attention[-1, :, 0, 1:].reshape(-1, 8, 8)  # (H, 8, 8): [CLS] over the 64 patches of the last layer
    mask = data.masks[0]  # 64 × 64, the model's own input size
    expected = [plain_target_share(m, mask, 8) for m in last]
    chance = np.mean([[mask[8 * r:8 * r + 8, 8 * c:8 * c + 8].any() for c in range(8)] for r in range(8)])
    assert min(expected) > 2 * chance, "the claim 'every head looks at the object' no longer holds"
    shares = target_shares(last, mask)
    assert (shares["edge_per_patch"] > shares["inside_per_patch"]).all(), "edges no longer beat the inside"
    assert (shares["edge"] > 0.5).all(), "the docstring: 'most of its patch weight on the object's edge patches'"

    figures = {name: (fig, caption) for name, fig, caption in
               single_image_figures(viz, loaded.model, paths[0], None, -1, 0, None, mask)}
    caption = figures["head_grid"][1]
    listed = ", ".join(f"head {h} {100 * v:.0f}%" for h, v in enumerate(expected))
    assert listed in caption and f"({100 * chance:.0f}% of the patches" in caption
    heads = ", ".join(str(h) for h in range(len(last)))
    assert f"heads {heads}: on the object's edges" in caption and "clutter" not in caption
    depth = [attention[i, :, 0, 1:].mean(0).reshape(8, 8) for i in range(len(attention))]
    depth.append(plain_rollout_cls(attention)[1:].reshape(8, 8))
    listed = ", ".join(f"{name} {100 * plain_target_share(m, mask, 8):.0f}%" for name, m in
                       zip([f"layer {i} (mean of heads)" for i in range(len(attention))] + ["rollout"], depth))
    assert listed in figures["by_layer"][1]
    for fig, _ in figures.values():
        plt.close(fig)


def colour_at(pixels, transform, x, y):
    """The RGB of a rendered figure at data point (x, y) of an axes (``transform``: its data transform)."""
    column, row = transform.transform((x, y))
    return pixels[int(pixels.shape[0] - row), int(column)]


def test_map_colours_are_the_colour_bars_colours_for_known_values():
    """A map with known values (0, 1/15, ..., 1) over a mid-grey image: every cell must show the colour the
    colour map gives its value — and the colour bar at that value (a 60 % blend over the image did not)."""
    import matplotlib
    import matplotlib.pyplot as plt

    from attnviz.vit_figures import PatchAttention

    matplotlib.use("Agg")
    n = 1 + 16  # [CLS] + a 4 × 4 grid of 16-pixel patches
    attention = np.full((1, 1, n, n), 1.0 / n)
    known = np.linspace(0, 1, 16)
    values = 0.5 * known / known.sum()  # the [CLS] row on the patches: half of its attention
    attention[0, 0, 0] = np.concatenate([[0.5], values])  # [CLS] keeps the other half
    result = PatchAttention(attention, np.full((64, 64, 3), 0.5), (4, 4), 16, 1)
    viz = ViTAttentionVisualizer()
    fig = viz._overlay_figure(result, [(values.reshape(4, 4), "known")])
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)  # (height, width, 3)
    ax = next(a for a in fig.axes if len(a.images) == 2)
    bar = ax.images[1].colorbar
    cmap = plt.get_cmap(viz.cmap)
    for k in range(1, 15):  # inside the bar's ends, where its outline is drawn
        row, col = divmod(k, 4)
        cell = colour_at(pixels, ax.transData, 16 * col + 8, 16 * row + 8)
        expected = np.round(np.array(cmap(values[k] / values.max())[:3]) * 255)
        on_bar = colour_at(pixels, bar.ax.transData, np.mean(bar.ax.get_xlim()), values[k])
        assert np.abs(cell - expected).max() <= 3, (k, cell, expected)
        assert np.abs(cell - on_bar).max() <= 8, (k, cell, on_bar)  # the bar's colour steps are finite
    plt.close(fig)


def test_random_vit_map_colours_are_on_its_colour_bars(vit):
    """The same on the lesson's own figure: cells of each panel (those away from the bar's ends, where its
    frame is drawn) show the colour of that panel's colour bar at the cell's value."""
    import matplotlib.pyplot as plt

    noise = np.random.default_rng(1).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)  # varied weights
    fig = ViTAttentionVisualizer().visualize_patch_attention(vit, noise, patch_size=16, head_idx=2)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    checked = 0
    for ax in (a for a in fig.axes if len(a.images) == 2):
        image = ax.images[1]
        values = np.asarray(image.get_array())
        inner = np.argwhere((values > 0.05 * values.max()) & (values < 0.95 * values.max()))  # (cells, 2)
        for row, col in inner[:: max(1, len(inner) // 5)]:
            cell = colour_at(pixels, ax.transData, 16 * col + 8, 16 * row + 8)
            bar = image.colorbar
            on_bar = colour_at(pixels, bar.ax.transData, np.mean(bar.ax.get_xlim()), values[row, col])
            assert np.abs(cell - on_bar).max() <= 8, (ax.get_title(), cell, on_bar)
            checked += 1
    assert checked >= 3, "at least one cell per panel"
    plt.close(fig)


def test_first_hits_and_misses_by_hand():
    from attnviz.vit_figures import first_hits_and_misses

    hits = np.array([True, False, True, True, False, True, True])
    shown_hits, shown_misses = first_hits_and_misses(hits, 3)
    assert shown_hits.tolist() == [0, 2, 3] and shown_misses.tolist() == [1, 4]
    with pytest.raises(ValueError, match="hits"):
        first_hits_and_misses(hits.astype(int), 3)
    with pytest.raises(ValueError, match="k"):
        first_hits_and_misses(hits, 0)


def test_pointing_examples_show_hits_and_misses_in_test_set_order():
    import matplotlib.pyplot as plt

    from attnviz.training import shapes
    from attnviz.vit_figures import pointing_examples

    data = shapes.make_images(9, seed=2)
    hits = np.array([False, True, True, False, True, True, True, True, False])
    maps = np.random.default_rng(0).random((9, 8, 8))
    game = {"hits": {"rollout": hits}, "rollout_maps": maps, "logits": np.eye(4)[data.labels]}
    fig, caption = pointing_examples(data, game, list(shapes.CLASSES), k=2)
    top = [ax.get_title() for ax in fig.axes[:4]]
    bottom = [ax.get_title() for ax in fig.axes[4:8]]
    assert [t.split(":")[0] for t in top] == ["#1", "#2", "#0", "#3"], "first 2 hits, then first 2 misses"
    assert bottom == ["hit", "hit", "miss", "miss"]
    assert "first 2 hits and the first 2 of its 3 misses among 9 test images" in caption
    np.testing.assert_allclose(fig.axes[6].images[1].get_array(), maps[0])
    plt.close(fig)
    _, caption = pointing_examples(data, game, list(shapes.CLASSES), k=3)
    assert "first 3 hits and all 3 of its misses" in caption
    game["hits"]["rollout"] = np.ones(9, dtype=bool)
    fig, caption = pointing_examples(data, game, list(shapes.CLASSES), k=2)
    assert "no misses" in caption and len(fig.axes) == 4
    plt.close("all")


# ------------------------------------------------------------------------- issue 14: bad input, every entry
from bad_attention import PROPERTY_SETTINGS, assert_rejects, each_bad_attention  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MAP_KINDS = ("nan", "inf", "negative", "empty", "extra_dim", "missing_dim", "wrong_keys", "string", "none")


@each_bad_attention((2, 2, 5, 5))
def test_cls_patch_maps_rejects_bad_attention(bad):
    _, array = bad
    assert_rejects(lambda: cls_patch_maps(array, (2, 2), n_prefix=1), "attention")


@each_bad_attention((2, 2, 5, 5))
def test_rollout_map_rejects_bad_attention(bad):
    _, array = bad
    assert_rejects(lambda: rollout_map(array, (2, 2), n_prefix=1), "attention")


@each_bad_attention((2, 2, 5, 5))
def test_patch_attention_rejects_bad_attention(bad):
    from attnviz.vit_figures import PatchAttention

    _, array = bad
    assert_rejects(lambda: PatchAttention(array, np.zeros((4, 4, 3)), (2, 2), 2, 1), "attention")


def valid_masks(n=3, size=4):
    """``n`` pixel masks of ``size × size``, each with its object in a different corner."""
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        masks[i, (i % 2) * (size // 2), (i // 2 % 2) * (size // 2)] = True
    return masks


@each_bad_attention((3, 2, 2), kinds=MAP_KINDS)
def test_pointing_hits_and_target_shares_reject_bad_maps(bad):
    """Maps need not sum to 1 (only the strongest patch counts), so no "unnormalised"/"transposed" here."""
    from advanced.vit_attention import target_shares

    kind, array = bad
    names = ("maps", "object_masks") if kind == "wrong_keys" else ("maps",)  # a 2 × 1 grid fits no mask
    assert_rejects(lambda: pointing_hits(array, valid_masks()), *names)
    assert_rejects(lambda: target_shares(array, valid_masks()[0]), *(names + ("object_mask",)))


MASK_KINDS = ("nan", "half", "255", "two_dims", "one_too_many", "empty_mask", "not_square_patches", "string",
              "none", "no_pixels")


def spoil_masks(kind, seed):
    masks = valid_masks().astype(float)
    index = seed % len(masks)
    if kind == "nan":
        masks[index, 0, 0] = np.nan
    elif kind == "half":
        masks[index, 1, 1] = 0.5
    elif kind == "255":
        masks = masks * 255  # a PNG read as 0/255
    elif kind == "two_dims":
        masks = masks[index]
    elif kind == "one_too_many":
        masks = np.concatenate([masks, masks[:1]])
    elif kind == "empty_mask":
        masks[index] = 0
    elif kind == "not_square_patches":
        masks = np.concatenate([masks, masks[:, :1]], axis=1)  # 5 × 4 pixels
    elif kind == "string":
        return "masks"
    elif kind == "none":
        return None
    elif kind == "no_pixels":
        masks = masks[:, :0, :0]
    return masks


bad_object_masks = st.tuples(st.sampled_from(MASK_KINDS), st.integers(0, 2**16)).map(
    lambda pair: (pair[0], spoil_masks(*pair)))


def rejects_masks(masks):
    """``pointing_hits`` on valid maps must refuse ``masks``, naming ``object_masks``."""
    maps = np.random.default_rng(0).random((3, 2, 2))
    assert_rejects(lambda: pointing_hits(maps, masks), "object_masks")


@PROPERTY_SETTINGS
@given(bad=bad_object_masks)
def test_pointing_hits_rejects_bad_object_masks(bad):
    rejects_masks(bad[1])


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_every_kind_of_bad_object_mask_is_rejected(kind):
    """Each kind once, explicitly (hypothesis's 15 draws may miss one)."""
    rejects_masks(spoil_masks(kind, 1))


IMAGE_KINDS = ("two_dims", "four_dims", "no_rows", "no_columns", "float_0_255", "nan", "inf", "one_channel",
               "two_channels", "five_channels", "negative", "int_above_255", "bool")


@st.composite
def bad_images(draw):
    """``(kind, array)``: an image array spoiled one way, of a drawn size."""
    kind = draw(st.sampled_from(IMAGE_KINDS))
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    image = rng.random((height, width, 3))  # a valid float image in [0, 1)
    if kind == "two_dims":
        return kind, image[..., 0]
    if kind == "four_dims":
        return kind, image[None]
    if kind == "no_rows":
        return kind, image[:0]
    if kind == "no_columns":
        return kind, image[:, :0]
    if kind == "float_0_255":
        return kind, image * 255 + 1.5  # the max is above 1 for sure
    if kind in ("nan", "inf"):
        image[rng.integers(height), rng.integers(width), rng.integers(3)] = np.nan if kind == "nan" else np.inf
        return kind, image
    if kind.endswith("channels") or kind == "one_channel":
        channels = {"one_channel": 1, "two_channels": 2, "five_channels": 5}[kind]
        return kind, rng.random((height, width, channels))
    if kind == "negative":
        image[0, 0, 0] = -0.25
        return kind, image
    if kind == "int_above_255":
        return kind, (image * 300).astype(np.int64) + 256  # every value above 255
    return kind, image > 0.5  # bool


@PROPERTY_SETTINGS
@given(bad=bad_images())
def test_image_entry_points_reject_bad_images(bad):
    from transformers import ViTConfig

    from attnviz.kinds import as_pil, pixel_values

    _, image = bad
    config = ViTConfig(image_size=16, patch_size=8)
    assert_rejects(lambda: as_pil(image), "image")
    assert_rejects(lambda: pixel_values(image, config), "image")


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_every_kind_of_bad_image_is_rejected(kind):
    """Each kind once, explicitly (hypothesis's 15 draws may miss one)."""
    from attnviz.kinds import as_pil

    rng = np.random.default_rng(0)
    image = rng.random((5, 6, 3))
    spoiled = {"two_dims": image[..., 0], "four_dims": image[None], "no_rows": image[:0], "no_columns": image[:, :0],
               "float_0_255": image * 255 + 1.5, "nan": np.where(image > 0.9, np.nan, image),
               "inf": np.where(image > 0.9, np.inf, image), "one_channel": image[..., :1],
               "two_channels": image[..., :2], "five_channels": np.concatenate([image, image[..., :2]], -1),
               "negative": image - 0.5, "int_above_255": (image * 300).astype(np.int64) + 256,
               "bool": image > 0.5}[kind]
    assert_rejects(lambda: as_pil(spoiled), "image")


def test_a_float_image_in_0_255_is_rejected_with_what_to_do(vit):
    image = np.asarray(two_colour_image(), dtype=np.float64)  # 0..255 as floats: the classic mistake
    error = assert_rejects(lambda: ViTAttentionVisualizer().attend(vit, image), "image")
    assert "float images must be in [0, 1]; got max 255 — pass a uint8 array or divide by 255" in str(error)


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 2**16), height=st.integers(1, 40), width=st.integers(1, 40))
def test_a_float_image_in_0_1_is_the_same_picture_as_its_uint8(seed, height, width):
    """Floats in [0, 1] are scaled by 255 exactly as a uint8 image is read: the same pixel values."""
    from transformers import ViTConfig

    from attnviz.kinds import pixel_values

    as_bytes = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    config = ViTConfig(image_size=16, patch_size=8)
    np.testing.assert_array_equal(pixel_values(as_bytes / 255.0, config).numpy(),
                                  pixel_values(as_bytes, config).numpy())
    np.testing.assert_array_equal(pixel_values(as_bytes.astype(np.int64), config).numpy(),
                                  pixel_values(as_bytes, config).numpy())


def test_nan_pixel_values_are_rejected(vit):
    pixels = torch.zeros(1, 3, 224, 224)
    pixels[0, 1, 5, 5] = float("nan")
    assert_rejects(lambda: ViTAttentionVisualizer().attend(vit, pixels), "image")


def unreadable_files(folder):
    """Files that are not a readable image, each with what its error message must say."""
    from PIL import Image

    Image.new("RGB", (40, 40), "red").save(folder / "good.png")
    whole = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (folder / "notes.txt").write_text("not an image\n", encoding="utf-8")
    (folder / "a_folder.png").mkdir()
    return {"truncated.png": "cannot read", "garbage.png": "cannot read", "notes.txt": "cannot read",
            "a_folder.png": "is not a file"}


def test_unreadable_image_files_are_one_value_error_naming_the_path(tmp_path, monkeypatch):
    from PIL import Image

    from attnviz.kinds import as_pil

    for name, says in unreadable_files(tmp_path).items():
        error = assert_rejects(lambda name=name: as_pil(tmp_path / name), "image")
        assert str(tmp_path / name) in str(error) and says in str(error), str(error)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1600 pixels > twice the limit: PIL's bomb guard
    error = assert_rejects(lambda: as_pil(tmp_path / "good.png"), "image")
    assert "decompression bomb" in str(error) and str(tmp_path / "good.png") in str(error)


@pytest.fixture(scope="module")
def small_vit_folder(tmp_path_factory):
    """A random 64-pixel ViT saved with its processor, as ``--model`` takes it."""
    from transformers import ViTImageProcessor

    folder = tmp_path_factory.mktemp("small_vit")
    random_vit(image_size=64, patch_size=8, num_labels=4).save_pretrained(folder)
    ViTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


def test_cli_bad_image_is_one_line_and_exit_2(small_vit_folder, tmp_path, capsys, monkeypatch):
    from PIL import Image

    from advanced.vit_attention import main
    from attnviz.cli import run_lesson

    files = unreadable_files(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for name in [*files, "good.png"]:  # good.png is a bomb under the lowered limit
        code = run_lesson(main, ["--model", str(small_vit_folder), "--image", str(tmp_path / name),
                                 "--test-set", str(tmp_path / "no_test_set"), "--out", str(tmp_path / "out")])
        message = capsys.readouterr().err.strip()
        assert code == 2 and len(message.splitlines()) == 1 and message.startswith("error: image:"), message
        assert str(tmp_path / name) in message


# ------------------------------------------------------------ issue 14: kinds.attention_from_model's text
def tiny_bart():
    """A randomly initialised tiny BART (64 positions) with the MiniLM tokenizer, as a ``LoadedModel``."""
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    from attnviz.models import LoadedModel, default_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    torch.manual_seed(0)
    config = BartConfig(vocab_size=tokenizer.vocab_size, d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                        decoder_ffn_dim=32, max_position_embeddings=64, decoder_start_token_id=tokenizer.cls_token_id,
                        pad_token_id=tokenizer.pad_token_id, attn_implementation="eager")
    return LoadedModel(BartForConditionalGeneration(config).eval(), tokenizer, "random-bart", "seq2seq",
                       torch.device("cpu"))


def test_attention_from_model_takes_one_text_and_truncates_a_long_target_with_a_warning():
    from attnviz.kinds import attention_from_model

    loaded = tiny_bart()
    error = assert_rejects(lambda: attention_from_model(loaded, ["a cat", "the dog sat down here"]), "text")
    assert "one text" in str(error), "a list is refused, not cut to its first text"
    assert_rejects(lambda: attention_from_model(loaded, None), "text")
    assert_rejects(lambda: attention_from_model(loaded, "a cat", target=""), "target")
    long_target = " ".join(["2026"] * 200)  # far more than the decoder's 64 positions
    with pytest.warns(UserWarning, match="target of .* tokens is longer than the model's limit of 64"):
        got = attention_from_model(loaded, "twenty first of may", target=long_target)
    assert len(got["decoder_tokens"]) == 64 and got["cross_attention"].shape[2] == 64


def test_class_names_and_batch_size_are_checked(vit):
    from attnviz.kinds import vision_attention

    image = two_colour_image()
    assert_rejects(lambda: ViTAttentionVisualizer().visualize_patch_attention(vit, image, class_names=["one"]),
                   "class_names")  # the random ViT has 2 classes
    pixels = ViTAttentionVisualizer().preprocess(image, vit)
    for bad in (0, -3, 2.5, True):
        assert_rejects(lambda bad=bad: vision_attention(vit, pixels, batch_size=bad), "batch_size")
    assert_rejects(lambda: vision_attention(vit, pixels[0]), "pixels")
    assert_rejects(lambda: vision_attention(vit, np.zeros((1, 3, 224, 224))), "pixels")


def test_an_empty_image_gets_no_prediction(vit):
    from PIL import Image

    for empty in (np.zeros((0, 0, 3), dtype=np.uint8), Image.new("RGB", (0, 0)), np.zeros((5, 0, 3))):
        error = assert_rejects(lambda empty=empty: ViTAttentionVisualizer().attend(vit, empty), "image")
        assert "empty" in str(error)


@pytest.mark.parametrize(("grid", "n_prefix", "name"), [((2, 3), -1, "n_prefix"), ((2, 3), 0, "n_prefix"),
                                                        ((0, 0), 5, "grid"), ((2,), 1, "grid"),
                                                        ((2.0, 2.0), 1, "grid"), ("2x2", 1, "grid"),
                                                        ((2, 2), True, "n_prefix")])
def test_bad_grid_or_prefix_count_is_rejected(grid, n_prefix, name):
    """(2, 3) with n_prefix=-1 used to match 5 tokens and slice the wrong ones silently."""
    attention = np.full((2, 5, 5), 0.2)
    assert_rejects(lambda: cls_patch_maps(attention, grid, n_prefix=n_prefix), name)
    assert_rejects(lambda: rollout_map(attention[None], grid, n_prefix=n_prefix), name)
