"""Lesson 3.5 — entropy, head gates through AttentionInterface, Michel et al. importance, pruning.

Each test compares with an independent reference: entropy by hand with ``math.log``; head gates against
zeroing (or scaling) the head's slice of the output projection, which never touches our attention
function; importance against finite differences of that scaling.
"""

import math

import numpy as np
import pytest
import torch
from bad_attention import (
    PROPERTY_SETTINGS,
    assert_rejects,
    bad_attention,
    bad_mask,
    each_bad_attention,
    every_mask_kind,
    valid_attention,
)
from hypothesis import given

from advanced.attention_entropy import (
    head_confidence,
    head_entropy,
    head_importance,
    predicted_curve,
    pruning_curve,
    pruning_order,
    specialisation,
)
from attnviz.probes import PROBED_ATTENTION, AttentionProbes

A3 = np.array([[1.0, 0.0, 0.0],
               [0.5, 0.5, 0.0],
               [0.2, 0.3, 0.5]])


def _h(*ps):
    return -sum(p * math.log(p) for p in ps if p > 0)


# --------------------------------------------------------------------------------------------- entropy
def test_entropy_of_3x3_by_hand_with_zero_log_zero():
    rows = [_h(1.0), _h(0.5, 0.5), _h(0.2, 0.3, 0.5)]
    got = head_entropy(A3[None])  # (H=1,)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(sum(rows) / 3, abs=1e-12)
    assert np.isfinite(got).all()  # 0 · log 0 must be 0, not NaN


def test_relative_entropy_divides_each_row_by_log_of_the_keys_it_sees():
    # causal: row 0 sees 1 key (left out), row 1 sees 2, row 2 sees 3
    want = (_h(0.5, 0.5) / math.log(2) + _h(0.2, 0.3, 0.5) / math.log(3)) / 2
    assert head_entropy(A3[None], causal=True, relative=True)[0] == pytest.approx(want, abs=1e-12)
    # not causal: every row sees 3 keys
    want_all = sum([_h(1.0), _h(0.5, 0.5), _h(0.2, 0.3, 0.5)]) / 3 / math.log(3)
    assert head_entropy(A3[None], relative=True)[0] == pytest.approx(want_all, abs=1e-12)


def test_uniform_rows_are_one_and_one_hot_rows_zero():
    n = 6
    uniform = np.tril(np.ones((n, n)))
    uniform /= uniform.sum(-1, keepdims=True)  # causal uniform
    one_hot = np.eye(n)
    got = head_entropy(np.stack([uniform, one_hot]), causal=True, relative=True)
    np.testing.assert_allclose(got, [1.0, 0.0], atol=1e-12)


def test_padding_rows_and_keys_do_not_count():
    rng = np.random.default_rng(0)
    real = rng.dirichlet(np.ones(3), size=(2, 3))  # (H, Q=3, K=3)
    padded = np.zeros((2, 4, 4))
    padded[:, :3, :3] = real
    padded[:, 3, :3] = [0.98, 0.01, 0.01]  # a padding query: a sharp row of noise
    mask = np.array([1, 1, 1, 0])
    np.testing.assert_allclose(head_entropy(padded, mask), head_entropy(real), atol=1e-12)
    np.testing.assert_allclose(head_entropy(padded, mask, relative=True), head_entropy(real, relative=True), atol=1e-12)
    # batch version: (L=1, B=2, H, Q, K), the second example unpadded
    batch = np.stack([padded, np.pad(real, ((0, 0), (0, 1), (0, 1)))])[None]
    batch[0, 1, :, 3, 3] = 1.0  # its 4th token is real there and attends to itself
    per_example = head_entropy(batch, np.array([[1, 1, 1, 0], [1, 1, 1, 1]]), per_example=True)  # (1, 2, H)
    np.testing.assert_allclose(per_example[0, 0], head_entropy(real), atol=1e-12)
    want = head_entropy(real) * 3 / 4  # three rows as before plus one zero-entropy row
    np.testing.assert_allclose(per_example[0, 1], want, atol=1e-12)


def test_confidence_is_mean_row_maximum():
    assert head_confidence(A3[None])[0] == pytest.approx((1.0 + 0.5 + 0.5) / 3)


