"""The zoo: tiny random-weight checkpoints of every mainstream family, through extraction and the lessons.

Issue 12 asks that every family works in every lesson of its kind. This file records where that stands:

* the zoo's checkpoints are what they claim (grouped-query attention, no pad token, register tokens, ...),
  checked against the configs' published meaning and against the weights themselves;
* ``attnviz``'s extraction gives canonical ``(L, B, H, Q, K)`` attention with rows that sum to 1 for each;
* each lesson × family that works today is run through the lesson's ``main()`` and its outputs are checked;
  each that fails today is an ``xfail(strict=True)`` with the error it gives, so that a fix shows up as
  XPASS — and then the mark must go. The measured matrix is in the closing note of issue 12.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from zoo import (
    FAMILIES,
    HEADS,
    IMAGE,
    KV_HEADS_GQA,
    LAYERS,
    N_REGISTERS,
    PATCH,
    build_zoo,
    lesson_runs,
    names_of_kind,
    run_lesson_main,
)

TEXT = "The cat sat on the mat because it was tired."
TEXT_FAMILIES = names_of_kind("encoder") + names_of_kind("causal-lm")
VISION_FAMILIES = names_of_kind("vit")
# Tokens before the patches, from each architecture's paper: ViT, BEiT and DINOv2 prepend [CLS]; DeiT adds a
# distillation token after it; DINOv2 with registers adds its register tokens after [CLS].
PREFIX_TOKENS = {"vit": 1, "beit": 1, "dinov2": 1, "deit": 2, "dinov2-registers": 1 + N_REGISTERS}


@pytest.fixture(scope="session")
def zoo(tmp_path_factory) -> dict:
    """Every family of the zoo, built once per test session into a temporary folder: ``{name: folder}``."""
    return build_zoo(tmp_path_factory.mktemp("zoo"))


def _load(folder, kind):
    from attnviz.models import load_model

    return load_model(folder, kind=kind, device="cpu")


def _check_rows(attention: np.ndarray, mask: np.ndarray | None = None) -> None:
    """Every row of every real query is a probability distribution over the keys."""
    assert np.isfinite(attention).all() and (attention >= 0).all()
    sums = attention.sum(-1)  # (L, B, H, Q)
    if mask is not None:  # padding query rows hold whatever the model left there
        sums = sums[:, mask.astype(bool)[:, None, :].repeat(attention.shape[2], 1)]
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)


# --- (a) the checkpoints are what they claim ------------------------------------------------------------

def test_zoo_has_every_family_of_the_issue(zoo):
    assert set(names_of_kind("encoder")) == {"bert", "roberta", "distilbert", "electra", "albert", "deberta-v2"}
    assert set(names_of_kind("causal-lm")) == {"gpt2", "gpt-neox", "llama", "qwen2", "opt", "bloom"}
    assert set(names_of_kind("seq2seq")) == {"bart", "t5", "marian", "pegasus"}
    assert set(VISION_FAMILIES) == {"vit", "deit", "dinov2", "dinov2-registers", "beit"}
    assert set(names_of_kind("unsupported")) == {"swin", "convnext"}
    for name, folder in zoo.items():
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file(), name


@pytest.mark.parametrize("name", [n for n in FAMILIES if FAMILIES[n].kind in ("encoder", "causal-lm", "seq2seq")])
def test_text_checkpoint_matches_its_tokenizer(zoo, name):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(zoo[name])
    tokenizer = AutoTokenizer.from_pretrained(zoo[name])
    assert config.vocab_size == len(tokenizer), "every token id must have an embedding row, and no more"
    algorithm = type(tokenizer.backend_tokenizer.model).__name__
    assert algorithm == ("WordPiece" if FAMILIES[name].kind == "encoder" else "BPE")
    if config.pad_token_id is not None:
        assert config.pad_token_id == tokenizer.pad_token_id


@pytest.mark.parametrize("name", ["gpt2", "gpt-neox", "llama"])
def test_these_decoder_tokenizers_have_no_pad_token_like_the_real_ones(zoo, name):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(zoo[name])
    assert tokenizer.pad_token is None and tokenizer.eos_token is not None
    with pytest.raises(ValueError, match="padding token"):  # the error a naive padded batch meets
        tokenizer(["a cat", "the cat sat"], padding=True)


def test_qwen2_uses_grouped_query_attention(zoo):
    model = _load(zoo["qwen2"], "causal-lm").model
    config = model.config
    assert config.num_key_value_heads == KV_HEADS_GQA < config.num_attention_heads == HEADS
    head_dim = config.hidden_size // config.num_attention_heads
    attention = model.model.layers[0].self_attn
    # the weights themselves: K and V project to fewer heads than Q
    assert attention.q_proj.out_features == HEADS * head_dim
    assert attention.k_proj.out_features == attention.v_proj.out_features == KV_HEADS_GQA * head_dim


def test_dinov2_with_registers_has_register_tokens_and_plain_dinov2_has_none(zoo):
    with_registers = _load(zoo["dinov2-registers"], "vit").model
    plain = _load(zoo["dinov2"], "vit").model
    assert with_registers.config.num_register_tokens == N_REGISTERS
    assert tuple(with_registers.dinov2_with_registers.embeddings.register_tokens.shape) == (1, N_REGISTERS, 32)
    assert not hasattr(plain.config, "num_register_tokens")


def _vision(names):
    return list(names)


@pytest.mark.parametrize("name", _vision(VISION_FAMILIES + ["swin", "convnext"]))
def test_image_processor_resizes_to_the_model_input(zoo, name):
    from PIL import Image

    loaded = _load(zoo[name], "vit")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    pixels = loaded.processor(images=image, return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, loaded.model.config.image_size, loaded.model.config.image_size) \
        == (1, 3, IMAGE, IMAGE)


def test_swin_attention_is_windowed_and_convnext_has_none(zoo):
    swin = _load(zoo["swin"], "vit")
    pixels = torch.zeros(1, 3, IMAGE, IMAGE)
    with torch.no_grad():
        layers = swin.model(pixel_values=pixels, output_attentions=True).attentions
    window = swin.model.config.window_size
    # (windows, H, window², window²) per stage: 4 × 4 windows over an 8 × 8 grid, then 1 after merging
    assert [tuple(a.shape) for a in layers] == [(4, 2, window**2, window**2), (1, 2, window**2, window**2)]
    convnext = _load(zoo["convnext"], "vit").model
    assert not any("attention" in type(m).__name__.lower() for m in convnext.modules())


@pytest.mark.parametrize("name", TEXT_FAMILIES)
def test_extraction_gives_canonical_rows_that_sum_to_one(zoo, name):
    from attnviz.extract import transformer_attentions

    kind = FAMILIES[name].kind
    loaded = _load(zoo[name], kind)
    inputs = loaded.tokenizer(TEXT, return_tensors="pt")  # one text: nothing to pad
    n_tokens = inputs["input_ids"].shape[1]
    with torch.no_grad():
        attention = transformer_attentions(loaded.model, dict(inputs)).numpy()
    assert attention.shape == (LAYERS, 1, HEADS, n_tokens, n_tokens)  # (L, B, H, Q, K); GQA too
    _check_rows(attention)
    if kind == "causal-lm":  # the causal mask: no weight on a later key
        assert np.abs(np.triu(attention, k=1)).max() == 0.0


@pytest.mark.parametrize("name", names_of_kind("encoder") + ["opt", "bloom", "qwen2"])
def test_extraction_of_a_padded_batch(zoo, name):
    """Tokenizers with a pad token: a padded batch, real query rows still distributions, no weight on padding keys."""
    from attnviz.extract import transformer_attentions

    loaded = _load(zoo[name], FAMILIES[name].kind)
    inputs = loaded.tokenizer([TEXT, "A cat."], return_tensors="pt", padding=True)
    mask = inputs["attention_mask"].numpy()
    assert mask[1].sum() < mask[0].sum()  # the second text really is padded
    with torch.no_grad():
        attention = transformer_attentions(loaded.model, dict(inputs)).numpy()  # (L, B, H, Q, K)
    _check_rows(attention, mask)
    padding_keys = attention[:, 1][..., mask[1] == 0][:, :, mask[1] == 1]  # (L, H, real Q, pad K)
    assert padding_keys.max() < 1e-6  # DeBERTa-v2 too: only its padding *query* rows differ (uniform over all)


@pytest.mark.parametrize("name", names_of_kind("seq2seq"))
def test_extraction_of_encoder_decoder_attention(zoo, name):
    from attnviz.extract import transformer_attentions

    loaded = _load(zoo[name], "seq2seq")
    inputs = dict(loaded.tokenizer("21 November 2026", return_tensors="pt"))
    n_source = inputs["input_ids"].shape[1]
    start = loaded.model.config.decoder_start_token_id
    inputs["decoder_input_ids"] = torch.tensor([[start, 5, 6]])  # (B=1, T=3)
    with torch.no_grad():
        shapes = {kind: transformer_attentions(loaded.model, inputs, kind=kind).numpy()
                  for kind in ("encoder", "decoder", "cross")}
    assert shapes["encoder"].shape == (LAYERS, 1, HEADS, n_source, n_source)
    assert shapes["decoder"].shape == (LAYERS, 1, HEADS, 3, 3)
    assert shapes["cross"].shape == (LAYERS, 1, HEADS, 3, n_source)  # target rows, source columns
    for attention in shapes.values():
        _check_rows(attention)
    assert np.abs(np.triu(shapes["decoder"], k=1)).max() == 0.0


@pytest.mark.parametrize("name", _vision(VISION_FAMILIES))
def test_vision_extraction_has_prefix_tokens_before_the_patch_grid(zoo, name):
    from attnviz.extract import transformer_attentions

    loaded = _load(zoo[name], "vit")
    pixels = torch.rand(2, 3, IMAGE, IMAGE)
    with torch.no_grad():
        attention = transformer_attentions(loaded.model, {"pixel_values": pixels}).numpy()
    n = (IMAGE // PATCH) ** 2 + PREFIX_TOKENS[name]  # 16 patches + [CLS] (+ distillation / registers)
    assert attention.shape == (LAYERS, 2, HEADS, n, n)
    _check_rows(attention)


# --- (b) and (c): every family through every lesson of its kind -----------------------------------------
#
# Measured on tiny zoo models (issue 12's closing note has the full matrix). A run that works today is checked
# on what it wrote; a run that fails today is an xfail(strict=True) that expects *that* error: when a fix lands
# the test XPASSes (strict: reported as a failure) and its entry below must go. A different error fails outright.
# By default one working family per lesson and one family per distinct failure run (about a minute); set
# ZOO_FULL=1 to run every pair of the matrix (several minutes).

FULL_MATRIX = os.environ.get("ZOO_FULL") == "1"


@dataclass(frozen=True)
class Known:
    """How a lesson × family fails today: the exception type and a stable fragment of its message."""

    error: type
    fragment: str


NO_INTERFACE = Known(TypeError, "has no attention module that uses transformers' AttentionInterface")


def _table() -> dict[tuple[str, str, str], Known]:
    """(lesson module, option, family) -> how it fails today. Everything not listed works (or is refused well)."""
    table = {}

    def fails(module, option, families, known):
        for family in families:
            table[(module, option, family)] = known

    # Fixed by 460ff08 (text side of issue 12): decoders without a pad token and the --layer default in the
    # generic lessons; a ViT given to attention_basics is refused in one line. Fixed since: DeBERTa-v2's padding
    # rows in attention_entropy, head gates for Bloom and DeBERTa-v2 (attnviz/probes.py hooks), DistilBERT and
    # ALBERT blocks in attention_faithfulness, foreign ViT labels in attention_entropy's pruning curve, and
    # DeBERTa-v2 in self_attention_heatmap (it fills its padding *query* rows uniformly over every key; the
    # padding checks now read the real queries' rows only).
    # Models a lesson must refuse in one line (Swin, ConvNeXt, a model of the wrong kind): how they end today.
    # (vit_attention --model already refuses Swin, ConvNeXt and BERT, cross_attention_viz --model GPT-2.)
    return table


KNOWN_FAILURES = _table()
RUNS = lesson_runs()


def _must_refuse(case, name) -> bool:
    """Swin, ConvNeXt and a model of the wrong kind: the lesson should refuse it in one line."""
    return FAMILIES[name].kind not in case.kinds or FAMILIES[name].kind == "unsupported"


# Runs left out of the default selection (ZOO_FULL=1 runs them).
DEFAULT_SKIP: set[tuple[str, str]] = set()


# The working family each lesson option is checked with by default, chosen so that the families spread over the
# lessons (the head and model views are cheap: every family that works there is checked).
#
# Budget (issue 12: "under a minute"; the lead's target: ~90 s on an idle machine). Measured 00:48–01:10 UTC with
# `/usr/bin/time pytest tests/test_zoo.py --durations=30` (load 12–14 on 2 cores): 163 s of CPU for the old
# selection, i.e. ~165 s idle. These runs moved to ZOO_FULL=1, by idle cost (CPU share): cross_attention_viz t5
# ~21 s, attention_comparison albert ~15 s, self_attention_heatmap llama ~9 s, attention_rollout distilbert
# ~8 s, gradient_attention --causal-model llama ~6 s, attention_basics gpt2 ~5 s, gradient_attention --vit-model
# dinov2 ~5 s — about 70 s. What they covered by default is still covered elsewhere: every seq2seq family's
# extraction (part (a)) and bertviz_style run; no-pad decoders, the heatmap's layer default and
# attention_comparison in tests/test_any_model.py.
DEFAULT_WORKING = {
    "attention_basics --model": ["qwen2"], "attention_patterns --model": ["bloom"],
    "multihead_visualization --model": ["opt"], "attention_rollout --model": ["gpt-neox"],
    "attention_flow --model": ["deberta-v2"], "gradient_attention --model": ["roberta"],
    "gradient_attention --vit-model": ["deit"],
    "attention_entropy --model": ["electra"], "integrated_attention --model": ["albert"],
    "attention_faithfulness --model": ["bert"], "vit_attention --model": ["dinov2-registers"],
    "bertviz_style --model": list(FAMILIES),
}


def _selected() -> list:
    """All runs with ZOO_FULL=1; otherwise the working families of :data:`DEFAULT_WORKING`, one family per
    distinct failure of each lesson option, and the refusals through a lesson's main ``--model``."""
    if FULL_MATRIX:
        return RUNS
    chosen, seen_failures = [], set()
    for case, name in RUNS:
        known = KNOWN_FAILURES.get((case.module, case.option, name))
        if (case.label, name) in DEFAULT_SKIP:
            continue
        if _must_refuse(case, name):
            if case.option == "--model":
                chosen.append((case, name))
        elif known is None:
            if name in DEFAULT_WORKING.get(case.label, []):
                chosen.append((case, name))
        elif (case.label, known) not in seen_failures:
            seen_failures.add((case.label, known))
            chosen.append((case, name))
    return chosen


