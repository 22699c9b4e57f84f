"""Exercise I3: cross-attention of the translation model.

The course's tiny BART translates written dates into ISO dates: ``"the 21st of November, 2026"`` →
``"2026-11-21"``. Its tokenizer is character-level: the source ``<s> t h e ␣ 2 1 s t … 6 </s>`` has one
token per character after ``<s>``, so source character ``c`` is token ``c + 1``.

In ``YYYY-MM-DD`` every digit has a known right place to read from: the year digits (output positions
0–3) from the year, the month digits (5–6) from the month name, the day digits (8–9) from the day.
``attnviz.training.dates`` gives each example's field spans (``example.token_spans``, in source token
positions) and the output positions of each field (``TARGET_POSITIONS``). So we can *check* whether
cross-attention aligns each output digit with the right part of the input.

Teacher forcing: the decoder reads ``<s> y_1 … y_10`` (the target's token ids without the final
``</s>``) and its row ``t`` is the attention used to *predict* ``y_{t+1}`` — the output character at
position ``t``. Cross-attention is ``(target, source)``: rows are output positions, columns source tokens.

Check your work with ``make check``. Background: ``02_intermediate/cross_attention_viz.py``.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402, F401 (used in the solution blocks)
import numpy as np  # noqa: E402
import torch  # noqa: E402, F401 (used in the solution blocks)


def cross_attention(model, tokenizer, source: str, target: str) -> np.ndarray:
    """Teacher-forced cross-attention of one pair: numpy ``(layers, heads, target_steps, source_tokens)``.

    ``tokenizer(source)`` gives the encoder input (with ``<s>``/``</s>``); ``tokenizer(target)`` gives
    ``<s> y_1 … y_10 </s>`` — feed all of it but the last token as ``decoder_input_ids``, so there are 11
    rows (10 characters and ``</s>``). Run the model under ``torch.no_grad()`` with ``output_attentions=True``
    and stack ``outputs.cross_attentions`` (one ``(1, heads, T, S)`` tensor per decoder layer).
    """
    raise NotImplementedError("cross_attention: your code here — see the docstring above")


def align(cross: np.ndarray) -> np.ndarray:
    """The source token each output row attends to most: ``(target, source) -> (target,)`` integer indices."""
    raise NotImplementedError("align: your code here — see the docstring above")


def digit_hits(alignment: np.ndarray, token_spans: dict, target_positions: dict) -> np.ndarray:
    """Which output digits align inside their field: a boolean array of 8 values.

    ``alignment`` is ``(target,)`` from :func:`align`; ``token_spans[field] = (start, end)`` (end excluded);
    ``target_positions[field]`` the output positions of the field's digits. Order: year (4 digits), month
    (2), day (2) — the order of ``("year", "month", "day")``.
    """
    raise NotImplementedError("digit_hits: your code here — see the docstring above")


def alignment_by_layer(model, tokenizer, examples, target_positions: dict) -> np.ndarray:
    """Per decoder layer, the share of output digits aligned inside their field: ``(layers,)`` in ``[0, 1]``.

    For each example (``example.source``, ``example.target``, ``example.token_spans``) and each layer,
    average the cross-attention over the heads *first*, then align and count the hits of all 8 digits;
    return the mean over all digits of all examples.
    """
    raise NotImplementedError("alignment_by_layer: your code here — see the docstring above")


def plot_cross_attention(cross: np.ndarray, source_tokens: list[str], target_tokens: list[str], title: str = ""):
    """A heatmap of one ``(target, source)`` map: returns the Figure.

    The tests read the image: the matrix itself on a fixed ``vmin=0, vmax=1`` scale, x tick labels = the
    source tokens and y tick labels = the target tokens (one tick per token), a colour bar.
    """
    raise NotImplementedError("plot_cross_attention: your code here — see the docstring above")
