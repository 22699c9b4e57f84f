"""The course's four shipped models keep their promises — measured here, on the checkpoints in data/models/.

* tiny-bart-dates and gru-attention-dates: ≥ 98% exact match on fresh dates; BART's cross-attention
  peaks inside the right source field for ≥ 80% of output digits in at least one decoder layer;
* tiny-gpt2-induction: an induction head and a previous-token head (mean attention ≥ 0.5 on their
  targets), found by scanning every head;
* tiny-vit-shapes: ≥ 95% accuracy, and CLS attention rollout points at the target in ≥ 80% of the
  shipped test images;
* the data generators tell the truth (weekday, spans, masks), one training step of every model runs,
  and training is deterministic.

Fresh samples use TEST_SEED, which neither training (seed 0) nor the model cards (seed 1) use. Where a
test reuses a function of ``attnviz.training.evaluate`` it also recomputes a number a plainer way.
"""

from __future__ import annotations

import datetime as dt
import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest
import torch

from attnviz import MODELS_DIR
from attnviz.training import evaluate
from attnviz.training.dates import FIELDS, FORMATS, MONTHS, TARGET_POSITIONS, WEEKDAYS, make_examples
from attnviz.training.repeats import LONGEST_EVAL_HALF

TEST_SEED = 20261121


# ----------------------------------------------------------------------------------------------------
# The date generator
# ----------------------------------------------------------------------------------------------------

# An independent reading of each format with datetime.strptime (which ignores the case of month names).
STRPTIME = {
    "day_month_year": "%d %B %Y",
    "month_day_year": "%B %d, %Y",
    "mon_day_year": "%b %d %Y",
    "day_mon_dot_year": "%d %b. %Y",
    "weekday_month_day_year": "%A, %B %d, %Y",
    "ordinal_of_month_year": "the %d of %B, %Y",
}


def test_every_source_reads_back_as_its_target_date():
    examples = make_examples(3000, TEST_SEED)
    assert {e.format for e in examples} == set(FORMATS), "some format never drawn"
    for e in examples:
        text = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", e.source)  # "21st" -> "21" for strptime
        parsed = dt.datetime.strptime(text, STRPTIME[e.format]).date()
        assert parsed == e.date, f"{e.source!r} reads as {parsed}, example says {e.date}"
        assert e.target == e.date.isoformat() and len(e.target) == 10
        assert 1900 <= e.date.year <= 2099


def test_weekday_names_are_right_for_the_date():
    examples = [e for e in make_examples(3000, TEST_SEED) if e.format == "weekday_month_day_year"]
    assert len(examples) > 100
    for e in examples:
        weekday = e.source.split(",")[0]
        assert weekday == e.date.strftime("%A") == WEEKDAYS[dt.date.fromisoformat(e.target).weekday()], (
            e.source
        )


def test_ordinal_suffixes():
    for e in make_examples(2000, TEST_SEED):
        if e.format == "ordinal_of_month_year":
            day_text = e.field_text("day")
            expected = (
                {1: "st", 2: "nd", 3: "rd"}.get(e.date.day % 10, "th")
                if e.date.day not in (11, 12, 13)
                else "th"
            )
            assert day_text == f"{e.date.day}{expected}", e.source


def test_spans_hold_the_field_text():
    for e in make_examples(2000, TEST_SEED):
        assert e.field_text("year") == str(e.date.year)
        assert re.fullmatch(rf"{e.date.day}(st|nd|rd|th)?", e.field_text("day")), (e.source, e.char_spans)
        month = e.field_text("month")
        assert month.lower() in (MONTHS[e.date.month - 1].lower(), MONTHS[e.date.month - 1][:3].lower())
        spans = sorted(e.char_spans.values())
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "field spans overlap"


def test_token_spans_match_the_bart_tokenizer():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MODELS_DIR / "tiny-bart-dates")
    for e in make_examples(200, TEST_SEED):
        tokens = tokenizer.convert_ids_to_tokens(tokenizer(e.source)["input_ids"])
        for field in FIELDS:
            start, end = e.token_spans[field]
            assert "".join(tokens[start:end]) == e.field_text(field), (e.source, field, tokens[start:end])


