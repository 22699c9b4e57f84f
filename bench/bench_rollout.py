"""Attention rollout at 12 layers × 12 heads × 512 tokens: the lesson against a plain per-layer NumPy loop.

The lesson (``intermediate.attention_rollout.AttentionRollout``) fuses the heads first, reading the float32
input once and accumulating in float64, validates the fused matrices (12× smaller than the input), finds
the discard threshold with one ``np.partition`` per layer, and forms only the product that is asked for —
with ``row=`` a single row, by vector–matrix products. The reference is the same algorithm written the
plain way, one layer at a time: convert the layer to float64, average the heads, discard by a stable
argsort of the off-diagonal entries (exercise I1's tie rule), add the residual, renormalise, multiply.
Both run on the same random row-stochastic float32 input in the same process: we report medians, their
ratios and the largest difference between the results (the target is ≤ 1e-9).

Targets (specification §8, issue "Speed"): ≤ 0.1 s with discard 0.1, ≤ 0.05 s without. The machine is
shared, so the ratios are the figures to trust; on a loaded machine multi-threaded BLAS can spin-wait for a
core it does not get, which the one-thread rows (threadpoolctl, when installed) show.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from attnviz.grading.fixtures import random_attention
from intermediate.attention_rollout import AttentionRollout

LAYERS, HEADS, TOKENS = 12, 12, 512
DISCARD = 0.1
TARGETS = {"discard": 0.1, "no discard": 0.05}


def numpy_loop_rollout(attention: np.ndarray, discard_ratio: float, row: int | None = None) -> np.ndarray:
    """Mean head fusion, discard, 0.5·A + 0.5·I, renormalisation and product, one layer at a time."""
    n = attention.shape[-1]
    off_diagonal = ~np.eye(n, dtype=bool)
    result = None
    for layer in attention:  # (H, Q, K) each
        fused = layer.astype(np.float64).mean(0)  # (Q, K)
        if discard_ratio > 0:
            values = fused[off_diagonal]  # (n·(n−1),) row-major
            values[np.argsort(values, kind="stable")[: int(discard_ratio * values.size)]] = 0.0
            fused[off_diagonal] = values
        fused = 0.5 * fused + 0.5 * np.eye(n)
        fused /= fused.sum(-1, keepdims=True)
        result = fused if result is None else fused @ result  # R_l = Â_l · R_{l-1}
    return result if row is None else result[row]


def median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def measure(attention: np.ndarray) -> list[tuple[str, float, float, float, float | None]]:
    """Rows of (what, lesson seconds, loop seconds, largest difference, target)."""
    rollout = AttentionRollout()
    cases = [
        (f"discard {DISCARD}", {"discard_ratio": DISCARD}, TARGETS["discard"]),
        ("no discard", {"discard_ratio": 0.0}, TARGETS["no discard"]),
        (f"one row (row=0), discard {DISCARD}", {"discard_ratio": DISCARD, "row": 0}, None),
        ("one row (row=0), no discard", {"discard_ratio": 0.0, "row": 0}, None),
    ]
    rows = []
    for name, kwargs, target in cases:
        lesson, got = median_seconds(lambda kw=kwargs: rollout.compute_rollout(attention, **kw), 7)
        loop, want = median_seconds(lambda kw=kwargs: numpy_loop_rollout(attention, kw["discard_ratio"],
                                                                         kw.get("row")), 3)
        rows.append((name, lesson, loop, float(np.abs(got - want).max()), target))
    return rows


def main() -> None:
    attention = random_attention(0, (LAYERS, HEADS, TOKENS, TOKENS)).astype(np.float32)  # (L, H, Q, K)
    AttentionRollout().compute_rollout(random_attention(1, (2, 2, 8, 8)), discard_ratio=DISCARD)  # warm-up
    sections = [("default BLAS threads", measure(attention))]
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            sections.append(("BLAS limited to 1 thread (threadpoolctl)", measure(attention)))
    except ImportError:
        pass

    print("## Attention rollout (`bench/bench_rollout.py`)\n")
    print(f"Median wall time of `AttentionRollout.compute_rollout` on random row-stochastic float32 attention "
          f"of {LAYERS} layers × {HEADS} heads × {TOKENS} tokens (validation included), against a plain "
          "per-layer NumPy loop of the same algorithm in the same run.\n")
    print("| BLAS | case | lesson (s) | NumPy loop (s) | loop / lesson | largest difference | target |")
    print("|---|---|---|---|---|---|---|")
    for blas, rows in sections:
        for name, lesson, loop, difference, target in rows:
            verdict = "—" if target is None else f"≤ {target} s: {'met' if lesson <= target else 'NOT met'}"
            print(f"| {blas} | {name} | {lesson:.3f} | {loop:.3f} | {loop / lesson:.1f}× | {difference:.1e} "
                  f"| {verdict} |")


if __name__ == "__main__":
    main()