def test_specialisation_labels():
    rel = np.array([[[0.1, 0.9, 0.1, 0.5]], [[0.12, 0.95, 0.6, 0.5]], [[0.08, 0.85, 0.1, 0.5]]])  # (B=3, 1, H=4)
    out = specialisation(rel.transpose(1, 0, 2))  # (L=1, B=3, H=4)
    assert list(out["label"][0]) == ["specialised", "averaging", "input-dependent", "mixed"]
    np.testing.assert_allclose(out["mean"][0], rel[:, 0].mean(0))


@pytest.mark.parametrize(("bad", "match"), [
    (np.full((2, 3, 3), np.nan), "NaN"),
    (np.array([[[-0.5, 1.5], [0.5, 0.5]]]), "negative"),
    (np.array([[[0.6, 0.6], [0.5, 0.5]]]), "sum to 1"),
    (np.ones((3, 3)) / 3, "dimensions"),
    (np.zeros((0, 3, 3)), "empty"),
    (np.ones((1, 2, 3)) / 3, "square"),
])
def test_bad_attention_is_rejected_with_the_argument_named(bad, match):
    with pytest.raises(ValueError, match=match) as info:
        head_entropy(bad)
    assert "attention" in str(info.value)


def test_weight_on_invisible_keys_is_rejected():
    full = np.full((1, 3, 3), 1 / 3)
    with pytest.raises(ValueError, match="future keys"):
        head_entropy(full, causal=True)
    with pytest.raises(ValueError, match="padding keys"):
        head_entropy(full, np.array([1, 1, 0]))
    with pytest.raises(ValueError, match="attention_mask"):
        head_entropy(full, np.array([1, 1]))
    with pytest.raises(ValueError, match="attention_mask"):
        head_entropy(full, np.array([1, 2, 1]))
    with pytest.raises(TypeError):
        head_entropy("not an array")


# ------------------------------------------------------------------------------------- models and gates
def _gpt2(seed=0, layers=2, heads=3, dim=24, vocab=40):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=layers, n_head=heads, n_embd=dim, vocab_size=vocab, n_positions=32,
                        bos_token_id=0, eos_token_id=0, attn_implementation="eager")
    return GPT2LMHeadModel(config).eval().double()


def _loss(model, batch):
    ids = batch["input_ids"]
    logits = model(input_ids=ids).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none").mean(-1)


def _scale_head_output(model, layer, head, factor):
    """Scale head ``head``'s slice of the output projection: the same as gating its output (independent code)."""
    d = model.config.n_embd // model.config.n_head
    with torch.no_grad():
        model.transformer.h[layer].attn.c_proj.weight[head * d:(head + 1) * d] *= factor


