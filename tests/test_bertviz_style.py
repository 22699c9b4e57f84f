"""The interactive views without a browser: what the page stores, checked against plain references.

The browser side (drawing, hover, click, speed) is in ``test_browser.py``.
"""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
from bad_attention import PROPERTY_SETTINGS, assert_rejects, bad_attention
from hypothesis import given

from advanced.bertviz_style import (
    MAX_LINKS,
    THRESHOLD,
    bertviz_page_bytes,
    both_views,
    collect_sets,
    dense_json_bytes,
    display_tokens,
    encode_sets,
    head_view,
    induction_scores,
    main,
    model_view,
    sparsify,
)
from attnviz.cli import run_lesson
from attnviz.views import densify, label_decoder_by_prediction, pack, page_data, read_page_data


def softmax_rows(seed, shape, sharpness=3.0, causal=False):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=shape) * sharpness
    if causal:
        scores = np.where(np.tril(np.ones(shape[-2:], dtype=bool)), scores, -np.inf)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def reference_links(attention, threshold, max_links):
    """The stored links, by a plain loop: per row, the keys with weight >= threshold (and a non-zero
    8-bit value), strongest first, at most max_links, then listed by key position."""
    n_layers, n_heads, n_q, n_k = attention.shape
    counts, keys, weights, mass = [], [], [], []
    for layer in range(n_layers):
        for head in range(n_heads):
            for q in range(n_q):
                row = attention[layer, head, q]
                order = sorted(range(n_k), key=lambda k: -row[k])[:max_links]
                kept = sorted(k for k in order if row[k] >= threshold and round(row[k] * 255) >= 1)
                counts.append(len(kept))
                keys += kept
                weights += [min(255, int(np.rint(row[k] * 255))) for k in kept]
                mass.append(sum(row[k] for k in kept))
    return np.array(counts), np.array(keys), np.array(weights), np.array(mass).reshape(n_layers, n_heads, n_q)


# ------------------------------------------------------------------------------------ sparsify
@pytest.mark.parametrize(("threshold", "max_links"), [(THRESHOLD, MAX_LINKS), (0.05, 3), (0.0, 40)])
def test_sparsify_matches_a_plain_loop(threshold, max_links):
    attention = softmax_rows(0, (2, 3, 7, 40))  # (L, H, Q, K)
    sparse = sparsify(attention, threshold, max_links)
    counts, keys, weights, mass = reference_links(attention, threshold, max_links)
    np.testing.assert_array_equal(sparse["counts"], counts)
    np.testing.assert_array_equal(sparse["keys"], keys)
    np.testing.assert_array_equal(sparse["weights"], weights)
    np.testing.assert_allclose(sparse["kept_mass"], mass, atol=1e-6)


def test_round_trip_error_is_at_most_half_an_8bit_step():
    attention = softmax_rows(1, (2, 2, 9, 9))
    sparse = sparsify(attention, 0.0, 255)  # keep everything
    dense = densify(sparse["counts"], sparse["keys"], sparse["weights"], attention.shape)
    assert np.abs(dense - attention).max() <= 1 / 510 + 1e-9
    sparse = sparsify(attention, 0.1, 255)
    dense = densify(sparse["counts"], sparse["keys"], sparse["weights"], attention.shape)
    dropped = attention < 0.1
    assert np.all(dense[dropped] == 0), "dropped links read back as 0"
    assert np.abs(dense - attention)[~dropped].max() <= 1 / 510 + 1e-9


def test_a_hand_computed_row():
    row = np.array([[[[0.5, 0.3, 0.15, 0.05]]]])  # (L=1, H=1, Q=1, K=4)
    sparse = sparsify(row, threshold=0.1, max_links=2)
    assert sparse["counts"].tolist() == [2]
    assert sparse["keys"].tolist() == [0, 1]  # 0.15 is above the threshold but beyond the 2 strongest
    assert sparse["weights"].tolist() == [128, 76]  # round(127.5) = 128 (round half to even), round(76.5) = 76
    assert sparse["kept_mass"].item() == pytest.approx(0.8)


