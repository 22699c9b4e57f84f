"""Exercise A1: attention flow with gradient integration.

Build attention flow (Abnar & Zuidema 2020) from its definition, then replace the attention weights by
gradient-weighted ones, ``A ⊙ |∂y/∂A|``, and send those through the same network. Small inputs only:
``networkx`` is fine here (``03_advanced/attention_flow.py`` shows how to make it fast).

Conventions: attention is ``(layers, heads, query, key)``, first layer first; every row is a softmax
distribution. The flow network has one node ``(layer, token)`` per token per layer, layer 0 being the input
and layer ``L`` the top; the edge from ``(l, i)`` down to ``(l − 1, j)`` has capacity ``Â_l[i, j]``.

Background: ``03_advanced/attention_flow.py`` and ``02_intermediate/attention_rollout.py``.
"""

import networkx as nx
import numpy as np
import torch


def residual_capacities(attention: np.ndarray) -> np.ndarray:
    """The capacities ``Â_l = 0.5 · mean_h A_l + 0.5 · I``, rows renormalised to sum to 1.

    Args:
        attention: ``(layers, heads, n, n)``.
    Returns:
        ``(layers, n, n)``; every row sums to 1.
    """
    raise NotImplementedError("residual_capacities: your code here — see the docstring above")


def flow_graph(capacities: np.ndarray) -> nx.DiGraph:
    """The layered flow network as a ``networkx.DiGraph``.

    Nodes are tuples ``(layer, token)`` for ``layer = 0 … L`` (``L = capacities.shape[0]``). For every layer
    ``l ≥ 1`` and tokens ``i, j``: an edge ``(l, i) → (l − 1, j)`` with attribute
    ``capacity = capacities[l - 1][i, j]`` (``capacities[0]`` is the first layer, the one next to the input).
    """
    raise NotImplementedError("flow_graph: your code here — see the docstring above")


def attention_flow(capacities: np.ndarray) -> np.ndarray:
    """``F[i, j]`` = the maximum flow from ``(L, i)`` (token ``i`` at the top) to ``(0, j)`` (input token ``j``).

    Args:
        capacities: ``(layers, n, n)`` as returned by :func:`residual_capacities`.
    Returns:
        ``(n, n)`` raw max-flow values (rows do not sum to 1). Use ``networkx.maximum_flow_value``.
    """
    raise NotImplementedError("attention_flow: your code here — see the docstring above")


def attention_and_gradients(model, input_ids: torch.Tensor, score_fn) -> tuple[np.ndarray, np.ndarray]:
    """The attention probabilities of ``model`` and the gradient of a score with respect to them.

    ``model`` is a ``transformers`` model loaded with eager attention; ``input_ids`` is ``(1, n)``;
    ``score_fn(outputs)`` returns a scalar tensor. Run the model with ``output_attentions=True`` *with*
    gradients, keep the gradient of every layer's ``(1, heads, n, n)`` attention tensor (``retain_grad()``
    on the tensors the model returns), back-propagate the score, and return
    ``(attention, gradients)`` as numpy ``(layers, heads, n, n)`` each.
    """
    raise NotImplementedError("attention_and_gradients: your code here — see the docstring above")


def gradient_weighted_maps(attention: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Per layer, the head mean of ``A ⊙ |∂y/∂A|``: ``(layers, heads, n, n)`` twice -> ``(layers, n, n)``."""
    raise NotImplementedError("gradient_weighted_maps: your code here — see the docstring above")


def gradient_flow(attention: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Attention flow through the gradient-weighted maps instead of the raw attention.

    Per layer: the map ``G_l`` of :func:`gradient_weighted_maps`, each row divided by its sum (a row that is
    all zero stays zero), then ``0.5 · G_l + 0.5 · I`` with rows renormalised — the capacities. Return the
    ``(n, n)`` max-flow matrix of :func:`attention_flow` on them.
    """
    raise NotImplementedError("gradient_flow: your code here — see the docstring above")