def test_probed_attention_matches_eager_and_keeps_the_causal_mask():
    model = _gpt2()
    ids = torch.randint(0, 40, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eager = model(input_ids=ids, output_attentions=True)
        with AttentionProbes(model) as probes:
            assert model.config._attn_implementation == PROBED_ATTENTION
            probed = model(input_ids=ids, output_attentions=True)
            weights = probes.attentions()
            changed = ids.clone()
            changed[:, -1] = (changed[:, -1] + 1) % 40  # only the last token differs
            later = model(input_ids=changed)
    torch.testing.assert_close(probed.logits, eager.logits)
    torch.testing.assert_close(weights, torch.stack(eager.attentions))
    torch.testing.assert_close(later.logits[:, :-1], eager.logits[:, :-1])  # no position sees the future
    assert model.config._attn_implementation == "eager"  # restored on exit
    assert not any("attention_probe" in name for name, _ in model.named_modules())


def test_head_mask_equals_removing_the_head_from_the_output_projection():
    model = _gpt2()
    ids = torch.randint(0, 40, (2, 8), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(2, 3)
    mask[1, 2] = 0.0
    with torch.no_grad(), AttentionProbes(model) as probes:
        probes.set_head_mask(mask)
        gated = model(input_ids=ids).logits
    _scale_head_output(model, 1, 2, 0.0)
    with torch.no_grad():
        removed = model(input_ids=ids).logits
    torch.testing.assert_close(gated, removed)


def test_importance_of_an_unused_head_is_zero():
    model = _gpt2(seed=3)
    _scale_head_output(model, 0, 1, 0.0)  # layer 0, head 1 writes nothing: the loss cannot depend on it
    batches = [{"input_ids": torch.randint(0, 40, (6, 10), generator=torch.Generator().manual_seed(4))}]
    raw = head_importance(model, batches, _loss, normalize=False)["importance"]
    assert raw[0, 1] < 1e-12
    assert (np.delete(raw.ravel(), 1) > 1e-6).all()  # every other head matters a little
    normalised = head_importance(model, batches, _loss)["importance"]
    np.testing.assert_allclose(np.linalg.norm(normalised, axis=1), 1.0, atol=1e-6)  # ℓ2 per layer
    assert normalised[0, 1] < 1e-9


def test_importance_equals_finite_differences_per_example():
    model = _gpt2(seed=5)
    ids = torch.randint(0, 40, (4, 10), generator=torch.Generator().manual_seed(6))
    scores = head_importance(model, [{"input_ids": ids[:2]}, {"input_ids": ids[2:]}], _loss, normalize=False)
    eps = 1e-6
    want_abs, want_signed = np.zeros((2, 3)), np.zeros((2, 3))
    with torch.no_grad():
        base = _loss(model, {"input_ids": ids})  # (B,)
        for layer in range(2):
            for head in range(3):
                _scale_head_output(model, layer, head, 1 - eps)
                grad = ((base - _loss(model, {"input_ids": ids})) / eps).numpy()  # ∂L_b/∂ξ ≈ (L(1) − L(1−ε)) / ε
                _scale_head_output(model, layer, head, 1 / (1 - eps))
                want_abs[layer, head], want_signed[layer, head] = np.abs(grad).mean(), grad.mean()
    np.testing.assert_allclose(scores["importance"], want_abs, rtol=1e-3, atol=1e-9)
    np.testing.assert_allclose(scores["gradient"], want_signed, rtol=1e-3, atol=1e-8)
    assert scores["loss"] == pytest.approx(float(base.mean()))


def test_pruning_curve_against_a_plain_loop():
    model = _gpt2(seed=7)
    batch = {"input_ids": torch.randint(0, 40, (4, 10), generator=torch.Generator().manual_seed(8))}
    scores = head_importance(model, [batch], _loss)
    order = pruning_order(scores["importance"])
    flat = scores["importance"].ravel()
    assert [tuple(p) for p in order] == [divmod(int(i), 3) for i in np.argsort(flat, kind="stable")]
    evaluate = lambda m: float(_loss(m, batch).mean())  # noqa: E731
    curve = pruning_curve(model, order, evaluate, steps=[0, 2, 6])
    want = []
    for k in (0, 2, 6):  # independent: zero the heads' output slices
        for layer, head in order[:k]:
            _scale_head_output(model, int(layer), int(head), 0.0)
        with torch.no_grad():
            want.append(evaluate(model))
        model = _gpt2(seed=7)
    np.testing.assert_allclose(curve, want, rtol=1e-9)
    predicted = predicted_curve(scores["loss"], scores["gradient"], order)
    assert predicted.shape == (7,) and predicted[0] == pytest.approx(curve[0])
    assert sorted(map(tuple, pruning_order(scores["importance"], "random", seed=1))) == sorted(map(tuple, order))
    assert tuple(pruning_order(scores["importance"], "reverse")[0]) == tuple(order[-1])


def test_importance_and_pruning_errors():
    model = _gpt2()
    batch = {"input_ids": torch.randint(0, 40, (3, 6))}
    with pytest.raises(ValueError, match="loss_fn"):
        head_importance(model, [batch], lambda m, b: _loss(m, b).mean())  # a mean, not one per example
    with pytest.raises(ValueError, match="batches"):
        head_importance(model, [], _loss)
    with pytest.raises(ValueError, match="strategy"):
        pruning_order(np.ones((2, 3)), "largest")
    with pytest.raises(ValueError, match="importance"):
        pruning_order(np.ones(6))
    with pytest.raises(ValueError, match="layer"):
        pruning_curve(model, [[2, 0]], lambda m: 0.0)
    with pytest.raises(ValueError, match="head"):
        pruning_curve(model, [[0, 3]], lambda m: 0.0)
    with AttentionProbes(model) as probes, pytest.raises(ValueError, match="mask"):
        probes.set_head_mask(torch.ones(3, 3))
    with pytest.raises(TypeError, match="model"):
        with AttentionProbes(torch.nn.Linear(2, 2)):
            pass


# ---------------------------------------------------------------- the figures (attnviz/head_figures.py)
def test_entropy_by_position_figure_draws_log_q_plus_one_and_each_heads_mean():
    import matplotlib

    matplotlib.use("Agg")
    from attnviz.head_figures import entropy_by_position_figure

    rng = np.random.default_rng(0)
    entropy = rng.random((2, 3, 2, 5))  # (L, B, H, Q)
    relative = np.array([[0.1, 0.2], [0.3, 0.4]])
    fig = entropy_by_position_figure(entropy, relative, (((1, 0), "C1"), ((0, 1), "C0")), "t", repeat=3)
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), [math.log(q + 1) for q in range(5)])
    np.testing.assert_allclose(lines[1].get_ydata(), [entropy[1, :, 0, q].mean() for q in range(5)])
    np.testing.assert_allclose(lines[2].get_ydata(), [entropy[0, :, 1, q].mean() for q in range(5)])
    assert "relative entropy 0.30" in lines[1].get_label() and lines[3].get_xdata()[0] == 3  # the repeat


