"""Lesson 3.7 — leave-one-out, faithfulness scores, cascading randomisation.

References are written out here: leave-one-out as a loop over positions, raw attention straight from
``output_attentions``, Spearman from ranks by hand, block equality by comparing state dicts.
"""

import numpy as np
import pytest
import torch

from advanced.attention_faithfulness import (
    METHODS,
    Example,
    faithfulness,
    gpt2_examples,
    layer_stack,
    leave_one_out,
    method_rows,
    minilm_examples,
    randomisation_check,
    randomise_top_down,
    rollout_mixing,
    score_attribution,
    standard_error,
    tokens_that_matter,
)
from attnviz.faithfulness_figures import PAPER_LEVEL, REACHED, encoder_caption


def _bert(seed=0, layers=3):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(num_hidden_layers=layers, num_attention_heads=2, hidden_size=16, intermediate_size=32,
                        vocab_size=30, max_position_embeddings=16, attn_implementation="eager")
    return BertModel(config).eval()


WEIGHT = torch.linspace(-1, 1, 16)


def _readout(outputs, attention_mask):
    pooled = (outputs.last_hidden_state * attention_mask[..., None]).sum(1) / attention_mask.sum(1, keepdim=True)
    return torch.tanh(pooled @ WEIGHT)  # (B,)


def _example(ids, blank=1):
    ids = torch.tensor([ids])
    mask = torch.ones_like(ids)
    content = np.ones(ids.shape[1], dtype=bool)
    content[[0, -1]] = False  # "special" tokens at both ends
    return Example(tokens=[str(i) for i in ids[0].tolist()], input_ids=ids, extra=(mask,),
                   model_inputs=lambda i, m: {"input_ids": i, "attention_mask": m}, readout=_readout,
                   row=np.ones(ids.shape[1], dtype=bool), content=content, blank_id=blank)


def _ranks(x):
    order = np.argsort(x)
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    return ranks


