"""Lesson 3.6 — integrated gradients on embeddings (completeness) and attention attribution (Hao et al.).

The attention attribution is checked against integrals written out in the test: a closed form for a
hand-made 3-token model, and a 400-step midpoint sum over ``α`` with plain autograd on a tiny BERT, whose
attention is scaled by an attention function registered here — no Captum, no probe.
"""

import numpy as np
import pytest
import torch
from bad_attention import (
    PROPERTY_SETTINGS,
    assert_rejects,
    bad_mask,
    each_bad_attention,
    valid_attention,
)
from hypothesis import given

from advanced.integrated_attention import (
    NextTokenLogProb,
    SentenceSimilarity,
    attention_attributions,
    blank_baseline,
    compare_with_attention,
    embedding_attributions,
    spearman,
    target_row,
)
from attnviz.probes import AttentionProbe, AttentionProbes


def _gpt2(seed=0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=30, n_positions=16, bos_token_id=0,
                        eos_token_id=0, attn_implementation="eager")
    return GPT2LMHeadModel(config).eval()


def _bert(seed=0, layers=2, vocab=30):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(num_hidden_layers=layers, num_attention_heads=2, hidden_size=16, intermediate_size=32,
                        vocab_size=vocab, max_position_embeddings=16, attn_implementation="eager")
    return BertModel(config).eval().double()


# ------------------------------------------------------------------------------------ IG, completeness
def test_integrated_gradients_completeness_within_one_percent_gpt2():
    model = _gpt2()
    ids = torch.randint(1, 30, (2, 7), generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([3, 11])
    fn = NextTokenLogProb(model)
    baseline = blank_baseline(ids, blank_id=0)
    ig = embedding_attributions(model, fn, ids, baseline, extra=(targets,), n_steps=32)
    with torch.no_grad():
        change = (fn(ids, targets) - fn(baseline, targets)).numpy()  # computed here, not taken from ig
    assert ig["tokens"].shape == (2, 7)
    np.testing.assert_allclose(ig["tokens"].sum(-1), change, rtol=0.01)
    assert (ig["relative_error"] < 0.01).all()


def test_integrated_gradients_completeness_sentence_similarity():
    from attnviz.grading.fixtures import minilm

    model, tokenizer = minilm()
    encoded = tokenizer("Tea is best served hot.", return_tensors="pt")
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    fn = SentenceSimilarity(model, tokenizer, "A warm drink.")
    baseline = blank_baseline(ids, tokenizer.mask_token_id, keep_ids=tokenizer.all_special_ids)
    assert baseline[0, 0] == tokenizer.cls_token_id and (baseline[0, 1:-1] == tokenizer.mask_token_id).all()
    ig = embedding_attributions(model, fn, ids, baseline, extra=(mask,), n_steps=16)
    with torch.no_grad():
        change = float(fn(ids, mask) - fn(baseline, mask))
    assert ig["tokens"][0].sum() == pytest.approx(change, rel=0.01)
    assert ig["tokens"][0, 0] == 0 and ig["tokens"][0, -1] == 0  # special tokens never left the baseline


def test_steps_double_until_completeness_holds_and_a_warning_gives_the_figure():
    model = _gpt2()
    ids = torch.randint(1, 30, (2, 6), generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([3, 7])
    fn = NextTokenLogProb(model)
    baseline = torch.zeros_like(ids)
    coarse = embedding_attributions(model, fn, ids, baseline, extra=(targets,), n_steps=2,
                                    method="riemann_right", tolerance=None)
    assert coarse["n_steps"] == 2 and coarse["relative_error"].max() > 0.01  # one step is not enough here
    fine = embedding_attributions(model, fn, ids, baseline, extra=(targets,), n_steps=2, method="riemann_right")
    assert fine["n_steps"] > 2 and (fine["relative_error"] <= 0.01).all()
    # the check against F(x) − F(x'), computed here directly
    with torch.no_grad():
        change = (fn(ids, targets) - fn(baseline, targets)).numpy()
    np.testing.assert_allclose(fine["tokens"].sum(-1) - change, fine["delta"], atol=1e-6)  # float32
    with pytest.warns(RuntimeWarning, match=r"completeness error \d+\.\d+ %"):
        embedding_attributions(model, fn, ids, baseline, extra=(targets,), n_steps=2, method="riemann_right",
                               max_steps=2)


def test_the_wrapper_adds_no_forward_pass_to_captums():
    """F(x) and F(x') come from Captum's own end-point passes: the wrapper runs exactly what Captum runs."""
    from captum.attr import LayerIntegratedGradients

    model = _gpt2()
    ids = torch.randint(1, 30, (1, 5), generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([4])
    calls = {"n": 0}
    plain = NextTokenLogProb(model)

    def counted(input_ids, target_ids):
        calls["n"] += 1
        return plain(input_ids, target_ids)

    lig = LayerIntegratedGradients(counted, model.get_input_embeddings())
    lig.attribute(ids, baselines=torch.zeros_like(ids), additional_forward_args=(targets,), n_steps=8)
    captum_alone, calls["n"] = calls["n"], 0
    out = embedding_attributions(model, counted, ids, torch.zeros_like(ids), extra=(targets,), n_steps=8,
                                 tolerance=None)
    assert calls["n"] == captum_alone  # nothing added
    with torch.no_grad():  # the recorded end points are F(x) and F(x'), computed here independently
        np.testing.assert_allclose(out["output"], plain(ids, targets).numpy(), rtol=1e-6)
        np.testing.assert_allclose(out["baseline_output"], plain(torch.zeros_like(ids), targets).numpy(),
                                   rtol=1e-6)


# --------------------------------------------------------------------------- attention attribution, exact
class _HandMade(torch.nn.Module):
    """3 tokens, one head: A = softmax(S) passes a probe, F = (uᵀ A v)³."""

    def __init__(self):
        super().__init__()
        self.scores = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.3], [-0.5, 0.2, 1.5]], dtype=torch.float64)
        self.u = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
        self.v = torch.tensor([0.3, 1.2, -0.7], dtype=torch.float64)
        self.probe = AttentionProbe(num_heads=1)

    def attention(self):
        return torch.softmax(self.scores, -1)

    def forward(self, x):  # x: (B,) dummy input, only its batch size matters
        probs = self.attention().expand(x.shape[0], 1, 3, 3)  # (B, H=1, Q, K)
        probs = self.probe(probs)
        return torch.einsum("q,bhqk,k->b", self.u, probs, self.v) ** 3