def test_specialisation_figure_puts_every_head_at_its_entropy_and_importance():
    import matplotlib

    matplotlib.use("Agg")
    from attnviz.head_figures import specialisation_figure

    mean = np.array([[0.1, 0.9], [0.5, 0.2]])
    label = np.array([["specialised", "averaging"], ["mixed", "specialised"]], dtype=object)
    importance = np.array([[0.8, 0.1], [0.3, 0.6]])
    fig = specialisation_figure({"mean": mean, "label": label}, importance, "t")
    ax = fig.axes[0]
    points = {text.get_text(): text.xy for text in ax.texts}  # one "layer.head" label per head
    assert points == {"0.0": (0.1, 0.8), "0.1": (0.9, 0.1), "1.0": (0.5, 0.3), "1.1": (0.2, 0.6)}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["specialised", "averaging", "mixed"]  # only the labels that occur


def test_pruning_figure_draws_the_curves_it_is_given_and_hides_non_positive_values_on_a_log_axis():
    import matplotlib

    matplotlib.use("Agg")
    from attnviz.head_figures import pruning_figure

    measured, reverse = np.array([1.0, 1.5, 4.0]), np.array([1.0, 3.0, 0.0])
    randoms = np.array([[1.0, 2.0, 3.0], [1.0, 4.0, 5.0]])  # (orders, L·H + 1)
    fig = pruning_figure("t", "loss", {"least important first (measured)": measured,
                                       "most important first (measured)": reverse}, 2,
                         predicted=np.array([1.0, 0.9, -0.2]), random_curves=randoms, log=True)
    ax = fig.axes[0]
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    np.testing.assert_allclose(lines["random orders (mean)"], [1.0, 3.0, 4.0])
    np.testing.assert_allclose(lines["least important first (measured)"], measured)
    np.testing.assert_allclose(lines["most important first (measured)"], [1.0, 3.0, np.nan])  # 0: not on a log axis
    np.testing.assert_allclose(lines["least important first (first-order Taylor prediction)"], [1.0, 0.9, np.nan])
    assert ax.get_yscale() == "log" and ax.get_ylim()[0] == pytest.approx(0.3)  # 0.3 × the smallest measured


def test_pruning_figure_shows_or_annotates_every_predicted_point_on_a_log_axis():
    """Issue 13: the Taylor prediction went ≤ 0 and silently fell off the log axis."""
    import matplotlib

    matplotlib.use("Agg")
    from attnviz.head_figures import pruning_figure

    measured = np.array([1.0, 1.2, 2.0, 8.0])
    predicted = np.array([1.0, 0.9, 0.05, -0.4])  # 0.05 is positive but under the floor 0.3; -0.4 is ≤ 0
    fig = pruning_figure("t", "loss", {"least important first (measured)": measured}, 3, predicted=predicted,
                         log=True)
    ax = fig.axes[0]
    bottom, top = ax.get_ylim()
    label = "least important first (first-order Taylor prediction)"
    drawn = next(line for line in ax.get_lines() if line.get_label() == label).get_ydata()
    markers = [line for line in ax.get_lines() if "below the axis" in line.get_label()]
    floor_x = list(markers[0].get_xdata()) if markers else []
    texts = " ".join(t.get_text() for t in ax.texts)
    for k, value in enumerate(predicted):  # each point: on the line inside the axis, or on the floor and named
        if np.isfinite(drawn[k]):
            assert bottom <= drawn[k] <= top and drawn[k] == value
        else:
            assert k in floor_x and (k, value) in fig.clipped_predictions
    assert fig.clipped_predictions == [(2, 0.05), (3, -0.4)]
    assert f"{0.05:+.3g}" in texts and "1 more below the axis" in texts
    np.testing.assert_allclose(markers[0].get_ydata(), [bottom, bottom])
    # the legend is outside the axes: none drawn on top of the curves
    assert ax.get_legend() is None and fig.legends


