"""Cases of exercise A1 — attention flow with gradient integration."""

from functools import cache

import networkx as nx
import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake, Property
from attnviz.grading.fixtures import random_attention


def _attention():
    return random_attention(21, (3, 2, 6, 6), sharpness=3.0)  # (L, H, n, n)


def _one_layer():
    return random_attention(22, (1, 3, 5, 5))


def _gradients():
    return np.random.default_rng(23).normal(size=(3, 2, 6, 6)) * 0.01  # small, like real gradients


def _reference_caps(attention):
    hat = 0.5 * attention.mean(1) + 0.5 * np.eye(attention.shape[-1])
    return hat / hat.sum(-1, keepdims=True)


@cache
def _tiny_bert():
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, attn_implementation="eager")
    return BertModel(config).eval()


def _run_gradients(mod):
    import torch

    model = _tiny_bert()
    model.zero_grad(set_to_none=True)
    direction = torch.linspace(-1.0, 1.0, 16)  # a fixed read-out (a plain sum of a LayerNorm output is constant)
    attention, gradients = mod.attention_and_gradients(
        model, torch.tensor([[2, 7, 11, 5, 9, 3]]), lambda outputs: outputs.last_hidden_state[0, 0] @ direction)
    return {"attention": np.asarray(attention, float), "gradients": np.asarray(gradients, float)}


def _not_all_zero(out):
    grads = np.asarray(out.get("gradients"))
    if grads.size and np.all(grads == 0):
        return "gradients: every entry is zero"
    return None


def _run_graph(mod):
    caps = _reference_caps(_attention())
    graph = mod.flow_graph(caps)
    if not isinstance(graph, nx.DiGraph):
        raise TypeError(f"flow_graph must return a networkx.DiGraph, got {type(graph).__name__}")
    down = graph.get_edge_data((3, 1), (2, 4))
    return {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges(),
            "capacity_3_1_to_2_4": float(down["capacity"]) if down else -1.0,
            "upward_edge_exists": graph.has_edge((2, 4), (3, 1)),
            "flow_top_1_to_input_3": float(nx.maximum_flow_value(graph, (3, 1), (0, 3))) if down else -1.0}


def _run_flow(mod):
    return {"flow": mod.attention_flow(_reference_caps(_attention())),
            "one_layer": mod.attention_flow(_reference_caps(_one_layer()))}


def _rollout_instead(sol):
    out = {}
    for key, attention in (("flow", _attention()), ("one_layer", _one_layer())):
        caps = _reference_caps(attention)
        product = caps[0]
        for layer in range(1, caps.shape[0]):
            product = caps[layer] @ product
        out[key] = product
    return out


def _no_residual(sol):
    return {"capacities": _attention().mean(1)}


def _not_renormalised(sol):
    return {"capacities": _attention().mean(1) + np.eye(6)}


def _rows_sum_to_one(out):
    caps = np.asarray(out.get("capacities"))
    if caps.ndim != 3:
        return f"capacities: expected 3 dimensions (layers, n, n), got shape {caps.shape}"
    worst = np.abs(caps.astype(np.float64).sum(-1) - 1).max()
    # to the precision of the answer's own dtype: a float32 answer is right when right to float32 precision
    low_precision = np.issubdtype(caps.dtype, np.floating) and caps.dtype != np.float64
    allowed = 64 * float(np.finfo(caps.dtype).eps) if low_precision else 1e-8
    return None if worst < allowed else f"capacities: rows must sum to 1, one is off by {worst:.3g}"