# ------------------------------------------------------------------------------------ the page
def test_page_carries_the_attention_and_tokens_it_was_given():
    attention = softmax_rows(2, (3, 4, 6, 6))
    tokens = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]
    page = head_view(attention, tokens, layer=-1, heads=[1, 3], title="t")
    data = read_page_data(page.html)
    assert data["mode"] == "head" and data["threshold"] == THRESHOLD and data["max_links"] == MAX_LINKS
    assert data["layer"] == 2 and data["heads"] == [1, 3]
    view = data["views"]["self"]
    assert view["query_tokens"] == tokens and view["key_tokens"] == tokens
    kept = attention >= THRESHOLD
    assert np.abs(view["attention"] - np.where(kept, attention, 0)).max() <= 1 / 510 + 1e-9
    np.testing.assert_allclose(view["kept_mass"], np.where(kept, attention, 0).sum(-1).mean(-1), atol=1e-4)
    assert model_view(attention, tokens).html.count('"mode":"model"') == 1


def test_page_is_self_contained():
    page = head_view(softmax_rows(3, (1, 2, 4, 4)), list("abcd")).html
    assert re.search(r"https?://", page) is None, "the page must not fetch anything"
    assert re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"(?!data:)", page) is None
    assert "<style>" in page and "DecompressionStream" in page


def test_tokens_cannot_break_out_of_the_data_script():
    tokens = ["</script><script>alert(1)</script>", "<!--", "a&b", "Ġthe"]
    page = head_view(softmax_rows(4, (1, 1, 4, 4)), tokens).html
    assert page.count("</script>") == 2, "only the data script and the code script end"
    assert read_page_data(page)["views"]["self"]["query_tokens"] == display_tokens(tokens)


def test_display_tokens():
    assert display_tokens(["Ġthe", "▁cat", " ", "##s", "\n"]) == [" the", " cat", "␣", "##s", "␣"]


def test_jupyter_display_embeds_the_whole_page():
    view = head_view(softmax_rows(5, (1, 1, 3, 3)), ["x", "y", "z"])
    frame = view._repr_html_()
    srcdoc = re.search(r'srcdoc="([^"]*)"', frame).group(1)
    assert html.unescape(srcdoc) == view.html


def test_encoder_decoder_kinds():
    enc = softmax_rows(6, (2, 2, 5, 5))
    dec = softmax_rows(7, (2, 2, 3, 3), causal=True)
    cross = softmax_rows(8, (2, 2, 3, 5))  # (L, H, target, source)
    src, tgt = list("abcde"), list("xyz")
    sets = collect_sets(encoder_attention=enc, decoder_attention=dec, cross_attention=cross, encoder_tokens=src,
                        decoder_tokens=tgt)
    assert [s.id for s in sets] == ["encoder", "decoder", "cross"]
    assert sets[2].query_tokens == tgt and sets[2].key_tokens == src
    data = read_page_data(head_view(encoder_attention=enc, decoder_attention=dec, cross_attention=cross,
                                    encoder_tokens=src, decoder_tokens=tgt).html)
    assert list(data["views"]) == ["encoder", "decoder", "cross"]
    assert data["views"]["cross"]["attention"].shape == (2, 2, 3, 5)
    decoder = data["views"]["decoder"]["attention"]
    assert np.all(np.triu(decoder, k=1) == 0), "a causal decoder stores no link to a later token"


def test_transformers_tuple_and_batch_of_one_are_accepted():
    attention = softmax_rows(9, (2, 3, 4, 4))
    as_tuple = tuple(attention[:, None][layer] for layer in range(2))  # one (1, H, Q, K) per layer
    for passed in (as_tuple, attention[:, None]):
        view = read_page_data(head_view(passed, list("abcd")).html)["views"]["self"]
        assert view["attention"].shape == (2, 3, 4, 4)