def _spearman_by_hand(a, b):  # no ties in these tests
    ra, rb = _ranks(np.asarray(a)), _ranks(np.asarray(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_leave_one_out_matches_a_plain_loop():
    model = _bert()
    example = _example([2, 7, 5, 9, 11, 3])
    got = leave_one_out(model, example)
    with torch.no_grad():
        full = float(_readout(model(input_ids=example.input_ids, attention_mask=example.extra[0]), example.extra[0]))
        for t in range(6):
            if not example.content[t]:
                assert np.isnan(got[t])
                continue
            ids = example.input_ids.clone()
            ids[0, t] = 1
            dropped = float(_readout(model(input_ids=ids, attention_mask=example.extra[0]), example.extra[0]))
            assert got[t] == pytest.approx(full - dropped, abs=1e-6)


def test_raw_attention_rows_are_the_head_mean_of_the_read_rows():
    model = _bert()
    example = _example([2, 7, 5, 9, 3])
    rows = method_rows(model, example, methods=["raw attention", "rollout"])
    with torch.no_grad():
        attentions = model(input_ids=example.input_ids, output_attentions=True).attentions
    want = np.stack([a[0].mean(0).mean(0).numpy() for a in attentions])  # mean over heads, then over rows
    np.testing.assert_allclose(rows["raw attention"], want, atol=1e-6)
    assert rows["rollout"].shape == (3, 5)
    np.testing.assert_allclose(rows["rollout"].sum(-1), 1.0, atol=1e-6)  # the mean of stochastic rows


def test_faithfulness_of_leave_one_out_itself_is_one_and_scores_are_spearman():
    model = _bert(seed=1)
    examples = [_example([2, 7, 5, 9, 11, 13, 3]), _example([2, 4, 8, 6, 10, 3])]
    assert score_attribution(model, lambda m, e: np.nan_to_num(leave_one_out(m, e)), examples) == pytest.approx(1.0)
    assert score_attribution(model, lambda m, e: -np.nan_to_num(leave_one_out(m, e)), examples) == pytest.approx(-1.0)
    result = faithfulness(model, examples, methods=["raw attention", "integrated gradients"], ig_steps=8)
    assert result["scores"]["raw attention"].shape == (3,) and result["scores"]["integrated gradients"].shape == (1,)
    for i, example in enumerate(examples):
        raw = method_rows(model, example, methods=["raw attention"])["raw attention"]
        loo = result["loo"][i]
        want = _spearman_by_hand(raw[2][example.content], loo[example.content])
        assert result["per_example"]["raw attention"][i, 2] == pytest.approx(want, abs=1e-9)
    hits = [float(np.argmax(method_rows(model, e, methods=["raw attention"])["raw attention"][2][e.content])
                  == np.argmax(np.abs(result["loo"][i][e.content]))) for i, e in enumerate(examples)]
    assert result["top1"]["raw attention"][2] == pytest.approx(np.mean(hits))


def test_all_methods_return_one_row_per_layer():
    pytest.importorskip("advanced.gradient_attention")
    model = _bert(seed=2)
    rows = method_rows(model, _example([2, 7, 5, 9, 3]), ig_steps=4)
    assert set(rows) == {"raw attention", "rollout", "flow", "gradient-weighted", "integrated gradients"}
    for name, values in rows.items():
        assert values.shape == ((1, 5) if name == "integrated gradients" else (3, 5)), name
        assert np.isfinite(values).all(), name


def test_randomise_top_down_touches_only_the_top_blocks():
    model = _bert(seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    randomised = randomise_top_down(model, 1)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])  # the original is untouched
    changed = {k for k, v in randomised.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("encoder.layer.2.") for k in changed)
    assert any("attention.self.query.weight" in k for k in changed)
    assert len(layer_stack(model)) == 3
    with pytest.raises(ValueError, match="n_layers"):
        randomise_top_down(model, 4)
    with pytest.raises(TypeError, match="model"):
        layer_stack(torch.nn.Linear(2, 2))


def test_randomisation_check_starts_at_one_and_moves():
    model = _bert(seed=4)
    examples = [_example([2, 7, 5, 9, 11, 13, 3])]
    curves = randomisation_check(model, examples, ig_steps=4, methods=["raw attention", "integrated gradients"])
    assert set(curves) == {"raw attention", "integrated gradients"}
    for name, values in curves.items():
        assert values.shape == (5,) and values[0] == pytest.approx(1.0), name
    assert curves["raw attention"][1] < 0.999  # the last layer's attention changes at the first step


def test_bad_inputs_are_named():
    model = _bert()
    example = _example([2, 7, 3])
    example.content = np.zeros(3, dtype=bool)
    with pytest.raises(ValueError, match="content"):
        leave_one_out(model, example)
    with pytest.raises(ValueError, match="attribution"):
        score_attribution(model, lambda m, e: np.ones(2), [_example([2, 7, 5, 3])])
    with pytest.raises(ValueError, match="examples"):
        faithfulness(model, [])


# ------------------------------------------------------------------ the examples (attnviz/faithfulness_data.py)
class _Tokenizer:
    """A stand-in with only what gpt2_examples reads: the special ids and id -> token names."""

    def __init__(self, unk=None, pad=None, eos=None, bos=None):
        self.unk_token_id, self.pad_token_id, self.eos_token_id, self.bos_token_id = unk, pad, eos, bos

    def convert_ids_to_tokens(self, ids):
        return [f"t{i}" for i in ids]


def test_gpt2_examples_ask_for_the_token_that_followed_the_last_one_the_first_time():
    from transformers import GPT2Config, GPT2LMHeadModel

    half = 10
    examples = gpt2_examples(_Tokenizer(pad=70, eos=71), n=5, half=half, seed=3)
    assert len(examples) == 5
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=80, n_positions=32)).eval()
    for example in examples:
        ids = example.input_ids[0].tolist()  # <bos> x_1 … x_half x_1 … x_k
        k = len(ids) - 1 - half
        assert 3 <= k < half - 1
        assert ids[1 + half:] == ids[1:1 + k]  # the second copy so far repeats the first
        answer = int(example.extra[0][0])
        assert answer == ids[k + 1]  # x_{k+1}, written out by position: what followed x_k the first time
        assert example.row == len(ids) - 1 and example.blank_id == 70  # no <unk>: the pad id is next in line
        assert example.content.tolist() == [False] + [True] * (len(ids) - 1)  # only <bos> is not scored
        assert example.tokens == [f"t{i}" for i in ids]
        with torch.no_grad():
            want = model(input_ids=example.input_ids).logits[0, -1, answer]  # the logit, read by hand
            got = example.forward_fn(model)(example.input_ids, *example.extra)
        assert got.shape == (1,) and float(got[0]) == pytest.approx(float(want), abs=1e-6)


def test_gpt2_examples_need_a_special_token_to_blank_with():
    with pytest.raises(ValueError, match="no special token to blank with"):
        gpt2_examples(_Tokenizer(), n=2, half=8)


