"""Issue 12, the text side: any model a student brings works in the text lessons, or is refused in one line.

Tiny random-weight checkpoints of real architectures are built at test time by ``tests/zoo.py`` (no download):

* a tokenizer without a pad token (GPT-2, GPT-NeoX, Llama) pads a batch with its end-of-sequence token, and
  the attention mask says which positions are real — checked against the independent reference of running
  the shorter text alone;
* layer defaults fit any depth (a 2-layer model in ``self_attention_heatmap``, whose default used to be 2);
* a model of the wrong kind is refused in one line that says why and what to use, before any figure, with
  exit status 2, and "offline" only when the network is the problem;
* transformers' load report stays out of the terminal unless ``--verbose``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from zoo import LAYERS, build_zoo

NO_PAD_DECODERS = ("gpt2", "gpt-neox", "llama")
IMAGE_FAMILIES = ("vit", "deit", "dinov2", "dinov2-registers", "beit", "swin", "convnext")
LONG, SHORT = "The cat sat on the mat because it was tired.", "A cat slept."


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> dict:
    """The few zoo families these tests need, built once for the module."""
    return build_zoo(tmp_path_factory.mktemp("zoo"), names=[*NO_PAD_DECODERS, "bert", "bart", *IMAGE_FAMILIES])


def _manifest_files(out) -> list:
    return [entry["file"] for entry in json.loads((out / "manifest.json").read_text())["files"]]


# --- E5: text without a pad token ------------------------------------------------------------------------

@pytest.mark.parametrize("name", NO_PAD_DECODERS)
@pytest.mark.parametrize("kind", ["encoder", "causal-lm"])  # AutoModel (the generic lessons) and ...ForCausalLM
def test_padded_batch_on_a_no_pad_tokenizer_equals_each_text_alone(zoo, name, kind):
    from attnviz.models import load_model
    from beginner.attention_basics import AttentionModel

    model = AttentionModel(str(zoo[name]), device="cpu", kind=kind)
    raw = load_model(zoo[name], kind=kind, device="cpu").tokenizer
    assert raw.pad_token == raw.eos_token  # filled in at load time: the real tokenizer has none (see test_zoo)
    weights, mask, tokens = model.get_batch_attention([LONG, SHORT])  # (L, B, H, T, T), (B, T)
    alone = {text: model.get_attention_weights(text) for text in (LONG, SHORT)}  # (L, H, n, n), unpadded
    n_long, n_short = alone[LONG].shape[-1], alone[SHORT].shape[-1]
    assert n_short < n_long and weights.shape[-1] == n_long
    # the mask marks exactly the real tokens, at the front (right padding)
    np.testing.assert_array_equal(mask[1], [1] * n_short + [0] * (n_long - n_short))
    assert mask[0].all()
    np.testing.assert_allclose(weights[:, 0], alone[LONG], atol=1e-5)
    real = weights[:, 1, :, :n_short, :n_short]  # (L, H, n, n): the shorter text's real queries and keys
    np.testing.assert_allclose(real, alone[SHORT], atol=1e-5)
    assert np.abs(weights[:, 1, :, :n_short, n_short:]).max() < 1e-6  # no real token attends to the padding


@pytest.mark.parametrize("name", NO_PAD_DECODERS)
def test_one_text_is_not_padded(zoo, name):
    from transformers import AutoTokenizer

    from attnviz.models import encode_texts

    tokenizer = AutoTokenizer.from_pretrained(zoo[name])
    assert tokenizer.pad_token is None
    inputs = encode_texts(tokenizer, SHORT)
    assert inputs["attention_mask"].sum().item() == inputs["input_ids"].shape[1] == len(tokenizer(SHORT)["input_ids"])
    batch = encode_texts(tokenizer, [LONG, SHORT])  # a tokenizer loaded elsewhere is fixed on the way
    assert batch["attention_mask"][1].sum().item() == inputs["input_ids"].shape[1]


def test_the_course_decoder_from_the_readme_takes_a_batch():
    """README: ``AttentionModel("tiny-gpt2-induction", kind="causal-lm")`` — its tokenizer has no pad token."""
    from beginner.attention_basics import AttentionModel

    model = AttentionModel("tiny-gpt2-induction", device="cpu", kind="causal-lm")
    weights, mask, _ = model.get_batch_attention([LONG, SHORT])
    n_short = int(mask[1].sum())
    np.testing.assert_allclose(weights[:, 1, :, :n_short, :n_short], model.get_attention_weights(SHORT), atol=1e-5)


# --- E1: defaults that fit any depth ---------------------------------------------------------------------

@pytest.mark.parametrize("layer, n_layers, expected", [
    ("middle", 6, 2), ("middle", 2, 0), ("middle", 1, 0), ("middle", 12, 5),
    ("last", 6, 5), ("last", 2, 1), (-1, 2, 1), (-2, 6, 4), (0, 2, 0)])
def test_layer_defaults_resolve_against_the_depth(layer, n_layers, expected):
    from attnviz.cli import resolve_layer

    assert resolve_layer(layer, n_layers) == expected


def test_an_explicit_layer_out_of_range_is_still_an_error():
    from attnviz.cli import resolve_layer

    with pytest.raises(ValueError, match="layer"):
        resolve_layer(2, 2)


def test_heatmap_default_layer_is_the_middle_one_of_a_two_layer_model(zoo, tmp_path):
    from beginner import self_attention_heatmap

    self_attention_heatmap.main(["--model", str(zoo["bert"]), "--out", str(tmp_path), "--device", "cpu"])
    captions = [e["caption"] for e in json.loads((tmp_path / "manifest.json").read_text())["files"]]
    assert LAYERS == 2 and any("layer 0" in c for c in captions)
    assert not any(f"layer {LAYERS}" in c for c in captions)


# --- E13: a model of the wrong kind, in one line, before any work ----------------------------------------

TEXT_LESSONS = ["beginner.attention_basics", "beginner.self_attention_heatmap", "beginner.attention_patterns",
                "intermediate.multihead_visualization", "intermediate.attention_rollout",
                "intermediate.attention_comparison"]


def _refusal(module_name, argv, tmp_path, capsys):
    import importlib

    from attnviz.cli import run_lesson

    module = importlib.import_module(module_name)
    status = run_lesson(module.main, [*argv, "--out", str(tmp_path), "--device", "cpu"])
    captured = capsys.readouterr()
    return status, captured.err.strip(), _manifest_files(tmp_path)


@pytest.mark.parametrize("module_name", TEXT_LESSONS)
def test_a_vit_in_a_text_lesson_is_refused_in_one_line(zoo, tmp_path, capsys, module_name):
    status, message, drawn = _refusal(module_name, ["--model", str(zoo["vit"])], tmp_path, capsys)
    assert status == 2 and message.count("\n") == 0 and message.startswith("error:")
    assert "ViTForImageClassification" in message and "03_advanced/vit_attention.py" in message
    assert "offline" not in message and drawn == []


@pytest.mark.parametrize("module_name", ["beginner.attention_patterns", "intermediate.attention_comparison"])
def test_an_encoder_decoder_as_causal_model_is_refused(zoo, tmp_path, capsys, module_name):
    status, message, drawn = _refusal(module_name, ["--causal-model", str(zoo["bart"])], tmp_path, capsys)
    assert status == 2 and message.count("\n") == 0
    assert "BartForConditionalGeneration" in message and "encoder-decoder" in message
    assert "cross_attention_viz.py" in message and "offline" not in message and drawn == []


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_every_image_family_is_an_image_model_and_never_a_text_one(zoo, name):
    """BEiT's config has a vocab_size (its masked-image-modelling tokens): it is still an image model."""
    from transformers import AutoConfig

    from attnviz.models import check_model_kind

    config = AutoConfig.from_pretrained(zoo[name])
    check_model_kind(name, config, "vit")  # accepted (Swin and ConvNeXt are refused by the lessons themselves)
    for text_kind in ("encoder", "causal-lm"):
        with pytest.raises(ValueError, match="an image model; this lesson needs"):
            check_model_kind(name, config, text_kind)