def test_budget_raises_the_threshold_and_the_page_says_so():
    sets = collect_sets(softmax_rows(10, (2, 4, 64, 64), sharpness=1.0), [str(i) for i in range(64)])
    with pytest.warns(UserWarning, match="raising the threshold"):
        views, used = encode_sets(sets, THRESHOLD, MAX_LINKS, budget=4000)
    assert used > THRESHOLD
    assert sum(len(v[k]) for v in views for k in ("counts", "keys", "weights")) <= 4000


def test_dense_json_bytes_is_the_length_of_the_json_text():
    attention = softmax_rows(11, (2, 3, 5, 5)).astype(np.float32)
    assert dense_json_bytes(attention) == len(json.dumps(attention.tolist()))
    estimate = dense_json_bytes(softmax_rows(12, (4, 4, 20, 20)), sample_heads=8)
    exact = len(json.dumps(softmax_rows(12, (4, 4, 20, 20)).astype(np.float32).tolist()))
    assert abs(estimate - exact) / exact < 0.02


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("kwargs", "match"), [
    ({"attention": np.ones((2, 4, 4)) / 4, "tokens": list("abcd")}, "attention: got 3 dimensions"),
    ({"attention": softmax_rows(0, (1, 2, 4, 4)), "tokens": list("abc")}, "tokens: got 3 tokens"),
    ({"attention": softmax_rows(0, (1, 2, 4, 5)), "tokens": list("abcd")}, "must be square"),
    ({"attention": np.full((1, 1, 2, 2), np.nan), "tokens": list("ab")}, "NaN"),
    ({"attention": softmax_rows(0, (1, 2, 2, 4, 4)), "tokens": list("abcd")}, "batch of 2"),
    ({"attention": softmax_rows(0, (1, 1, 3, 3)) * 2, "tokens": list("abc")}, "rows must sum to 1"),
    ({"attention": softmax_rows(0, (1, 1, 3, 3)), "tokens": list("abc"), "threshold": 1.5}, "threshold"),
    ({"attention": softmax_rows(0, (1, 1, 3, 3)), "tokens": list("abc"), "max_links": 300}, "max_links"),
    ({"attention": softmax_rows(0, (1, 1, 3, 3)), "tokens": list("abc"), "layer": 1}, "layer: index 1"),
    ({"attention": softmax_rows(0, (1, 1, 3, 3)), "tokens": list("abc"), "view": "cross"}, "view: got 'cross'"),
    ({"encoder_attention": softmax_rows(0, (1, 1, 3, 3)), "encoder_tokens": list("abc"),
      "decoder_tokens": list("xy"), "cross_attention": softmax_rows(0, (1, 1, 3, 2))}, "transpose"),
    ({"cross_attention": softmax_rows(0, (1, 1, 2, 3))}, "needs encoder_tokens"),
    ({}, "nothing to show"),
])
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        head_view(**kwargs)


def test_tokens_as_one_string_is_a_type_error():
    with pytest.raises(TypeError, match="tokens: expected a list of strings"):
        head_view(softmax_rows(0, (1, 1, 3, 3)), "abc")