def _param(case, name):
    known = KNOWN_FAILURES.get((case.module, case.option, name))
    marks = [pytest.mark.slow]
    if known is not None:
        marks.append(pytest.mark.xfail(strict=True, raises=known.error,
                                       reason=f"issue 12: {known.error.__name__}: {known.fragment}"))
    return pytest.param(case, name, marks=marks, id=f"{case.label}-{name}")


def _expect_known(case, name, err: BaseException) -> None:
    """Re-raise ``err`` when it is the recorded failure (the xfail); any other error is a new failure."""
    known = KNOWN_FAILURES.get((case.module, case.option, name))
    if known is not None and isinstance(err, known.error) and known.fragment in str(err):
        raise err
    raise AssertionError(f"{case.label} with {name}: unexpected {type(err).__name__}: {err}") from err


def _check_outputs(case, name, out, files: list[str]) -> None:
    """What a working run wrote: every registered file is there and readable, figures have pixels, tables
    have one row per layer × head of the zoo model."""
    from PIL import Image

    assert files, f"{case.label} with {name} registered no output"
    for file in files:
        path = out / file
        assert path.is_file() and path.stat().st_size > 0, f"{file} is registered but empty or missing"
        if file.endswith((".png", ".gif")):
            with Image.open(path) as image:
                assert min(image.size) >= 50, f"{file} is {image.size} pixels"
        if file.endswith(".html"):
            assert "</html>" in path.read_text(encoding="utf-8")[-2000:].lower(), f"{file} is cut short"
    by_head = {"attention_by_head.csv": "model", "gpt2_heads.csv": None}
    import pandas as pd

    for file, column in by_head.items():
        if file in files:
            table = pd.read_csv(out / file)
            rows = table if column is None else table[table[column] == name]
            if column is None and case.option != "--causal-model":
                continue  # gpt2_heads.csv describes the default decoder unless the zoo's was given
            assert len(rows) == LAYERS * HEADS, f"{file}: {len(rows)} rows for {name}, expected {LAYERS}×{HEADS}"
            assert set(zip(rows["layer"], rows["head"])) == {(la, h) for la in range(LAYERS) for h in range(HEADS)}