@pytest.mark.parametrize("name", ["bert", "gpt2", "bart"])
def test_a_text_model_is_refused_as_an_image_model(zoo, name):
    from transformers import AutoConfig

    from attnviz.models import check_model_kind

    with pytest.raises(ValueError, match="a text model; this lesson needs an image model"):
        check_model_kind(name, AutoConfig.from_pretrained(zoo[name]), "vit")


def test_an_encoder_decoder_in_a_one_stack_lesson_is_refused(zoo, tmp_path, capsys):
    status, message, drawn = _refusal("beginner.attention_basics", ["--model", str(zoo["bart"])], tmp_path, capsys)
    assert status == 2 and message.count("\n") == 0 and "encoder-decoder" in message
    assert "cross_attention_viz.py" in message and "offline" not in message and drawn == []


def test_a_missing_folder_is_no_such_folder_not_offline(tmp_path, capsys):
    status, message, _ = _refusal("beginner.attention_basics", ["--model", str(tmp_path / "nope")],
                                  tmp_path / "out", capsys)
    assert status == 2 and "no such folder" in message
    assert "offline" not in message.replace("offline default", "")


# --- load report and --verbose ---------------------------------------------------------------------------

def test_load_report_is_hidden_unless_verbose(zoo, capfd, caplog):
    """The zoo's BERT is saved with its masked-LM head; AutoModel (a bare BertModel) leaves those weights
    unexpected, which transformers reports as 'LOAD REPORT … UNEXPECTED' (a logged warning)."""
    import logging

    from attnviz.models import load_model

    def shown():  # everything that would reach the terminal: both streams and the log records
        captured = capfd.readouterr()
        text = captured.out + captured.err + caplog.text
        caplog.clear()
        return text

    caplog.set_level(logging.WARNING)
    shown()
    load_model(zoo["bert"], kind="encoder", device="cpu")
    quiet = shown()
    assert "LOAD REPORT" not in quiet and "UNEXPECTED" not in quiet
    assert "Loading weights" not in quiet  # no progress bar either
    load_model(zoo["bert"], kind="encoder", device="cpu", verbose=True)  # the report exists: the test can fail
    loud = shown()
    assert "LOAD REPORT" in loud and "UNEXPECTED" in loud