def test_generator_is_deterministic():
    assert make_examples(50, 5) == make_examples(50, 5)
    assert make_examples(50, 5) != make_examples(50, 6)


# ----------------------------------------------------------------------------------------------------
# tiny-bart-dates
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bart():
    from transformers import AutoTokenizer, BartForConditionalGeneration

    path = MODELS_DIR / "tiny-bart-dates"
    model = BartForConditionalGeneration.from_pretrained(path, attn_implementation="eager").eval()
    return model, AutoTokenizer.from_pretrained(path)


def test_bart_translates_the_formats_of_the_issue(bart):
    model, tokenizer = bart
    sources = [
        "21 November 2026",
        "November 21, 2026",
        "Nov 21 2026",
        "21 nov. 2026",
        "Saturday, November 21, 2026",
        "the 21st of November, 2026",
    ]
    assert evaluate.bart_translate(model, tokenizer, sources) == ["2026-11-21"] * len(sources)


def test_bart_exact_match_on_fresh_dates(bart):
    model, tokenizer = bart
    examples = make_examples(600, TEST_SEED)
    accuracy = evaluate.bart_exact_match(model, tokenizer, examples)
    assert accuracy >= 0.98, f"exact match {accuracy:.1%} < 98% on fresh dates"


def test_bart_cross_attention_aligns_with_the_fields(bart):
    model, tokenizer = bart
    rates = evaluate.bart_cross_attention_alignment(model, tokenizer, make_examples(400, TEST_SEED + 1))
    assert max(rates.values()) >= 0.80, f"no decoder layer aligns ≥ 80% of digits: {rates}"


def test_bart_alignment_by_a_plain_loop(bart):
    """Recompute the alignment hits of a few dates one digit at a time, without evaluate.alignment_hits."""
    model, tokenizer = bart
    examples = make_examples(12, TEST_SEED + 2)
    attentions, _ = evaluate.bart_cross_attentions(model, tokenizer, examples)  # (L, B, H, T, S)
    for layer in range(attentions.shape[0]):
        hits_by_loop = 0
        for b, e in enumerate(examples):
            n_source = len(e.source) + 2  # <s> + one token per character + </s>
            for field in FIELDS:
                start, end = e.char_spans[field]
                for t in TARGET_POSITIONS[field]:
                    row = [
                        float(np.mean([attentions[layer, b, h, t, s] for h in range(attentions.shape[2])]))
                        for s in range(n_source)
                    ]
                    peak = row.index(max(row))
                    hits_by_loop += start + 1 <= peak < end + 1  # +1: <s> is token 0
        head_mean = attentions[layer].mean(axis=1)
        hits = evaluate.alignment_hits(head_mean, [e.token_spans for e in examples])
        assert hits.sum() == hits_by_loop, f"layer {layer}: alignment_hits disagrees with the plain loop"


# ----------------------------------------------------------------------------------------------------
# gru-attention-dates
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gru():
    from attnviz.gru_attention import GRUAttentionSeq2Seq

    return GRUAttentionSeq2Seq.from_pretrained(MODELS_DIR / "gru-attention-dates")


def test_gru_folder_holds_weights_config_and_vocabulary():
    folder = MODELS_DIR / "gru-attention-dates"
    for name in ("model.safetensors", "config.json", "vocab.json", "README.md"):
        assert (folder / name).is_file(), f"{name} missing from {folder}"


def test_gru_exact_match_on_fresh_dates(gru):
    accuracy = evaluate.gru_exact_match(gru, make_examples(600, TEST_SEED + 3))
    assert accuracy >= 0.98, f"GRU exact match {accuracy:.1%} < 98% on fresh dates"


def test_gru_translate_returns_one_attention_row_per_output_step(gru):
    result = gru.translate("the 21st of November, 2026")
    assert result.output == "2026-11-21"
    assert result.attention.shape == (len(result.output_tokens), len(result.source_tokens))
    assert result.output_tokens == [*"2026-11-21", "</s>"]
    assert result.source_tokens == ["<s>", *"the 21st of November, 2026", "</s>"]
    np.testing.assert_allclose(
        result.attention.sum(axis=1), 1.0, atol=1e-5, err_msg="rows must be distributions"
    )
    # The year digits look at the year: "2026" is source tokens 23 … 26.
    assert all(23 <= result.attention[t].argmax() < 27 for t in range(4)), result.attention[:4].argmax(1)


