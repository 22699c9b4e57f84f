"""Exercise A4: compare attention patterns across model architectures.

Three models, three kinds of attention: the pre-trained encoder MiniLM (bidirectional, 6 layers × 12
heads, text), the course's tiny GPT-2 (causal: query ``q`` sees keys ``0..q`` only) and the tiny ViT
(bidirectional over image patches plus a ``[CLS]`` token). Their raw heatmaps cannot be compared by eye —
different lengths, depths, masks and geometry — but a few per-head numbers can, once each is measured
on the scale that is fair to the architecture:

* **entropy as a fraction of the maximum**, ``H(A[q]) / log n_q``, where ``n_q`` is the number of keys query
  ``q`` is *allowed* to see (``q + 1`` in a causal model, all ``n`` otherwise); rows with ``n_q = 1`` have no
  choice and are skipped. Raw nats would make every causal model look focused just because its early rows
  see few keys.
* **mean attention distance** ``Σ_k A[q, k] · ‖p_q − p_k‖`` in the model's own geometry: token positions
  for text, (row, column) patch coordinates for the ViT (Dosovitskiy et al. 2021 measured it in pixels).
  The ViT's ``[CLS]`` has no position: it is skipped as a query, and as a key its weight is left out and
  the row renormalised over the patches.
* **pattern masses**: weight on the query itself (diagonal), on the previous token, on the first token
  (``[CLS]``/BOS — the usual resting place of idle heads, Clark et al. 2019).

Models differ in depth, so compare them on **relative depth** (layer / (L − 1), 0 = first, 1 = last),
interpolating each per-layer curve onto the same grid. Two of the numbers carry units that do not travel:
distance is in tokens for text and in patches for the ViT, and it grows with the input's length — compare
its *trend* with depth across models, and its value only within one model. The entropy fraction and the
masses are unit-free.

Check your work with ``make check`` (or ``pytest tests/test_exercises.py --submission exercises -k a4``).

Background: ``02_intermediate/attention_comparison.py`` (entropy, distance, special-token mass),
``03_advanced/attention_entropy.py`` (why the fraction of ``log n_q``), ``03_advanced/vit_attention.py``.
"""

import numpy as np


def patch_positions(grid: int, with_cls: bool = True) -> np.ndarray:
    """Coordinates ``(n, 2)`` of a ViT's tokens: optionally ``[CLS]`` first (``[nan, nan]``: no position),
    then the ``grid × grid`` patches in row-major order as ``[row, column]`` (patch 1 is ``[0, 1]``)."""
    raise NotImplementedError("patch_positions: your code here — see the docstring above")


def entropy_fraction(attention: np.ndarray, causal: bool = False) -> np.ndarray:
    """Mean over query rows of ``H(row) / log n_q`` for every head: ``(layers, heads, n, n) -> (layers, heads)``.

    ``n_q`` = keys query ``q`` may see: ``q + 1`` when ``causal``, else ``n``. Skip rows with ``n_q = 1``.
    Entropy in nats with ``0 · log 0 = 0``.
    """
    raise NotImplementedError("entropy_fraction: your code here — see the docstring above")


def mean_distance(attention: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Mean attention distance of every head: ``(layers, heads, n, n)``, positions ``(n, d)`` -> ``(layers, heads)``.

    Per query with a position: ``Σ_k A[q, k] · ‖p_q − p_k‖ / Σ_k A[q, k]``, both sums over the keys that have
    a position (rows of ``positions`` that are not NaN); then the mean over those queries.
    """
    raise NotImplementedError("mean_distance: your code here — see the docstring above")


def pattern_masses(attention: np.ndarray) -> dict:
    """Mean weight per head on three keys: ``{"self": A[q, q], "previous": A[q, q − 1] (rows q ≥ 1),
    "first": A[q, 0]}``, each ``(layers, heads)`` (mean over the query rows)."""
    raise NotImplementedError("pattern_masses: your code here — see the docstring above")


def summarise(attention: np.ndarray, positions: np.ndarray, causal: bool = False) -> dict:
    """Per-layer summary of one model on one input, each value ``(layers,)`` = the mean over heads:
    ``{"entropy", "distance", "self", "previous", "first"}``."""
    raise NotImplementedError("summarise: your code here — see the docstring above")


def relative_depth_profile(values: np.ndarray, n_points: int = 5) -> np.ndarray:
    """A per-layer curve ``(layers,)`` resampled at ``n_points`` relative depths ``0, …, 1`` (linear
    interpolation; layer ``l`` sits at depth ``l / (layers − 1)``; a single layer is a constant)."""
    raise NotImplementedError("relative_depth_profile: your code here — see the docstring above")


def compare_architectures(models: dict, n_points: int = 5) -> dict:
    """``models`` maps a name to ``(attention (layers, heads, n, n), positions (n, d), causal)``.

    Returns ``{name: {statistic: (n_points,) profile over relative depth}}`` for the statistics of
    :func:`summarise`, plus ``"ranking"``: ``{statistic: [names sorted by the mean of their profile,
    smallest first]}``.
    """
    raise NotImplementedError("compare_architectures: your code here — see the docstring above")