def test_attention_attribution_equals_the_closed_form_integral():
    module = _HandMade()
    out = attention_attributions(module, [module.probe], torch.zeros(2, dtype=torch.float64), n_steps=8)
    a = module.attention()
    s = module.u @ a @ module.v
    # ∫₀¹ ∂F(αA)/∂A dα = ∫ 3α² s² u vᵀ dα = s² u vᵀ, so Attr = A ⊙ s² u vᵀ
    want = (a * s**2 * torch.outer(module.u, module.v)).numpy()
    assert out["attributions"].shape == (1, 2, 1, 3, 3)
    np.testing.assert_allclose(out["attributions"][0, 0, 0], want, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(out["attributions"][0, 1, 0], want, rtol=1e-6, atol=1e-10)
    assert out["attributions"][0, 0].sum() == pytest.approx(float(s**3), rel=1e-6)  # completeness


_STATE = {"alpha": 1.0, "layer": None, "calls": 0, "scaled": None}


def _scaled_eager(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Plain eager attention; the layer named in _STATE has its probabilities replaced by α·A (a leaf)."""
    scores = query @ key.transpose(-1, -2) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = torch.softmax(scores, -1)
    if _STATE["calls"] == _STATE["layer"]:
        scaled = (_STATE["alpha"] * probs).detach().requires_grad_(True)
        _STATE["scaled"], _STATE["probs"] = scaled, probs.detach()
        probs = scaled
    _STATE["calls"] += 1
    return (probs @ value).transpose(1, 2).contiguous(), probs


def test_attention_attribution_on_a_3_token_bert_equals_a_midpoint_integral():
    from transformers import AttentionInterface

    model = _bert()
    ids = torch.tensor([[2, 7, 5]])
    weight = torch.linspace(-1, 1, 16, dtype=torch.float64)

    def fn(input_ids):
        return torch.tanh(model(input_ids=input_ids).last_hidden_state[:, 1:] @ weight).sum(-1)  # (B,)

    with AttentionProbes(model) as probes:
        got = attention_attributions(fn, probes.probes, ids, n_steps=24)

    AttentionInterface.register("test_scaled_eager", _scaled_eager)
    model.set_attn_implementation("test_scaled_eager")
    steps = 400
    alphas = ((torch.arange(steps, dtype=torch.float64) + 0.5) / steps).view(steps, 1, 1, 1)  # (steps, 1, 1, 1)
    for layer in range(2):
        # midpoint rule for ∫₀¹ ∂F(α·A)/∂A dα: all 400 midpoints at once, one copy of the input per α
        _STATE.update(alpha=alphas, layer=layer, calls=0)
        value = fn(ids.expand(steps, -1)).sum()  # the copies are independent: Σ of F over the batch
        (grad,) = torch.autograd.grad(value, _STATE["scaled"])  # (steps, H, Q, K): ∂F/∂A at each α
        want = (_STATE["probs"][0] * grad.mean(0)).numpy()  # A ⊙ mean gradient: (H, Q, K)
        np.testing.assert_allclose(got["attributions"][layer, 0], want, rtol=1e-4, atol=1e-7)
    model.set_attn_implementation("eager")
    assert (got["relative_error"] < 0.01).all()


def test_attention_attribution_completeness_on_gpt2():
    model = _gpt2(seed=2)
    ids = torch.randint(1, 30, (2, 6), generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([4, 9])
    fn = NextTokenLogProb(model)
    with AttentionProbes(model) as probes:
        out = attention_attributions(fn, probes.probes, ids, extra=(targets,), layers=[1], n_steps=16)
        probes.probes[1].scale = torch.zeros(2)
        with torch.no_grad():
            zero = fn(ids, targets)  # layer 1's attention switched off
        probes.probes[1].scale = None
        with torch.no_grad():
            full = fn(ids, targets)
    assert out["attributions"].shape == (1, 2, 2, 6, 6) and out["layers"] == [1]
    np.testing.assert_allclose(out["attributions"][0].sum((1, 2, 3)), (full - zero).numpy(), rtol=0.01)
    assert np.abs(np.triu(out["attributions"][0], 1)).max() == 0  # no weight on the future, no attribution


# ------------------------------------------------------------------------------------------ comparisons
def test_spearman_and_target_row():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
    m = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(target_row(m, 2), m[2])
    np.testing.assert_array_equal(target_row(m, [True, False, True]), (m[0] + m[2]) / 2)
    with pytest.raises(ValueError, match="row"):
        target_row(m, [True, False])


def test_compare_with_attention_on_a_known_case():
    n = 5
    attention = np.tile(np.eye(n), (2, 2, 1, 1)) * 0.5 + 0.5 / n  # (L=2, H=2, Q, K), rows sum to 1
    attention[1, :, -1] = [0.05, 0.1, 0.15, 0.3, 0.4]
    ig = np.array([0.0, 1.0, 2.0, 3.0, 0.0])
    attr = attention.copy()
    content = np.array([False, True, True, True, False])
    out = compare_with_attention(attention, ig, attr, n - 1, content)
    assert out["ig_vs_raw"][1] == pytest.approx(1.0)  # layer 1's last row rises like ig over the content
    assert np.isnan(out["attr_vs_raw"][0])  # layer 0's last row is flat over the content tokens: no ranking
    assert out["attr_vs_raw"][1] == pytest.approx(1.0)  # attribution = attention there
    assert set(out) == {"ig_vs_raw", "attr_vs_raw", "attr_vs_ig", "ig_vs_rollout", "attr_vs_rollout"}
    with pytest.raises(ValueError, match="attention_attr"):
        compare_with_attention(attention, ig, attr[:1], n - 1, content)
    with pytest.raises(ValueError, match="token_attributions"):
        compare_with_attention(attention, ig[:3], attr, n - 1, content)


def test_bad_arguments_are_named():
    model = _gpt2()
    fn = NextTokenLogProb(model)
    ids, targets = torch.randint(1, 30, (1, 5)), torch.tensor([2])
    with pytest.raises(ValueError, match="n_steps"):
        embedding_attributions(model, fn, ids, ids, extra=(targets,), n_steps=0)
    with pytest.raises(ValueError, match="method"):
        embedding_attributions(model, fn, ids, ids, extra=(targets,), method="simpson")
    with pytest.raises(ValueError, match="baseline_ids"):
        embedding_attributions(model, fn, ids, ids[:, :3], extra=(targets,))
    with pytest.raises(ValueError, match="input_ids"):
        embedding_attributions(model, fn, ids[0], ids[0], extra=(targets,))
    with pytest.raises(ValueError, match="forward_fn"):
        embedding_attributions(model, lambda i, t: fn(i, t).sum(), ids, ids, extra=(targets,))
    with AttentionProbes(model) as probes:
        with pytest.raises(ValueError, match="layers"):
            attention_attributions(fn, probes.probes, ids, extra=(targets,), layers=[2])
        with pytest.raises(TypeError, match="probes"):
            attention_attributions(fn, [model], ids, extra=(targets,))
    with pytest.raises(ValueError, match="reference"):
        SentenceSimilarity(model, None, "  ")


# ------------------------------------------------------------------ bad input, property-based (issue 14)
SHAPE = (2, 2, 5, 5)  # (L, H, Q, K)
CONTENT = np.array([False, True, True, True, False])
# an attribution matrix is signed and its rows do not sum to 1: only these spoilings make it bad
ATTRIBUTION_KINDS = ("nan", "inf", "empty", "missing_dim", "wrong_keys", "string", "none")
MATRIX_KINDS = ("nan", "inf", "empty", "missing_dim", "string", "none")  # target_row: any (…, Q, K) map


@each_bad_attention(SHAPE)
def test_compare_with_attention_rejects_bad_attention(bad):
    kind, attention = bad
    assert_rejects(lambda: compare_with_attention(attention, np.arange(5.0), valid_attention(SHAPE), 4, CONTENT),
                   "attention")


@each_bad_attention(SHAPE, kinds=ATTRIBUTION_KINDS + ("extra_dim",))
def test_compare_with_attention_rejects_bad_attributions(bad):
    kind, attr = bad
    attention = valid_attention(SHAPE)
    assert_rejects(lambda: compare_with_attention(attention, np.arange(5.0), attr, 4, CONTENT), "attention_attr")
    ig = {"nan": np.array([0.0, 1.0, np.nan, 2.0, 0.0]), "inf": np.array([0.0, 1.0, np.inf, 2.0, 0.0]),
          "empty": np.zeros(0), "missing_dim": np.float64(1.0), "wrong_keys": np.arange(4.0),
          "extra_dim": np.arange(5.0)[None], "string": attr, "none": attr}[kind]  # (K,) spoiled the same way
    assert_rejects(lambda: compare_with_attention(attention, ig, valid_attention(SHAPE), 4, CONTENT),
                   "token_attributions")


@PROPERTY_SETTINGS
@given(bad=bad_mask(5))
def test_compare_with_attention_rejects_bad_content_masks(bad):
    kind, content = bad
    attention = valid_attention(SHAPE)
    assert_rejects(lambda: compare_with_attention(attention, np.arange(5.0), attention, 4, content), "content")


@each_bad_attention((3, 5, 5), kinds=MATRIX_KINDS)
def test_target_row_rejects_bad_matrices(bad):
    kind, matrix = bad
    assert_rejects(lambda: target_row(matrix, 0), "matrix")
    assert_rejects(lambda: target_row(matrix, [True] * 5), "matrix", "row")


@pytest.mark.parametrize("bad", [[0.0, 1.0, np.nan, 2.0, 3.0, 4.0], [0.0, 1.0, np.inf, 2.0, 3.0, 4.0],
                                 np.arange(5.0), "ranks", None, {"a": 1}])
def test_spearman_rejects_bad_vectors(bad):
    assert_rejects(lambda: spearman(bad, np.arange(6.0)), "a", "b")
    assert_rejects(lambda: spearman(np.arange(6.0), bad), "a", "b")


def test_steps_tolerance_targets_and_ids_are_checked_before_any_work():
    from attnviz.attribution import check_steps

    model = _gpt2()
    fn = NextTokenLogProb(model)
    ids, targets = torch.randint(1, 30, (1, 5), generator=torch.Generator().manual_seed(0)), torch.tensor([2])
    for steps in (0, 1, -3, 2.5, True, "8"):
        assert_rejects(lambda steps=steps: check_steps(steps, "gausslegendre"), "n_steps")
    assert_rejects(lambda: check_steps(8, "gausslegendre", tolerance=0), "tolerance")
    assert_rejects(lambda: check_steps(8, "gausslegendre", tolerance=1.5), "tolerance")
    assert_rejects(lambda: check_steps(8, "gausslegendre", tolerance="1%"), "tolerance")
    assert_rejects(lambda: check_steps(8, "gausslegendre", max_steps=4), "max_steps")
    assert_rejects(lambda: embedding_attributions(model, fn, ids, ids, extra=(targets,), tolerance=2.0), "tolerance")
    assert_rejects(lambda: embedding_attributions(model, fn, ids.float(), ids, extra=(targets,)), "input_ids")
    assert_rejects(lambda: embedding_attributions(model, fn, "the cat", ids, extra=(targets,)), "input_ids")
    assert_rejects(lambda: fn(ids, torch.tensor([30])), "target_ids")  # the vocabulary has 30 ids
    assert_rejects(lambda: fn(ids, torch.tensor([1, 2])), "target_ids")  # one target per example
    assert_rejects(lambda: blank_baseline(ids, blank_id=None), "blank_id")
    assert_rejects(lambda: blank_baseline(ids - 10, blank_id=0), "input_ids")
    with AttentionProbes(model) as probes:
        assert_rejects(lambda: attention_attributions(fn, probes.probes, ids, extra=(targets,), n_steps=0),
                       "n_steps")
        assert_rejects(lambda: attention_attributions(fn, probes.probes, ids, extra=(targets,), max_steps=4),
                       "max_steps")


# ------------------------------------------------------------------ captions computed from the numbers (issue 13)
def test_completeness_summary_on_hand_made_errors():
    from advanced.integrated_attention import completeness_summary

    steps = [2, 4, 8, 16, 32]
    runs = {"gausslegendre": [0.9, 0.2, 0.017, 0.003, 0.0001], "riemann_right": [0.7, 0.03, 0.06, 0.02, 0.009]}
    out = completeness_summary(steps, runs)
    assert out["first_within"] == {"gausslegendre": 16, "riemann_right": 32}
    assert out["gl_worse_at"] == [2, 4]
    assert "from 16 steps on" in out["caption"] and "from 32 steps on" in out["caption"]
    assert "not faster at every budget" in out["caption"] and "4 steps (20.0 % vs 3.0 %)" in out["caption"]
    better = completeness_summary(steps, {"gausslegendre": [0.5, 0.02, 0.001, 0, 0],
                                          "riemann_right": [0.9, 0.5, 0.2, 0.1, 0.05]})
    assert better["gl_worse_at"] == [] and "more accurate at every step count" in better["caption"]
    assert better["first_within"]["riemann_right"] is None and "not within 1 % up to 32" in better["caption"]
    assert_rejects(lambda: completeness_summary(steps, {"gausslegendre": [0.1]}), "runs")


def test_special_share_by_hand():
    from advanced.integrated_attention import special_share

    matrix = np.array([[0.5, 0.25, 0.25], [0.0, -1.0, 3.0], [9.0, 9.0, 9.0]])
    # rows 0 and 1, key 0 special: |mass| 0.5 of 0.5 + 0.25 + 0.25 + 0 + 1 + 3 = 5
    assert special_share(matrix, [1, 1, 0], [True, False, False]) == pytest.approx(0.1)
    assert_rejects(lambda: special_share(matrix, [1, 1], [True, False, False]), "rows")


def test_attribution_grid_has_a_colour_bar_per_row_and_tokens_on_the_axes():
    import matplotlib.pyplot as plt

    from attnviz.attribution_figures import attribution_grid_figure

    tokens = ["[CLS]", "a", "cat", "[SEP]"]
    raw = valid_attention((3, 4, 4))
    fig = attribution_grid_figure(raw, raw / 2, tokens)
    images = [ax for ax in fig.axes if ax.images]
    bars = [ax for ax in fig.axes if not ax.images]  # colour bars draw no AxesImage
    assert len(images) == 6 and len(bars) == 2
    assert {bar.get_ylabel() for bar in bars} == {"attention weight (0–1)", "attribution ÷ the layer's maximum"}
    for ax in images:
        assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    np.testing.assert_allclose(images[3].images[0].get_array(), raw[0] / 2)  # second row, first layer
    plt.close(fig)


def test_attention_attribution_takes_more_steps_until_completeness_holds():
    model = _gpt2(seed=2)
    ids = torch.randint(1, 30, (2, 6), generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([4, 9])
    fn = NextTokenLogProb(model)
    with AttentionProbes(model) as probes:
        coarse = attention_attributions(fn, probes.probes, ids, extra=(targets,), layers=[0], n_steps=2,
                                        method="riemann_right", tolerance=None)
        fine = attention_attributions(fn, probes.probes, ids, extra=(targets,), layers=[0], n_steps=2,
                                      method="riemann_right")
        with pytest.warns(RuntimeWarning, match=r"completeness error \d+\.\d+ % with 2 steps"):
            attention_attributions(fn, probes.probes, ids, extra=(targets,), layers=[0], n_steps=2,
                                   method="riemann_right", max_steps=2)
    assert coarse["relative_error"].max() > 0.01 and coarse["n_steps"] == [2]
    assert fine["n_steps"][0] > 2 and fine["relative_error"].max() <= 0.01


@pytest.fixture(scope="module")
def lesson_defaults():
    """The lesson's own default input, model and target (what the gallery shows)."""
    from types import SimpleNamespace

    import advanced.integrated_attention as lesson

    torch.set_num_threads(1)
    args = SimpleNamespace(model=None, device="cpu", text=lesson.DEFAULT_TEXT, reference=lesson.DEFAULT_REFERENCE)
    return lesson._setup(args)


def test_default_input_completeness_claims(lesson_defaults, lesson_results):
    """ig_completeness's caption: which method reaches 1 % first, and where Gauss–Legendre is not faster."""
    from advanced.integrated_attention import COMPLETENESS_STEPS, completeness_runs, completeness_summary

    ig, _, _ = lesson_results  # IG with the lesson's default 16 steps, computed once for the module
    assert ig["n_steps"] == 16 and ig["relative_error"][0] <= 0.01  # the lesson's default meets its own check
    known = {("gausslegendre", 16): ig["relative_error"][0]}  # as the lesson does: that integral is not run again
    runs = completeness_runs(lesson_defaults, known=known)
    summary = completeness_summary(COMPLETENESS_STEPS, runs)
    gl, rr = summary["first_within"]["gausslegendre"], summary["first_within"]["riemann_right"]
    assert gl is not None and (rr is None or gl < rr)  # Gauss–Legendre reaches 1 % with fewer steps ...
    assert 4 in summary["gl_worse_at"]  # ... but is the worse of the two at 4 steps: "far faster" is false there


@pytest.fixture(scope="module")
def lesson_results(lesson_defaults):
    """IG and attention attribution on the default input, with the lesson's default steps."""
    x = lesson_defaults
    ig = embedding_attributions(x.model, x.target, x.ids, x.baseline, extra=(x.mask,), n_steps=16)
    with AttentionProbes(x.model) as probes:
        with torch.no_grad():
            x.target(x.ids, x.mask)
            weights = probes.attentions()[:, 0].cpu().numpy()  # (L, H, Q, K)
        hao = attention_attributions(x.target, probes.probes, x.ids, extra=(x.mask,), n_steps=10)
    return ig, weights, hao


def test_default_input_attribution_claims(lesson_defaults, lesson_results):
    """attention_attribution_layer's caption: special tokens get much attention but little attribution."""
    from advanced.integrated_attention import attribution_layer_facts

    x, (ig, weights, hao) = lesson_defaults, lesson_results
    assert (hao["relative_error"] <= 0.01).all() and ig["relative_error"][0] <= 0.01
    facts = attribution_layer_facts(weights, hao["attributions"][:, 0], x.mask[0].numpy().astype(bool), ~x.content)
    assert facts["attribution_on_special"] < facts["attention_on_special"] / 2


def test_agreement_caption_by_hand():
    from attnviz.attribution_figures import agreement_caption

    text = agreement_caption({"ig_vs_raw": np.array([-0.2, 0.5, np.nan, 0.7]), "ig_vs_rollout": 0.1})
    assert "from ρ = -0.20 (layer 0) to +0.70 (layer 3)" in text and "ρ = +0.10, below the best" in text
    assert "below" not in agreement_caption({"ig_vs_raw": np.array([0.1, 0.2]), "ig_vs_rollout": 0.3})


def test_default_input_agreement_claims(lesson_defaults, lesson_results):
    """rank_correlations' caption: agreement with raw attention swings between layers; rollout tracks IG less
    well than the best single layer."""
    x, (ig, weights, hao) = lesson_defaults, lesson_results
    rows = x.mask[0].numpy().astype(bool)
    table = compare_with_attention(weights, ig["tokens"][0], hao["attributions"][:, 0], rows, x.content)
    assert np.nanmax(table["ig_vs_raw"]) - np.nanmin(table["ig_vs_raw"]) > 0.5  # "swings"
    assert table["ig_vs_rollout"] < np.nanmax(table["ig_vs_raw"])


@pytest.mark.parametrize("argv", [["--steps", "1"], ["--attention-steps", "0"], ["--steps", "many"]])
def test_cli_refuses_bad_step_counts_in_one_line(argv, capsys, tmp_path, monkeypatch):
    import advanced.integrated_attention as lesson
    from attnviz.cli import run_lesson

    monkeypatch.setattr(lesson, "_setup", lambda args: pytest.fail("work started before the refusal"))
    with pytest.raises(SystemExit) as exit_info:
        run_lesson(lesson.main, [*argv, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error:") and "steps" in message, message


@each_bad_attention(SHAPE)
def test_attribution_layer_facts_rejects_bad_attention(bad):
    from advanced.integrated_attention import attribution_layer_facts

    kind, weights = bad
    rows, special = np.ones(5, dtype=bool), ~CONTENT
    assert_rejects(lambda: attribution_layer_facts(weights, valid_attention(SHAPE), rows, special), "weights", "attr")
    attr = np.where(np.arange(5) == 2, np.nan, valid_attention(SHAPE))  # attributions with a NaN
    assert_rejects(lambda: attribution_layer_facts(valid_attention(SHAPE), attr, rows, special), "attr")


def test_shipped_gpt2_layer_0_attention_attribution_meets_one_percent():
    """Issue 13: on the tiny GPT-2's induction sequence, 20 fixed steps leave layer 0 above 1 %; the default
    tolerance takes more steps there until completeness holds."""
    from advanced.gradient_attention import induction_sequence
    from attnviz.models import load_model

    loaded = load_model(None, kind="causal-lm", device="cpu")
    special = set(loaded.tokenizer.all_special_ids)
    candidates = [i for i in range(int(loaded.model.config.vocab_size)) if i not in special]
    ids, expected, _ = induction_sequence(candidates, seed=0, bos_id=loaded.tokenizer.bos_token_id)
    ids, targets = torch.tensor(ids[None]), torch.tensor([expected])
    fn = NextTokenLogProb(loaded.model)
    with AttentionProbes(loaded.model) as probes:
        fixed = attention_attributions(fn, probes.probes, ids, extra=(targets,), layers=[0], tolerance=None)
        checked = attention_attributions(fn, probes.probes, ids, extra=(targets,), layers=[0])
    assert fixed["n_steps"] == [20] and fixed["relative_error"][0, 0] > 0.01
    assert checked["n_steps"][0] > 20 and checked["relative_error"][0, 0] <= 0.01


def test_completeness_runs_reuse_what_is_known():
    from types import SimpleNamespace

    from advanced.integrated_attention import completeness_runs

    nothing = SimpleNamespace(model=None, target=None, ids=None, baseline=None, mask=None)  # any run would fail
    known = {(m, k): k / 100 + (m == "riemann_right") for m in ("gausslegendre", "riemann_right") for k in (2, 4)}
    runs = completeness_runs(nothing, (2, 4), known=known)
    np.testing.assert_allclose(runs["gausslegendre"], [0.02, 0.04])
    np.testing.assert_allclose(runs["riemann_right"], [1.02, 1.04])