# ------------------------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def minilm_reference():
    """MiniLM's attention for a text, straight from transformers (not through the lesson's code)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from attnviz.models import default_encoder_path

    path = default_encoder_path()
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    text = "Attention heads read different things."
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        attention = torch.stack(model(**inputs, output_attentions=True).attentions)[:, 0].numpy()
    return text, attention, tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])


def test_cli_writes_both_views_of_the_text_file(tmp_path, minilm_reference):
    text, attention, tokens = minilm_reference
    source = tmp_path / "input.txt"
    source.write_text(text + "\n")
    assert run_lesson(main, ["--text-file", str(source), "--out", str(tmp_path / "views")]) == 0
    written = sorted(p.name for p in (tmp_path / "views").iterdir())
    assert written == ["head_view.html", "manifest.json", "model_view.html"]
    for name, mode in (("head_view.html", "head"), ("model_view.html", "model")):
        data = read_page_data((tmp_path / "views" / name).read_text())
        assert data["mode"] == mode
        view = data["views"]["self"]
        assert view["query_tokens"] == display_tokens(tokens)
        stored = np.where(attention >= THRESHOLD, attention, 0)
        assert np.abs(view["attention"] - stored).max() <= 1 / 510 + 1e-6


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert run_lesson(main, ["--text-file", str(tmp_path / "missing.txt"), "--out", str(tmp_path)]) == 2
    assert "--text-file:" in capsys.readouterr().err
    assert run_lesson(main, ["--threshold", "2", "--out", str(tmp_path)]) == 2
    assert "threshold: got 2.0" in capsys.readouterr().err


def test_encoder_decoder_model_gives_three_kinds_matching_a_direct_call():
    """A randomly initialised tiny BART (with the MiniLM tokenizer) through attention_from_model."""
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    from advanced.bertviz_style import attention_from_model
    from attnviz.models import LoadedModel, default_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    torch.manual_seed(0)
    config = BartConfig(vocab_size=tokenizer.vocab_size, d_model=16, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                        decoder_ffn_dim=32, max_position_embeddings=64, decoder_start_token_id=tokenizer.cls_token_id,
                        pad_token_id=tokenizer.pad_token_id, attn_implementation="eager")
    model = BartForConditionalGeneration(config).eval()
    loaded = LoadedModel(model, tokenizer, "random-bart", "seq2seq", torch.device("cpu"))
    got = attention_from_model(loaded, "twenty first of may", target="2026 05 21")
    inputs = tokenizer("twenty first of may", return_tensors="pt")
    decoder_ids = torch.tensor([[tokenizer.cls_token_id] + tokenizer(text_target="2026 05 21")["input_ids"][:-1]])
    with torch.no_grad():
        out = model(**inputs, decoder_input_ids=decoder_ids, output_attentions=True)
    np.testing.assert_allclose(got["cross_attention"], torch.stack(out.cross_attentions)[:, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(got["encoder_attention"], torch.stack(out.encoder_attentions)[:, 0].numpy(), atol=1e-6)
    assert got["decoder_tokens"] == tokenizer.convert_ids_to_tokens(decoder_ids[0])
    assert got["cross_attention"].shape == (2, 2, len(got["decoder_tokens"]), len(got["encoder_tokens"]))


def test_an_image_model_is_refused_in_one_line(tmp_path, capsys):
    from zoo import build_zoo

    folder = build_zoo(tmp_path / "zoo", ["vit"])["vit"]
    capsys.readouterr()  # what building the checkpoint printed
    assert run_lesson(main, ["--model", str(folder), "--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and "an image model" in message and "vit_attention.py" in message


# ------------------------------------------------------------------- issue 13: the size claim, the decoder rows
def test_a_bertviz_page_is_its_json_twice_and_sample_heads_is_checked():
    attention = softmax_rows(13, (2, 3, 5, 5)).astype(np.float32)
    assert bertviz_page_bytes(attention) == 2 * len(json.dumps(attention.tolist()))
    for bad in (0, -1, 1.5, True, "4"):
        with pytest.raises(ValueError, match="sample_heads: got"):
            dense_json_bytes(attention, sample_heads=bad)
    with pytest.raises(TypeError, match="seed"):
        dense_json_bytes(attention, sample_heads=2, seed=0.5)


def test_docstring_and_caption_sizes_at_512_tokens():
    """The docstring: 6 · 12 · 512² ≈ 18.9 million weights, ≈ 23 bytes each as JSON, ≈ 435 MB of JSON and a
    BertViz page of ≈ 870 MB; the size figure's caption prints the page size it measured."""
    import warnings as _warnings

    import advanced.bertviz_style as lesson
    from advanced.bertviz_style import LONG_TEXT, attention_from_model, page_size_caption
    from attnviz.models import load_model

    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")  # the long text is truncated to 512 tokens, with a warning
        attention = attention_from_model(load_model(None, kind="encoder", device="cpu"), LONG_TEXT)["attention"]
    assert attention.shape == (6, 12, 512, 512) and attention.size / 1e6 == pytest.approx(18.9, abs=0.05)
    one_copy = dense_json_bytes(attention, sample_heads=4)
    assert one_copy / attention.size == pytest.approx(23, abs=1.5), "about 23 bytes per weight"
    assert one_copy / 1e6 == pytest.approx(435, rel=0.03)
    page = bertviz_page_bytes(attention, sample_heads=4) / 1e6
    assert page == pytest.approx(870, rel=0.03)
    doc = " ".join(lesson.__doc__.split())
    assert "about 435 MB of JSON" in doc and "the page is about 870 MB" in doc
    caption = page_size_caption(attention, head_view(attention, [str(i) for i in range(512)]))
    assert f"written twice: {page:.0f} MB" in caption