def test_gru_batched_and_single_translation_agree(gru):
    sources = ["1 Jan 1900", "Wednesday, December 31, 2099", "3 mar. 1999"]
    batch = gru.translate_batch(sources)
    for source, result in zip(sources, batch):
        single = gru.translate(source)
        assert single.output == result.output
        np.testing.assert_allclose(
            single.attention, result.attention, atol=1e-5, err_msg="padding changed attention"
        )


def test_gru_save_and_load_round_trip(gru, tmp_path):
    from attnviz.gru_attention import GRUAttentionSeq2Seq

    gru.save_pretrained(tmp_path)
    again = GRUAttentionSeq2Seq.from_pretrained(tmp_path)
    assert again.translate("21 nov. 2026").output == gru.translate("21 nov. 2026").output == "2026-11-21"


# ----------------------------------------------------------------------------------------------------
# tiny-gpt2-induction
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2():
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(
        MODELS_DIR / "tiny-gpt2-induction", attn_implementation="eager"
    ).eval()


def test_gpt2_tokenizer_names_the_tokens():
    from transformers import AutoTokenizer

    from attnviz.training.repeats import BOS_ID

    tokenizer = AutoTokenizer.from_pretrained(MODELS_DIR / "tiny-gpt2-induction")
    ids = tokenizer("t5 t17 t63")["input_ids"]
    assert ids == [BOS_ID, 5, 17, 63], "the tokenizer must prepend <bos> and map tK to id K"
    assert tokenizer.convert_ids_to_tokens(ids) == ["<bos>", "t5", "t17", "t63"]


def test_gpt2_has_an_induction_head_and_a_previous_token_head(gpt2):
    heads = evaluate.find_induction_heads(gpt2, half=16, n_sequences=100, seed=TEST_SEED)
    layer, head, score = heads["induction"]
    assert score >= 0.5, f"best induction score {score:.2f} (layer {layer}, head {head}) < 0.5"
    prev_layer, prev_head, prev_score = heads["previous_token"]
    assert prev_score >= 0.5, f"best previous-token score {prev_score:.2f} < 0.5"
    assert prev_layer < layer, "the previous-token head should sit below the induction head it feeds"


@pytest.mark.parametrize("half", [7, 20])
def test_gpt2_induction_score_by_a_plain_loop(gpt2, half):
    """Recompute the best heads' scores with explicit loops over sequences and positions."""
    from attnviz.training.repeats import repeated_sequences

    heads = evaluate.find_induction_heads(gpt2, half=half, n_sequences=8, seed=TEST_SEED + half)
    ids = repeated_sequences(8, half, np.random.default_rng(TEST_SEED + half))
    with torch.no_grad():
        attentions = gpt2(input_ids=ids, output_attentions=True).attentions  # L × (B, H, T, T)
    for name, offset in (("induction", lambda i: i - half + 1), ("previous_token", lambda i: i - 1)):
        layer, head, score = heads[name]
        total, count = 0.0, 0
        for b in range(ids.shape[0]):
            for i in range(half + 1, 2 * half + 1):  # second-half positions (<bos> is position 0)
                assert ids[b, i] == ids[b, i - half], "the data is not a repeat"
                total += float(attentions[layer][b, head, i, offset(i)])
                count += 1
        assert total / count == pytest.approx(score, abs=1e-5), f"{name} score disagrees with the plain loop"
        assert total / count >= 0.5, f"{name} head scores {total / count:.2f} on half = {half}"


@pytest.mark.parametrize("half", [16, LONGEST_EVAL_HALF])
def test_gpt2_copies_the_second_half_over_its_whole_context(gpt2, half):
    """Its card says context 64: copying must hold there too (1 + 2·31 = 63 tokens), not only at h = 16."""
    assert 1 + 2 * half <= gpt2.config.n_positions
    accuracy = evaluate.induction_copy_accuracy(gpt2, half=half, n_sequences=100, seed=TEST_SEED)
    assert accuracy >= 0.95, f"predicts only {accuracy:.1%} of the repeated tokens at half length {half}"