@pytest.mark.parametrize("case, name", [_param(c, n) for c, n in _selected() if not _must_refuse(c, n)])
def test_family_in_lesson(zoo, tmp_path, case, name):
    try:
        files = run_lesson_main(case, zoo[name], tmp_path)
    except Exception as err:  # noqa: BLE001 - sorted into the recorded failure or a new one
        _expect_known(case, name, err)
    _check_outputs(case, name, tmp_path, files)


@pytest.mark.parametrize("case, name", [_param(c, n) for c, n in _selected() if _must_refuse(c, n)])
def test_lesson_refuses_in_one_line(zoo, tmp_path, capsys, case, name):
    """Issue 12: a model the lesson cannot draw gets one line that says why (not 'offline'), before any work."""
    import importlib
    import json

    from attnviz.cli import run_lesson

    module = importlib.import_module(case.module)
    argv = [case.option, str(zoo[name]), "--out", str(tmp_path), "--device", "cpu", *case.extra]
    try:
        status = run_lesson(module.main, argv)
    except Exception as err:  # noqa: BLE001 - a traceback would reach the student
        _expect_known(case, name, err)
    message = capsys.readouterr().err.strip()
    drawn = json.loads((tmp_path / "manifest.json").read_text())["files"]
    try:
        assert status == 2 and len(message.splitlines()) == 1 and message.startswith("error:"), "not one line"
        assert "offline" not in message, "the problem is the model, not the network"
        assert drawn == [], f"the refusal should come before any work, but {len(drawn)} files were written first"
    except AssertionError as err:
        _expect_known(case, name, AssertionError(f"{err}: {message}"))