def test_decoder_rows_are_labelled_by_the_token_they_predict_by_hand():
    dec = softmax_rows(14, (1, 2, 4, 4), causal=True)
    cross = softmax_rows(15, (1, 2, 4, 3))
    inputs = {"encoder_attention": softmax_rows(16, (1, 2, 3, 3)), "decoder_attention": dec,
              "cross_attention": cross, "encoder_tokens": ["<s>", "a", "</s>"],
              "decoder_tokens": ["</s>", "<s>", "x", "</s>"]}  # generated: [start] <s> x </s>
    out = label_decoder_by_prediction(inputs, "</s>", teacher_forced=False)
    assert out["decoder_tokens"] == ["<s>", "x", "</s>"]  # position t is labelled by input t + 1
    np.testing.assert_array_equal(out["decoder_attention"], dec[..., :3, :3])
    np.testing.assert_array_equal(out["cross_attention"], cross[..., :3, :])
    forced = label_decoder_by_prediction({**inputs, "decoder_tokens": ["</s>", "<s>", "x", "y"]}, "</s>",
                                         teacher_forced=True)
    assert forced["decoder_tokens"] == ["<s>", "x", "y", "</s>"]
    assert forced["cross_attention"] is cross
    alone = {"attention": dec[0], "tokens": list("abcd")}  # not an encoder-decoder: unchanged
    assert label_decoder_by_prediction(alone, "</s>", teacher_forced=False) is alone


def test_head_view_and_lesson_2_4_label_decoder_rows_alike():
    """One convention for the seq2seq decoder: the views and the cross-attention lesson name row t by the token
    it predicts, and hold the same cross-attention for it (issue 13)."""
    from advanced.bertviz_style import _views_for
    from attnviz.models import load_model
    from intermediate.cross_attention_viz import cross_attentions

    loaded = load_model(None, kind="seq2seq", device="cpu")
    text = "21 November 2026"
    head, _, _ = _views_for(loaded, text, None, 0, THRESHOLD, MAX_LINKS)
    page = read_page_data(head.html)
    lesson = cross_attentions(loaded.model, loaded.tokenizer, [text])
    n_t, n_s = int(lesson.target_mask[0].sum()), int(lesson.source_mask[0].sum())
    assert page["views"]["cross"]["query_tokens"] == display_tokens(lesson.target_tokens[0][:n_t])
    assert page["views"]["decoder"]["key_tokens"] == display_tokens(lesson.target_tokens[0][:n_t])
    want = lesson.weights[:, 0, :, :n_t, :n_s]  # (L, B, H, T, S) -> (L, H, T, S)
    stored = np.where(want >= THRESHOLD, want, 0)
    assert np.abs(page["views"]["cross"]["attention"] - stored).max() <= 1 / 510 + 1e-5
    assert "labelled by the token they predict" in page_data(head.html)["subtitle"]


# ------------------------------------------------------------------------ issue 14: property tests
SQUARE = (2, 2, 4, 4)  # (L, H, Q, K)
TOKENS = list("abcd")