# ------------------------------------------------------------------ issue 12: probes for every family
def _tiny(family: str, seed: int = 0):
    """A tiny random model of ``family`` in eager attention (2 layers, 4 heads, hidden 16), in float64."""
    import transformers as tf

    torch.manual_seed(seed)
    sizes = dict(vocab_size=50, hidden_size=16, num_attention_heads=4, num_hidden_layers=2, intermediate_size=32)
    configs = {
        "llama": lambda: tf.LlamaForCausalLM(tf.LlamaConfig(**sizes, num_key_value_heads=2)),
        "bert": lambda: tf.BertModel(tf.BertConfig(**sizes, max_position_embeddings=32)),
        "bloom": lambda: tf.BloomForCausalLM(tf.BloomConfig(vocab_size=50, hidden_size=16, n_head=4, n_layer=2)),
        "deberta-v2": lambda: tf.DebertaV2Model(tf.DebertaV2Config(**sizes, max_position_embeddings=32,
                                                                     relative_attention=True,
                                                                     pos_att_type=["p2c", "c2p"])),
        "albert": lambda: tf.AlbertModel(tf.AlbertConfig(**sizes, embedding_size=8, max_position_embeddings=32)),
    }
    model = configs[family]().eval().double()
    model.set_attn_implementation("eager")
    return model


def _output(model, ids):
    out = model(input_ids=ids)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


IDS = torch.randint(3, 50, (2, 7), generator=torch.Generator().manual_seed(5))
MASK = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.3, 1.0, 1.0, 0.0]])  # (L, H): two heads off, one scaled


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_output_projection_gates_equal_the_attention_interface_gates(family):
    """Two independent routes to ξ_h: scaling A_h inside our attention function, and scaling head h's slice
    of the output projection's input. ``A_h V_h`` is linear in ``A_h``, so they must agree."""
    model = _tiny(family)
    with torch.no_grad():
        with AttentionProbes(model) as probes:
            assert probes.route == "interface"
            probes.set_head_mask(MASK)
            by_interface = _output(model, IDS)
        with AttentionProbes(model, route="projection") as probes:
            probes.set_head_mask(MASK)
            by_projection = _output(model, IDS)
        intact = _output(model, IDS)
    torch.testing.assert_close(by_projection, by_interface)
    assert not torch.allclose(by_projection, intact)  # the gates did something


@pytest.mark.parametrize("family", ["bloom", "deberta-v2"])
def test_families_without_attention_interface_get_hooks_that_record_and_gate(family):
    model = _tiny(family)
    with torch.no_grad():
        reference = torch.stack(model(input_ids=IDS, output_attentions=True).attentions)  # (L, B, H, Q, K)
        with AttentionProbes(model) as probes:
            assert probes.route == "hooks" and len(probes) == 2 and probes.num_heads == 4
            plain = _output(model, IDS)
            torch.testing.assert_close(probes.attentions(), reference)  # recorded = the model's own weights
            probes.set_head_mask(MASK)
            by_dropout_hook = _output(model, IDS)
            gated = probes.attentions()
        with AttentionProbes(model, route="projection") as probes:
            probes.set_head_mask(MASK)
            by_projection = _output(model, IDS)
            with pytest.raises(RuntimeError, match="output_attentions"):
                probes.attentions()
        after = _output(model, IDS)
    torch.testing.assert_close(by_dropout_hook, by_projection)  # gating probabilities = gating head outputs
    # layer 0's recorded weights are its own times the gates (layer 1's change: its input changed)
    torch.testing.assert_close(gated[0], reference[0] * MASK[0, None, :, None, None])
    torch.testing.assert_close(after, plain)  # every hook removed on exit
    assert not torch.allclose(by_projection, plain)