def test_minilm_examples_read_every_real_row_and_score_only_the_words():
    from attnviz.grading.fixtures import minilm

    model, tokenizer = minilm()
    pair = ("Tea is best served hot.", "A warm drink.")
    (example,) = minilm_examples(model, tokenizer, [pair])
    encoded = tokenizer(pair[0], return_tensors="pt")
    ids = encoded["input_ids"][0].tolist()
    assert example.input_ids[0].tolist() == ids and example.blank_id == tokenizer.mask_token_id
    assert example.content.tolist() == [i not in (tokenizer.cls_token_id, tokenizer.sep_token_id) for i in ids]
    assert example.row.dtype == bool and example.row.all()  # mean pooling reads every real row
    with torch.no_grad():  # F by hand: cosine of the two sentences' mean token vectors
        first = model(**encoded).last_hidden_state[0].mean(0)
        second = model(**tokenizer(pair[1], return_tensors="pt")).last_hidden_state[0].mean(0)
        want = torch.nn.functional.cosine_similarity(first, second, dim=0)
        got = example.forward_fn(model)(example.input_ids, *example.extra)
    assert float(got[0]) == pytest.approx(float(want), abs=1e-5)


# ------------------------------------------------------------------ issue 14: method names are checked
@pytest.mark.parametrize("call", ["method_rows", "faithfulness", "randomisation_check"])
def test_a_misspelt_method_is_refused_naming_the_valid_ones(call):
    model, example = _bert(), _example([2, 7, 5, 3])
    calls = {"method_rows": lambda m: method_rows(model, example, methods=m),
             "faithfulness": lambda m: faithfulness(model, [example], methods=m),
             "randomisation_check": lambda m: randomisation_check(model, [example], methods=m)}
    with pytest.raises(ValueError, match="methods") as err:
        calls[call](["Rollout"])  # a capital R: before, an empty result and no error
    assert "'Rollout'" in str(err.value) and all(name in str(err.value) for name in METHODS)
    with pytest.raises(ValueError, match="methods: got an empty list"):
        calls[call]([])
    with pytest.raises(TypeError, match="methods"):
        calls[call]("rollout")  # a string, not a list of names


# ------------------------------------------------------------------ issue 13: error bars and captions from numbers
def test_standard_error_is_the_sample_std_over_root_n():
    per_example = np.array([[0.1, 1.0], [0.3, np.nan], [0.8, 2.0]])  # (n, L); NaN: one example left out
    want = [np.std([0.1, 0.3, 0.8], ddof=1) / np.sqrt(3), np.std([1.0, 2.0], ddof=1) / np.sqrt(2)]
    np.testing.assert_allclose(standard_error(per_example), want)
    np.testing.assert_allclose(standard_error(np.array([[0.5, 0.2]])), [0.0, 0.0])  # one example: no spread


def test_faithfulness_figure_draws_error_bars_of_one_standard_error():
    import matplotlib

    matplotlib.use("Agg")
    from attnviz.faithfulness_figures import faithfulness_figure as _faithfulness_figure

    per = np.array([[0.0, 0.2], [0.4, 0.6]])  # (n=2, L=2): means 0.2, 0.4; standard errors 0.2, 0.2
    result = {"scores": {"rollout": per.mean(0)}, "per_example": {"rollout": per},
              "top1": {"rollout": np.array([0.5, 1.0])},
              "top1_per_example": {"rollout": np.array([[0.0, 1.0], [1.0, 1.0]])}}
    fig = _faithfulness_figure(result, "t")
    bars = fig.axes[0].collections[0].get_segments()  # one vertical segment per layer: mean ± standard error
    np.testing.assert_allclose([(seg[0][1], seg[1][1]) for seg in bars], [(0.0, 0.4), (0.2, 0.6)])
    assert "standard error" in fig._suptitle.get_text()


def test_encoder_caption_states_the_numbers_it_is_given():
    per = {"rollout": np.array([[0.0, 0.1], [0.2, 0.3]]), "flow": np.array([[0.1, 0.8], [0.3, 0.8]])}
    result = {"scores": {k: v.mean(0) for k, v in per.items()}, "per_example": per}
    mixing = {"diagonal": np.array([0.5, 0.05]), "uniform": 0.08, "unscored_share": 0.7}
    caption = encoder_caption(result, mixing, 2)
    assert "come close (best +0.80)" in caption  # flow's last layer, 0.8 ≥ 0.5
    assert "rollout ρ between +0.10 and +0.20" in caption and "flow ρ between +0.20 and +0.80" in caption
    assert "flow agrees best (ρ = +0.80 ± 0.00)" in caption
    assert "fades from 0.50 to 0.050 and falls below uniform (1/n ≈ 0.080)" in caption and "70%" in caption
    result["scores"]["flow"] = np.array([0.2, 0.3])
    assert "do not: they never pass +0.30" in encoder_caption(result, mixing, 2)