# ----------------------------------------------------------------------------------------------------
# tiny-vit-shapes
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vit():
    from transformers import AutoImageProcessor, ViTForImageClassification

    path = MODELS_DIR / "tiny-vit-shapes"
    model = ViTForImageClassification.from_pretrained(path, attn_implementation="eager").eval()
    return model, AutoImageProcessor.from_pretrained(path)


@pytest.fixture(scope="module")
def shapes_test_set():
    from attnviz.training.shapes import load_test_set

    return load_test_set()


def test_shapes_test_set_is_intact(shapes_test_set):
    from attnviz.training.shapes import CARD_SEED, CLASSES, make_images

    paths, data = shapes_test_set
    assert 100 <= len(data) <= 200 and len(paths) == len(data)
    assert data.images.shape[1:] == (64, 64, 3) and data.masks.shape[1:] == (64, 64)
    assert set(np.unique(data.labels)) == set(range(len(CLASSES)))
    assert data.masks.reshape(len(data), -1).sum(1).min() > 50, "a target mask is (nearly) empty"
    regenerated = make_images(len(data), CARD_SEED)  # the generator is deterministic: same seed, same set
    np.testing.assert_array_equal(regenerated.images, data.images)
    np.testing.assert_array_equal(regenerated.masks, data.masks)
    np.testing.assert_array_equal(regenerated.labels, data.labels)


def test_target_mask_is_the_solid_object():
    """Inside a mask the colour is nearly constant (a solid shape); the clutter never is."""
    from attnviz.training.shapes import make_images

    data = make_images(20, TEST_SEED)
    for image, mask in zip(data.images, data.masks):
        assert image[mask].std(axis=0).max() < 12, "target pixels should share one colour"


def test_vit_processor_matches_the_training_normalisation(vit, shapes_test_set):
    from PIL import Image

    from attnviz.training.vit_shapes import to_pixel_values

    _, processor = vit
    paths, data = shapes_test_set
    via_processor = processor(images=[Image.open(p).convert("RGB") for p in paths[:4]], return_tensors="pt")
    torch.testing.assert_close(
        via_processor["pixel_values"], to_pixel_values(data.images[:4]), atol=1e-5, rtol=0
    )


def test_vit_accuracy_and_pointing_game_on_the_test_set(vit, shapes_test_set):
    model, processor = vit
    _, data = shapes_test_set
    scores = evaluate.vit_scores(model, processor, data.images, data.labels, data.masks)
    assert scores["accuracy"] >= 0.95, f"test-set accuracy {scores['accuracy']:.1%} < 95%"
    assert scores["pointing_game"] >= 0.80, (
        f"rollout points at the target in only {scores['pointing_game']:.1%}"
    )


def test_vit_accuracy_on_fresh_images(vit):
    from attnviz.training.shapes import make_images

    model, processor = vit
    data = make_images(400, TEST_SEED)
    scores = evaluate.vit_scores(model, processor, data.images, data.labels, data.masks)
    assert scores["accuracy"] >= 0.95, f"accuracy on fresh images {scores['accuracy']:.1%} < 95%"
    assert scores["pointing_game"] >= 0.80, f"pointing game on fresh images {scores['pointing_game']:.1%}"


def test_rollout_against_a_plain_loop():
    """attention_rollout = product over layers of renormalised (0.5·mean_h A + 0.5·I), written out by hand."""
    rng = np.random.default_rng(0)
    raw = rng.random((3, 2, 4, 5, 5))  # (L, B, H, T, T)
    attentions = raw / raw.sum(-1, keepdims=True)
    fast = evaluate.attention_rollout(attentions)
    for b in range(2):
        rollout = np.eye(5)
        for layer in range(3):
            mixed = np.zeros((5, 5))
            for q in range(5):
                for k in range(5):
                    mixed[q, k] = 0.5 * np.mean(attentions[layer, b, :, q, k]) + 0.5 * (q == k)
                mixed[q] /= mixed[q].sum()
            rollout = mixed @ rollout
        np.testing.assert_allclose(
            fast[b], rollout, atol=1e-12, err_msg="rollout: wrong layer order or no renormalisation?"
        )