def test_hook_route_gradient_is_the_finite_difference_of_a_gate():
    """Head importance needs ∂L/∂ξ in the graph on the hook route too (Bloom)."""
    model = _tiny("bloom", seed=1)
    batch = {"input_ids": IDS}
    scores = head_importance(model, [batch], _loss, normalize=False)
    eps, (layer, head) = 1e-6, (1, 2)
    with torch.no_grad(), AttentionProbes(model) as probes:
        values = []
        for sign in (1, -1):
            gates = torch.ones(2, 4, dtype=torch.float64)
            gates[layer, head] += sign * eps
            probes.set_head_mask(gates)
            values.append(_loss(model, batch))  # (B,)
    per_example = (values[0] - values[1]) / (2 * eps)  # (B,)
    assert scores["gradient"][layer, head] == pytest.approx(float(per_example.mean()), rel=1e-5, abs=1e-9)
    assert scores["importance"][layer, head] == pytest.approx(float(per_example.abs().mean()), rel=1e-5,
                                                               abs=1e-9)


def test_albert_shared_block_gets_one_probe_per_layer_call():
    model = _tiny("albert")
    assert len(list(model.encoder.albert_layer_groups)) == 1  # one block, called for both layers
    with torch.no_grad():
        reference = torch.stack(model(input_ids=IDS, output_attentions=True).attentions)  # (2, B, H, Q, K)
        with AttentionProbes(model) as probes:
            assert len(probes) == 2
            model(input_ids=IDS)
            torch.testing.assert_close(probes.attentions(), reference)
            outputs = []
            for layer in (0, 1):
                mask = torch.ones(2, 4, dtype=torch.float64)
                mask[layer, 1] = 0.0
                probes.set_head_mask(mask)
                outputs.append(_output(model, IDS))
                recorded = probes.attentions()
                assert recorded[layer, :, 1].abs().max() == 0 and recorded[1 - layer, :, 1].abs().max() > 0
    assert not torch.allclose(outputs[0], outputs[1])  # layer 0's gate is not layer 1's


# ------------------------------------------------------------------ issue 12: DeBERTa-v2's padding rows
def test_padding_query_rows_do_not_matter_whatever_the_model_left_there():
    """BERT leaves a distribution over the real keys in a padding query row, DeBERTa-v2 a uniform row over
    every key (padding included). Neither row is read, so both must give the same numbers."""
    real = valid_attention((2, 3, 3), seed=1)  # (H, Q, K) over the 3 real tokens
    bert_like = np.zeros((2, 4, 4))
    bert_like[:, :3, :3] = real
    bert_like[:, 3, :3] = 1 / 3  # padding query: a distribution over the real keys
    deberta_like = bert_like.copy()
    deberta_like[:, 3, :] = 1 / 4  # padding query: uniform over every key, padding included
    mask = np.array([1, 1, 1, 0])
    want = np.array([np.mean([_h(*row) for row in head]) for head in real])  # by hand, real rows only
    for arr in (bert_like, deberta_like):
        np.testing.assert_allclose(head_entropy(arr, mask), want)
        np.testing.assert_allclose(head_confidence(arr, mask), real.max(-1).mean(-1))
    leaky = bert_like.copy()
    leaky[:, 0] = 1 / 4  # a *real* query row on the padding key is still refused
    with pytest.raises(ValueError, match="padding keys"):
        head_entropy(leaky, mask)


# ------------------------------------------------------------------ issue 14: property tests
@each_bad_attention((2, 5, 5))
def test_head_entropy_and_confidence_reject_bad_attention(bad):
    _, array = bad
    assert_rejects(lambda: head_entropy(array), "attention")
    assert_rejects(lambda: head_entropy(array, relative=True, causal=False), "attention")
    assert_rejects(lambda: head_confidence(array), "attention")