def test_rollout_mixing_against_a_plain_loop():
    model = _bert(seed=5)
    example = _example([2, 7, 5, 9, 3])
    got = rollout_mixing(model, [example])
    with torch.no_grad():
        attentions = model(input_ids=example.input_ids, output_attentions=True).attentions
    product, diagonals = np.eye(5), []
    for layer in attentions:  # rollout by hand: (0.5·mean_h A + 0.5·I), multiplied from the first layer up
        mixed = 0.5 * layer[0].double().mean(0).numpy() + 0.5 * np.eye(5)
        product = mixed @ product
        diagonals.append(np.mean([product[t, t] for t in range(1, 4)]))  # the content tokens 1..3
    np.testing.assert_allclose(got["diagonal"], diagonals, atol=1e-9)
    assert got["uniform"] == pytest.approx(1 / 5)
    mean_row = product.mean(0)  # the example reads every row
    assert got["unscored_share"] == pytest.approx(mean_row[0] + mean_row[4], abs=1e-6)


def test_tokens_that_matter_counts_changes_of_at_least_a_tenth_of_the_largest():
    loo = np.array([np.nan, 2.0, -0.5, 0.19, 0.2, 0.0])  # |change| ≥ 0.2: 2.0, -0.5, 0.2
    assert tokens_that_matter([loo, np.array([np.nan, 0.0])]).tolist() == [3, 0]


@pytest.fixture(scope="module")
def minilm_default():
    from attnviz.models import load_model

    encoder = load_model(None, kind="encoder", device="cpu")
    return encoder, minilm_examples(encoder.model, encoder.tokenizer)


def test_claim_rollout_and_flow_do_not_reach_the_papers_level_on_minilm(minilm_default):
    """The encoder caption's claims, on the lesson's default inputs (MiniLM, the six sentence pairs)."""
    encoder, examples = minilm_default
    result = faithfulness(encoder.model, examples, methods=["rollout", "flow"])
    best = max(result["scores"]["rollout"].max(), result["scores"]["flow"].max())
    assert best < REACHED < PAPER_LEVEL, "rollout/flow now track leave-one-out: the caption's verdict flips"
    mixing = rollout_mixing(encoder.model, examples)
    assert np.all(np.diff(mixing["diagonal"]) < 0), "rollout's diagonal no longer fades layer by layer"
    assert mixing["diagonal"][-1] < mixing["uniform"], "a word now keeps more of itself than a uniform row"
    assert mixing["unscored_share"] > 0.5, "most of the mean row no longer sits on [CLS]/[SEP]"
    caption = encoder_caption(result, mixing, len(examples))
    assert "do not" in caption and "falls below uniform" in caption


def test_claim_leave_one_out_is_sparse_on_the_tiny_gpt2():
    """The decoder caption's claim, on the lesson's default inputs: few tokens change F at all."""
    from attnviz.models import load_model

    gpt = load_model(None, kind="causal-lm", device="cpu")
    examples = gpt2_examples(gpt.tokenizer)
    counts = tokens_that_matter([leave_one_out(gpt.model, e) for e in examples])
    scored = np.mean([e.content.sum() for e in examples])
    assert counts.mean() <= 0.25 * scored, "leave-one-out is no longer sparse: the caption's premise is gone"


# ---------------------------------------------------------------- property tests (issue 14)
def test_method_names_property():
    """Any non-empty subset of METHODS is accepted as that set; any list with one name outside it, an empty list or
    a bare string is refused with a message that names ``methods`` (raised from course code)."""
    from bad_attention import PROPERTY_SETTINGS, assert_rejects
    from hypothesis import given
    from hypothesis import strategies as st

    from attnviz.faithfulness_figures import check_methods

    @PROPERTY_SETTINGS
    @given(chosen=st.lists(st.sampled_from(METHODS), min_size=1), stranger=st.text(max_size=12))
    def check(chosen, stranger):
        assert check_methods(chosen) == set(chosen)
        if stranger not in METHODS:
            assert_rejects(lambda: check_methods([*chosen, stranger]), "methods")
        assert_rejects(lambda: check_methods([]), "methods")
        assert_rejects(lambda: check_methods(chosen[0]), "methods")

    check()


def test_standard_error_property_against_statistics_stdev():
    """Random (n, L) arrays with NaN holes: per column, the finite values' ``statistics.stdev / sqrt(n)``,
    0 where a column has fewer than two values."""
    import math
    import statistics

    from bad_attention import PROPERTY_SETTINGS
    from hypothesis import given
    from hypothesis import strategies as st

    value = st.one_of(st.floats(-5, 5), st.just(float("nan")))

    @PROPERTY_SETTINGS
    @given(table=st.integers(1, 5).flatmap(lambda n_layers: st.lists(
        st.lists(value, min_size=n_layers, max_size=n_layers), min_size=1, max_size=6)))
    def check(table):
        got = standard_error(np.array(table, dtype=float))
        for layer, column in enumerate(zip(*table)):
            finite = [v for v in column if not math.isnan(v)]
            want = statistics.stdev(finite) / math.sqrt(len(finite)) if len(finite) > 1 else 0.0
            assert got[layer] == pytest.approx(want, abs=1e-9)

    check()
