"""Reference solution — Exercise A5: your own attribution method (open-ended).

Design a function that says how much each input token contributed to a model's output, and make it
better than raw attention. There is no single right answer, so this exercise is graded on properties,
on a fixed set of MiniLM examples from ``03_advanced/attention_faithfulness.py`` (``F`` = cosine
similarity of the mean-pooled sentence embedding with a reference sentence):

1. **shape and values** — one finite number per token, ``(T,)``, for every example;
2. **it explains the model** — after every transformer block is re-initialised (Adebayo et al. 2018's
   randomisation check), your map must change: mean Spearman ρ between the trained and the randomised
   model's maps below 0.8;
3. **faithfulness** — mean Spearman ρ with leave-one-out (blank a token, measure the drop of ``F``) over
   the content tokens must beat raw attention's (last layer, head mean, mean of the rows: ≈ 0.34) by a
   margin of 0.05 (the grader prints your score and the bar);
4. **it is not leave-one-out itself** — that is the yardstick: a method that blanks the tokens one at a
   time (with or without noise added) earns no faithfulness points.

Ideas, from cheap to expensive — mix them, or invent your own:

* gradient × input on the token embeddings, or the gradient's norm (Simonyan et al. 2014);
* attention weighted by its gradient, ``A ⊙ ∂F/∂A``, per layer, positive part, summed or rolled out
  (Chefer et al. 2021 do the rollout);
* attention weighted by the size of what it moves, ``α_{q,k} · ‖W_O W_V x_k‖`` (Kobayashi et al. 2020,
  "Attention is Not Only a Weight");
* integrated gradients with few steps, or SmoothGrad (average gradients over noisy copies).

Tools (read their docstrings):

* ``example.forward_fn(model)(example.input_ids, *example.extra)`` computes ``F`` as a ``(1,)`` tensor;
* ``example.target(outputs)`` reads ``F`` from ``outputs = model(**example.inputs_for(model))``;
* ``attnviz.gradients.attention_gradients(model, example.inputs_for(model), example.target)``
  returns the attention probabilities and ``∂F/∂A``, numpy ``(L, 1, H, Q, K)`` each;
* ``attnviz.probes.AttentionProbes(model)`` exposes every layer's probabilities in the autograd
  graph;
* ``advanced.integrated_attention.target_row(matrix, example.row)`` picks the row(s) ``F`` reads.

Check your work with ``make check`` (or ``pytest tests/test_exercises.py --submission exercises -k a5``).
"""

import numpy as np


def attribute(model, example) -> np.ndarray:
    """One score per token of ``example.input_ids`` ``(1, T)``: how much token ``t`` contributes to ``F``.

    Args:
        model: a ``transformers`` model (MiniLM here; the grader also passes a randomised copy).
        example: an ``advanced.attention_faithfulness.Example`` — ``forward_fn(model)``, ``input_ids``,
            ``extra``, ``row`` (the query row ``F`` reads, or a boolean ``(Q,)`` of the rows it averages),
            ``content`` (the tokens that are scored).
    Returns:
        numpy ``(T,)``: larger = more important. Only the ranking over the content tokens is graded.
    """
    # BEGIN SOLUTION
    # The reference takes the second idea in its simplest form: Chefer et al.'s per-layer map
    # E_h[(A ⊙ ∂F/∂A)⁺] — the weights that raise F — summed over the layers instead of rolled out, read at
    # the row(s) F reads. On MiniLM it scores about what the rollout does ("gradient-weighted" in
    # attention_faithfulness.py) with one matrix sum instead of L products.
    from advanced.gradient_attention import chefer_layer_maps
    from advanced.integrated_attention import target_row
    from attnviz.gradients import attention_gradients

    attention, grads = attention_gradients(model, example.inputs_for(model), example.target)  # (L, 1, H, Q, K)
    maps = chefer_layer_maps(attention[:, 0], grads[:, 0])  # (L, Q, K): per layer E_h[(A ⊙ ∂F/∂A)⁺]
    return target_row(maps.sum(0), example.row)  # summed over layers, no rollout; the row(s) F reads: (K,)
    # END SOLUTION