@PROPERTY_SETTINGS
@given(bad=bad_mask(5))
@every_mask_kind(5)
def test_head_entropy_and_confidence_reject_bad_masks(bad):
    _, mask = bad
    attention = valid_attention((2, 5, 5))
    assert_rejects(lambda: head_entropy(attention, mask), "attention_mask")
    assert_rejects(lambda: head_confidence(attention, mask), "attention_mask")


@PROPERTY_SETTINGS
@given(bad=bad_attention((2, 3, 4), kinds=("inf", "negative", "unnormalised", "extra_dim", "missing_dim",
                                          "string", "none", "empty")))
def test_specialisation_rejects_bad_relative_entropies(bad):
    """(NaN is allowed there: head_entropy gives NaN for an example without a countable row.)"""
    _, array = bad
    assert_rejects(lambda: specialisation(array), "relative_per_example")


@PROPERTY_SETTINGS
@given(bad=bad_attention((2, 4), kinds=("nan", "inf", "extra_dim", "missing_dim", "string", "none", "empty")))
def test_pruning_order_and_prediction_reject_bad_scores(bad):
    _, array = bad
    assert_rejects(lambda: pruning_order(array), "importance")
    assert_rejects(lambda: predicted_curve(1.0, array, np.array([[0, 0], [1, 1]])), "gradient")


def test_specialisation_rejects_values_outside_zero_one():
    assert_rejects(lambda: specialisation(np.full((1, 2, 3), 1.5)), "relative_per_example")
    assert_rejects(lambda: specialisation(np.full((1, 2, 3), -0.1)), "relative_per_example")


def test_predicted_curve_rejects_an_order_outside_the_gradient():
    assert_rejects(lambda: predicted_curve(1.0, np.ones((2, 2)), np.array([[0, 2]])), "order")
    assert_rejects(lambda: predicted_curve(1.0, np.ones((2, 2)), np.array([0, 1])), "order")
    assert_rejects(lambda: predicted_curve(float("nan"), np.ones((2, 2)), np.array([[0, 1]])), "base_loss")


# ------------------------------------------------------------------ issue 13: captions from the numbers
def test_pruning_caption_states_the_cliff_and_whether_the_prediction_sees_it():
    from advanced.attention_entropy import pruning_summary
    from attnviz.entropy_figures import pruning_caption

    measured = np.array([0.01, 0.012, 0.05, 0.5, 2.0])  # tenfold first at 3 removed
    flat = pruning_summary(measured, np.array([0.01, 0.01, 0.011, 0.012, -0.1]))
    assert flat == {"cliff": 3, "free": 2, "measured": 0.5, "predicted": 0.012, "sees_it": False}
    assert "first 2 heads go almost for free" in pruning_caption(flat) and "does not see it" in pruning_caption(flat)
    steep = pruning_summary(measured, np.array([0.01, 0.05, 0.1, 0.3, 1.0]))
    assert steep["sees_it"] and "sees it." in pruning_caption(steep)
    assert pruning_summary(np.array([1.0, 2.0, 3.0]), np.zeros(3)) == {"cliff": None, "free": 2}


def test_causal_and_specialisation_captions_follow_the_numbers():
    from advanced.attention_entropy import entropy_growth
    from attnviz.entropy_figures import causal_caption, specialisation_caption

    entropy = np.zeros((1, 2, 2, 9))  # (L, B, H, Q): head 0 grows with position, head 1 stays at 0.1
    entropy[0, :, 0] = np.log(np.arange(9) + 1)
    entropy[0, :, 1, 1:] = 0.1
    growth = {(0, 0): entropy_growth(entropy, 0, 0), (0, 1): entropy_growth(entropy, 0, 1)}
    assert growth[(0, 0)] == pytest.approx((np.log([2, 3]).mean(), np.log([8, 9]).mean()))  # quarters of 8 rows
    caption = causal_caption(growth, (0, 0), (0, 1))
    assert "head (0.0) grows" in caption and "sharpest (0.1) does not grow: 0.10 → 0.10" in caption
    spec = {"label": np.array([["specialised", "mixed"]])}
    assert "the sharper a head, the more" in specialisation_caption(-0.9, spec, np.array([[0.8, 0.2]]))
    assert "says little" in specialisation_caption(0.1, spec, np.array([[0.8, 0.2]]))
    assert "opposite" in specialisation_caption(0.7, spec, np.array([[0.8, 0.2]]))
    assert "mean importance 0.80, the others 0.20" in specialisation_caption(-0.9, spec, np.array([[0.8, 0.2]]))