def test_pointing_game_on_a_hand_made_case():
    """One image, target in patch (row 2, col 5); CLS attends only to that patch -> a hit, elsewhere -> a miss."""
    tokens = 1 + 64
    mask = np.zeros((1, 64, 64), dtype=bool)
    mask[0, 20:23, 44:46] = True  # rows 16-23 = patch row 2, cols 40-47 = patch col 5
    for target_patch, expected in ((2 * 8 + 5, True), (0, False)):
        attention = np.tile(np.eye(tokens), (1, 1, 1, 1, 1))  # (L=1, B=1, H=1, T, T)
        attention[0, 0, 0, 0] = 0
        attention[0, 0, 0, 0, 1 + target_patch] = 1.0
        assert evaluate.pointing_game(attention, mask)[0] == expected


# ----------------------------------------------------------------------------------------------------
# Training: one step of each model, determinism, sizes, model cards
# ----------------------------------------------------------------------------------------------------


def _tiny_configs():
    from attnviz.training import bart_dates, gpt2_induction, gru_dates, vit_shapes

    return {
        "tiny-bart-dates": (
            bart_dates,
            bart_dates.BartDatesConfig(d_model=16, layers=1, heads=2, ffn_dim=32, steps=2, batch_size=8),
        ),
        "gru-attention-dates": (
            gru_dates,
            gru_dates.GRUDatesConfig(embed_size=8, hidden_size=16, attention_size=16, steps=2, batch_size=8),
        ),
        "tiny-gpt2-induction": (
            gpt2_induction,
            gpt2_induction.GPT2InductionConfig(n_embd=16, n_head=2, n_inner=4, steps=2, batch_size=8),
        ),
        "tiny-vit-shapes": (
            vit_shapes,
            vit_shapes.ViTShapesConfig(hidden_size=16, layers=1, heads=2, mlp_size=32, steps=2, batch_size=8),
        ),
    }


@pytest.mark.parametrize(
    "name", ["tiny-bart-dates", "gru-attention-dates", "tiny-gpt2-induction", "tiny-vit-shapes"]
)
def test_training_steps_run_and_are_deterministic(name):
    module, cfg = _tiny_configs()[name]
    # Training pins the thread count and switches on deterministic kernels; give the other tests theirs back.
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        first = module.train_model(cfg, progress=False)
        second = module.train_model(cfg, progress=False)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    losses = first[-1]
    assert len(losses) == 2 and all(np.isfinite(losses)), losses
    assert losses == second[-1], f"{name}: same seed, different losses"
    for (key, a), (_, b) in zip(first[0].state_dict().items(), second[0].state_dict().items()):
        assert torch.equal(a, b), f"{name}: same seed, different weights in {key}"


def test_shipped_weights_fit_the_budget():
    total = sum(f.stat().st_size for f in MODELS_DIR.glob("*/*.safetensors"))
    assert len(list(MODELS_DIR.glob("*/model.safetensors"))) == 4
    assert total <= 10 * 1024**2, f"shipped weights take {total / 1024**2:.1f} MB > 10 MB"


@pytest.mark.parametrize(
    "name, phrases",
    [
        (
            "tiny-bart-dates",
            ["exact match", "Cross-attention alignment", "python -m attnviz.training tiny-bart-dates"],
        ),
        (
            "gru-attention-dates",
            ["exact match", "alignment", "python -m attnviz.training gru-attention-dates"],
        ),
        ("tiny-gpt2-induction", ["induction head", "previous-token head", "Index convention"]),
        ("tiny-vit-shapes", ["accuracy", "pointing game", "python -m attnviz.training tiny-vit-shapes"]),
    ],
)
def test_model_cards_report_their_figures(name, phrases):
    card = (MODELS_DIR / name / "README.md").read_text(encoding="utf-8")
    for phrase in [*phrases, "parameters", "training time"]:
        assert phrase.lower() in card.lower(), f"{name}/README.md does not mention {phrase!r}"