EXERCISE = Exercise(
    id="a1_attention_flow_gradients",
    path="03_advanced/a1_attention_flow_gradients.py",
    title="A1 — Attention flow with gradient integration",
    cases=[
        Case("residual_capacities", lambda mod: {"capacities": mod.residual_capacities(_attention())}, points=2,
             checks=[Property(_rows_sum_to_one, "Renormalise every row after adding the residual."),
                     Close("capacities", atol=1e-10, hint="Average the heads, then 0.5·A + 0.5·I, then divide "
                           "each row by its sum.")],
             mistakes=[Mistake("no_residual", _no_residual, "You left out the residual connection: the "
                               "capacities are 0.5·A + 0.5·I, not A."),
                       Mistake("not_renormalised", _not_renormalised, "A + I has rows summing to 2: use "
                               "0.5·A + 0.5·I, or divide each row by its sum.")]),
        Case("flow_graph", _run_graph, points=2,
             checks=[Equal("nodes", "One node (layer, token) for layers 0 … L: (L + 1)·n nodes."),
                     Equal("edges", "Every token of layer l connects to every token of layer l − 1: L·n² edges."),
                     Close("capacity_3_1_to_2_4", atol=1e-12, hint="The edge (l, i) → (l − 1, j) carries "
                           "capacities[l − 1][i, j]: row i (the query at layer l), column j (the key below)."),
                     Equal("upward_edge_exists", "Edges point down, from the top towards the input."),
                     Close("flow_top_1_to_input_3", atol=1e-9)],
             mistakes=[Mistake("transposed_capacity", lambda sol: {
                 **_run_graph(sol), "capacity_3_1_to_2_4": float(_reference_caps(_attention())[2][4, 1])},
                 "The capacity of (l, i) → (l − 1, j) is Â_l[i, j]; you used Â_l[j, i] (the matrix transposed).")]),
        Case("attention_flow", _run_flow, points=4,
             checks=[Close("one_layer", atol=1e-8, hint="With one layer the only path from i to j is the edge "
                           "itself: the flow equals the capacity matrix."),
                     Close("flow", atol=1e-8, hint="One networkx.maximum_flow_value per pair, from (L, i) at "
                           "the top to (0, j) at the input.")],
             mistakes=[Mistake("transposed", lambda sol: {k: v.T for k, v in _run_flow(sol).items()},
                               "Your flow matrix is transposed: row i is the source (token i at the top), "
                               "column j the sink (token j at the input)."),
                       Mistake("rollout", _rollout_instead, "That is rollout (the product Â_L ⋯ Â_1), not the "
                               "maximum flow through the layered graph.")]),
        Case("attention_and_gradients", _run_gradients, points=3,
             checks=[Property(_not_all_zero, "Are you inside torch.no_grad(), or did you call retain_grad() on a "
                              "new tensor (torch.stack of the layers) instead of the tensors the model returned?"),
                     Close("attention", atol=1e-6, hint="Stack outputs.attentions without the batch axis: "
                           "(layers, heads, n, n)."),
                     Close("gradients", atol=1e-6, rtol=1e-4, hint="retain_grad() on each tensor of "
                           "outputs.attentions before backward(); then read .grad.")]),
        Case("gradient_weighted_maps", lambda mod: {"maps": mod.gradient_weighted_maps(_attention(), _gradients())},
             points=2,
             checks=[Property(lambda out: None if (np.asarray(out["maps"]) >= 0).all() else
                              "maps: contains negative values", "|∂y/∂A| is never negative, and neither is A."),
                     Close("maps", atol=1e-12, hint="Multiply A by the absolute gradient per head, then average "
                           "over the heads.")],
             mistakes=[Mistake("signed", lambda sol: {"maps": (_attention() * _gradients()).mean(1)},
                               "Take the absolute value of the gradient: A ⊙ |∂y/∂A|."),
                       Mistake("gradient_only", lambda sol: {"maps": np.abs(_gradients()).mean(1)},
                               "Weight the attention by the gradient: A ⊙ |∂y/∂A|, not |∂y/∂A| alone.")]),
        Case("gradient_flow", lambda mod: {"flow": mod.gradient_flow(_attention(), _gradients())}, points=3,
             checks=[Close("flow", atol=1e-8, hint="Divide each gradient-weighted row by its sum first, then "
                           "0.5·G + 0.5·I (rows renormalised), then the same max-flow as attention_flow.")],
             mistakes=[Mistake("no_row_normalisation", lambda sol: {"flow": sol.attention_flow(
                 _no_row_norm_caps())}, "The gradient-weighted rows are tiny (gradients are small): divide each "
                 "row by its sum before adding the residual, or the identity swamps them."),
                       Mistake("attention_capacities", lambda sol: {"flow": sol.attention_flow(
                           _reference_caps(_attention()))}, "That is the flow of the plain attention: use the "
                           "gradient-weighted maps as capacities.")]),
    ],
)


def _no_row_norm_caps():
    maps = (_attention() * np.abs(_gradients())).mean(1)
    hat = 0.5 * maps + 0.5 * np.eye(6)
    return hat / hat.sum(-1, keepdims=True)