@PROPERTY_SETTINGS
@given(bad=bad_attention(SQUARE))
def test_views_reject_bad_attention(bad):
    kind, array = bad
    assert_rejects(lambda: sparsify(array), "attention")
    assert_rejects(lambda: dense_json_bytes(array), "attention")
    assert_rejects(lambda: bertviz_page_bytes(array), "attention")
    assert_rejects(lambda: collect_sets(array, TOKENS), "attention", "tokens")
    assert_rejects(lambda: head_view(array, TOKENS), "attention", "tokens")
    assert_rejects(lambda: model_view(array, TOKENS), "attention", "tokens")
    assert_rejects(lambda: both_views(attention=array, tokens=TOKENS, title="t"), "attention", "tokens")
    assert_rejects(lambda: pack(array), "array")


@PROPERTY_SETTINGS
@given(bad=bad_attention((2, 2, 3, 5)))
def test_views_reject_bad_cross_attention(bad):
    kind, array = bad
    assert_rejects(lambda: head_view(cross_attention=array, encoder_tokens=list("abcde"), decoder_tokens=list("xyz")),
                   "cross_attention")
    assert_rejects(lambda: model_view(encoder_attention=array, encoder_tokens=list("abcde")), "encoder_attention",
                   "encoder_tokens")


@PROPERTY_SETTINGS
@given(bad=bad_attention((6,)))
def test_densify_rejects_bad_link_arrays(bad):
    kind, array = bad  # float, NaN, empty, wrong-dimensional ... arrays where integers are expected
    good = sparsify(softmax_rows(17, (1, 1, 2, 6)), 0.0, 255)
    assert_rejects(lambda: densify(array, good["keys"], good["weights"], (1, 1, 2, 6)), "counts")
    assert_rejects(lambda: densify(good["counts"], array, good["weights"], (1, 1, 2, 6)), "keys")
    assert_rejects(lambda: densify(good["counts"], good["keys"], array, (1, 1, 2, 6)), "weights")


def test_densify_rejects_inconsistent_links():
    good = sparsify(softmax_rows(18, (1, 1, 2, 6)), 0.0, 255)
    with pytest.raises(ValueError, match="shape"):
        densify(good["counts"], good["keys"], good["weights"], (1, 1, 2))
    with pytest.raises(ValueError, match="counts: got 2 rows"):
        densify(good["counts"], good["keys"], good["weights"], (1, 1, 3, 6))
    with pytest.raises(ValueError, match="keys: position 5 is beyond the 5 keys"):
        densify(good["counts"], good["keys"], good["weights"], (1, 1, 2, 5))
    with pytest.raises(ValueError, match="keys, weights"):
        densify(good["counts"], good["keys"][:-1], good["weights"], (1, 1, 2, 6))


def test_induction_scores_by_hand():
    tokens = ["a", "b", "a", "b"]  # rows 2 and 3 repeat: their induction keys are 1 and 2
    head0 = np.array([[1, 0, 0, 0], [.5, .5, 0, 0], [.1, .8, .1, 0], [.1, .1, .7, .1]])  # induction
    head1 = np.array([[1, 0, 0, 0], [.5, .5, 0, 0], [.8, .1, .1, 0], [.1, .1, .1, .7]])  # not
    share, weight = induction_scores(np.stack([head0, head1]), tokens)
    np.testing.assert_allclose(share, [1.0, 0.0])
    np.testing.assert_allclose(weight, [(0.8 + 0.7) / 2, (0.1 + 0.1) / 2])
    with pytest.raises(ValueError, match="no token repeats"):
        induction_scores(np.stack([head0]), list("abcd"))


def test_decoder_example_caption_holds_for_the_tiny_gpt2():
    """The caption of the causal decoder example: the last layer's heads are induction heads (measured)."""
    from advanced.bertviz_style import DECODER_SAMPLE, attention_from_model, decoder_caption
    from attnviz.models import load_model

    inputs = attention_from_model(load_model(None, kind="causal-lm", device="cpu"), DECODER_SAMPLE)
    attention, tokens = inputs["attention"], inputs["tokens"]  # (L, H, Q, K)
    share, weight = induction_scores(attention[-1], tokens)
    assert (share >= 0.5).sum() >= attention.shape[1] // 2 and weight.mean() > 0.5, (share, weight)
    first_share, _ = induction_scores(attention[0], tokens)
    assert first_share.max() < share.min(), "the first layer has no induction head: the claim is about depth"
    caption = decoder_caption(attention, tokens)
    assert f"{int((share >= 0.5).sum())} of its {attention.shape[1]} heads" in caption