def test_verbose_is_a_shared_lesson_option(monkeypatch):
    import attnviz.models
    from attnviz.cli import lesson_parser

    monkeypatch.setattr(attnviz.models, "VERBOSE", False)
    parser = lesson_parser("doc", text="x", layer="middle")
    assert parser.parse_args(["--verbose"]).verbose and attnviz.models.VERBOSE is True
    assert not parser.parse_args([]).verbose and attnviz.models.VERBOSE is False
    assert parser.parse_args(["--layer", "-1"]).layer == -1 and parser.parse_args([]).layer == "middle"


# --- E5 / options: attention_comparison takes --text ----------------------------------------------------

def test_attention_comparison_takes_text(zoo, tmp_path, monkeypatch):
    import pandas as pd

    from intermediate import attention_comparison

    seen = []
    original = attention_comparison.encoder_batch

    def spy(model_name, device, sentences):
        seen.append(list(sentences))
        return original(model_name, device, sentences)

    monkeypatch.setattr(attention_comparison, "encoder_batch", spy)
    attention_comparison.main(["--model", str(zoo["bert"]), "--text", LONG, "--text", SHORT,
                               "--out", str(tmp_path), "--device", "cpu"])
    assert seen == [[LONG, SHORT]]
    table = pd.read_csv(tmp_path / "attention_by_head.csv")
    assert len(table[table["model"] == "bert"]) == LAYERS * 4  # 2 layers × 4 heads of the zoo model


def test_attention_comparison_treats_a_decoder_given_as_model_as_causal(zoo, tmp_path):
    """A random-weight decoder spreads each row evenly over the keys its query can see (0 … i), so its entropy
    is log(i + 1): the fraction of the maximum is 1 when the maximum counts the visible keys only (causal),
    and clearly below 1 (about log(i + 1) / log(n)) if the decoder is mistaken for an encoder."""
    import pandas as pd

    from intermediate import attention_comparison

    attention_comparison.main(["--model", str(zoo["gpt2"]), "--out", str(tmp_path), "--device", "cpu"])
    table = pd.read_csv(tmp_path / "attention_by_head.csv")
    fractions = table[table["model"] == "gpt2"]["entropy_fraction"]
    assert len(fractions) == LAYERS * 4 and fractions.min() > 0.95