def test_encoder_and_vit_pruning_captions_follow_the_numbers():
    from attnviz.entropy_figures import encoder_caption, vit_pruning_caption, vit_texts

    relative = np.array([[0.9, 0.7], [0.2, 0.4], [0.5, 0.05]])  # (L=3, H=2): layer means 0.8, 0.3, 0.275
    caption = encoder_caption(relative)
    assert "Layer 0 is the broadest on average (0.80), layer 2 the sharpest (0.28)" in caption
    assert "the sharpest single head is 2.1 (layer.head)" in caption
    measured, reverse = np.array([1.0, 0.9, 0.6, 0.5, 0.2]), np.array([1.0, 0.5, 0.3, 0.2, 0.1])  # half: 2 of 4
    randoms = np.array([[1.0, 0.8, 0.4, 0.3, 0.2], [1.0, 0.7, 0.6, 0.3, 0.2]])  # mean at 2 removed: 0.5
    better = vit_pruning_caption("v", "accuracy", True, 2, measured, randoms, reverse)
    assert "60% by importance, 50% at random, 30% most important first" in better
    assert "keeps more than the random orders' mean" in better and "200 shipped test images" in better
    worse = vit_pruning_caption("v", "accuracy", True, 2, np.array([1.0, 0.9, 0.4, 0.3, 0.2]), randoms, reverse)
    assert "keeps no more than" in worse
    assert vit_texts(False)[0] == "agreement with its own unpruned predictions"
    assert "task-agnostically" in vit_pruning_caption("v", "agreement", False, 2, measured, randoms, reverse)


@pytest.fixture(scope="module")
def tiny_gpt2_measured():
    """The lesson's default decoder measured as the lesson does: importance on gpt2_batches(), pruning on fresh
    sequences (seed 2000)."""
    from advanced.attention_entropy import _pruning_curves
    from attnviz.models import load_model
    from attnviz.tasks import gpt2_batches, gpt2_loss, mean_loss

    torch.set_num_threads(1)
    gpt = load_model(None, kind="causal-lm", device="cpu")
    batches = gpt2_batches()
    with torch.no_grad(), AttentionProbes(gpt.model) as probes:
        gpt.model(**batches[0])
        weights = probes.attentions().numpy()  # (L, B, H, Q, K)
    scores = head_importance(gpt.model, batches, gpt2_loss)
    curves = _pruning_curves(gpt.model, scores["importance"], mean_loss(gpt2_batches(seed=2000), gpt2_loss), 1)
    return weights, scores, curves


def test_claim_pruning_cliff_is_invisible_to_the_taylor_prediction_on_the_tiny_gpt2(tiny_gpt2_measured):
    """The docstring and caption: the first heads go almost for free, and the first-order prediction stays
    flat where the measured loss jumps (redundant heads cover for each other)."""
    from advanced.attention_entropy import pruning_summary

    _, scores, curves = tiny_gpt2_measured
    measured = curves["least important first (measured)"]
    predicted = predicted_curve(measured[0], scores["gradient"], pruning_order(scores["importance"]))
    summary = pruning_summary(measured, predicted)
    assert summary["cliff"] is not None and summary["free"] >= 2, "no cliff after a few free heads any more"
    assert not summary["sees_it"], "the Taylor prediction now sees the cliff: the caption's point is gone"
    assert curves["most important first (measured)"][1] > 10 * measured[0]  # the reverse order hurts at once


def test_claim_sharp_heads_are_the_important_ones_on_the_tiny_gpt2(tiny_gpt2_measured):
    from scipy.stats import spearmanr

    from advanced.attention_entropy import entropy_growth
    from attnviz.entropy_figures import grows
    from intermediate.attention_comparison import attention_entropy

    weights, scores, _ = tiny_gpt2_measured
    relative = head_entropy(weights, causal=True, relative=True)  # (L, H)
    assert spearmanr(relative.ravel(), scores["importance"].ravel())[0] < -0.5, "sharpness no longer predicts"
    broadest = np.unravel_index(np.argmax(relative), relative.shape)
    assert grows(*entropy_growth(attention_entropy(weights), *broadest)), "the broadest head's entropy is flat"