def test_kept_mass_is_all_of_it_for_a_short_sentence_and_less_at_512():
    """The docstring: the kept links carry all of the attention for a short sentence, less at 512 tokens."""
    import warnings as _warnings

    from advanced.bertviz_style import DEFAULT_TEXT, LONG_TEXT, attention_from_model
    from attnviz.models import load_model

    encoder = load_model(None, kind="encoder", device="cpu")
    short = attention_from_model(encoder, DEFAULT_TEXT)["attention"]
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        long = attention_from_model(encoder, LONG_TEXT)["attention"]
    short_kept = np.where(short >= THRESHOLD, short, 0).sum(-1).mean()  # at most 128 links: all of a short row
    long_kept = sparsify(long)["kept_mass"].mean()
    assert short_kept > 0.995 and long_kept < short_kept - 0.01, (short_kept, long_kept)


@PROPERTY_SETTINGS
@given(bad=bad_attention((4, 4), kinds=("nan", "inf", "empty", "extra_dim", "missing_dim", "wrong_keys",
                                         "string", "none")))
def test_overlay_figure_rejects_bad_patch_maps(bad):
    """attnviz.views.overlay_figure (the ViT lesson's patch maps over the image): a map is not a distribution,
    so unnormalised or negative maps are fine; NaN, Inf and maps not of the grid's shape are not."""
    from attnviz.views import overlay_figure

    kind, patch_map = bad
    image = np.full((16, 16, 3), 0.5)
    assert_rejects(lambda: overlay_figure(image, [(patch_map, "map")], grid=(4, 4), patch_size=4), "panels[0]")


def test_overlay_figure_rejects_a_bad_image_and_grid():
    from attnviz.views import display_tokens as shown_tokens
    from attnviz.views import overlay_figure

    good = [(np.ones((4, 4)) / 16, "map")]
    for image, match in ((np.full((16, 16, 3), 255.0), "divide a 0-255 image by 255"),
                         (np.full((16, 16), 0.5), r"image: got shape \(16, 16\)"),
                         (np.full((16, 16, 3), np.nan), "finite")):
        with pytest.raises(ValueError, match=match):
            overlay_figure(image, good, grid=(4, 4), patch_size=4)
    with pytest.raises(ValueError, match="grid"):
        overlay_figure(np.zeros((16, 16, 3)), good, grid=(4, 0), patch_size=4)
    with pytest.raises(ValueError, match="patch_size"):
        overlay_figure(np.zeros((16, 16, 3)), good, grid=(4, 4), patch_size=0)
    with pytest.raises(TypeError, match="tokens"):
        shown_tokens(None)
    with pytest.raises(TypeError, match="page"):
        read_page_data(None)


def test_encode_sets_budget_is_checked():
    sets = collect_sets(softmax_rows(19, (1, 1, 3, 3)), list("abc"))
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="budget: got"):
            encode_sets(sets, budget=bad)


def test_docstring_threshold_and_opacity_facts():
    """The docstring: τ = 0.002 is about an even spread over 512 tokens; the page has 32 opacity levels, the
    faintest 1/64 (read from views.js, where the drawing happens)."""
    import advanced.bertviz_style as lesson
    from attnviz.views import ASSETS

    assert THRESHOLD == pytest.approx(1 / 512, rel=0.03)
    script = (ASSETS / "views.js").read_text(encoding="utf-8")
    levels = int(re.search(r"var ALPHA_LEVELS = (\d+);", script).group(1))
    assert re.search(r"var alpha = \(a \+ 0\.5\) / ALPHA_LEVELS;", script), "the faintest level is 0.5 / levels"
    doc = " ".join(lesson.__doc__.split())
    assert f"lines at {levels} opacity levels, the faintest 1/{2 * levels} ≈ {100 / (2 * levels):.1f} %" in doc
    assert f"every weight under 1/{levels}" in doc