# --- issue 14: a secondary model that cannot load or is of the wrong kind: exit 2, naming its own option ------

@pytest.mark.parametrize(("module_name", "option"), [
    ("advanced.attention_entropy", "--causal-model"), ("advanced.attention_entropy", "--vit-model"),
    ("advanced.attention_faithfulness", "--causal-model")])
def test_a_secondary_model_that_cannot_load_names_its_own_option(tmp_path, capsys, module_name, option):
    status, message, drawn = _refusal(module_name, [option, str(tmp_path / "nope")], tmp_path / "out", capsys)
    assert status == 2 and message.count("\n") == 0 and message.startswith(f"error: {option}: no such folder")
    assert "skipping" not in message and drawn == []  # refused before any work, not skipped after it


def test_a_text_model_as_vit_model_in_the_entropy_lesson_is_refused_naming_vit_model(zoo, tmp_path, capsys):
    status, message, drawn = _refusal("advanced.attention_entropy", ["--vit-model", str(zoo["swin"])],
                                      tmp_path, capsys)
    assert status == 2 and "Swin" in message and "--vit-model" in message and "--model " not in message
    assert drawn == []


# --- issue 12: a ViT trained on another task is scored on its own predictions --------------------------------

def test_only_the_shapes_labels_in_order_count_as_the_shapes_task(zoo):
    from attnviz.models import load_model
    from attnviz.tasks import knows_the_shapes_task

    assert knows_the_shapes_task(load_model(None, kind="vit", device="cpu").model)  # the course's tiny ViT
    assert not knows_the_shapes_task(load_model(zoo["vit"], kind="vit", device="cpu").model)  # label_0..2

    class Config:  # the right names in the wrong order are another task
        id2label = {0: "square", 1: "circle", 2: "triangle", 3: "cross"}

    assert not knows_the_shapes_task(type("M", (), {"config": Config})())


def test_own_predictions_make_the_intact_model_agree_with_itself(zoo):
    import torch

    from attnviz.models import load_model
    from attnviz.tasks import vit_accuracy, vit_batches, with_own_predictions

    vit = load_model(zoo["deit"], kind="vit", device="cpu")
    batches = vit_batches(vit.processor, 6, batch_size=4, seed=1)  # shapes labels 0..3; DeiT has 3 classes
    relabelled = with_own_predictions(vit.model, batches)
    with torch.no_grad():
        for before, after in zip(batches, relabelled):
            logits = vit.model(pixel_values=before["pixel_values"]).logits  # (B, 3)
            assert after["labels"].tolist() == logits.argmax(-1).tolist()  # by hand
            assert torch.equal(after["pixel_values"], before["pixel_values"])
        assert vit_accuracy(relabelled)(vit.model) == 1.0


def test_faithfulness_finds_the_blocks_of_distilbert_and_albert_by_structure(tmp_path):
    import transformers as tf

    from advanced.attention_faithfulness import layer_stack, randomise_top_down, shares_blocks

    sizes = dict(vocab_size=40, max_position_embeddings=16)
    distil = tf.DistilBertModel(tf.DistilBertConfig(**sizes, dim=16, n_layers=3, n_heads=2, hidden_dim=32))
    assert layer_stack(distil) == list(distil.transformer.layer) and not shares_blocks(distil)
    albert = tf.AlbertModel(tf.AlbertConfig(**sizes, hidden_size=16, num_attention_heads=2, num_hidden_layers=4,
                                            intermediate_size=32, embedding_size=8))
    assert layer_stack(albert) == list(albert.encoder.albert_layer_groups) and shares_blocks(albert)
    randomised = randomise_top_down(albert, 1)  # the one shared block: every layer changes
    before, after = albert.state_dict(), randomised.state_dict()
    changed = {k for k in before if not torch_equal(before[k], after[k])}
    assert changed and all(k.startswith("encoder.albert_layer_groups.0.") for k in changed)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))
