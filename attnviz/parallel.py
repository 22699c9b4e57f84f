"""Threads for work that NumPy or numba runs without Python's global lock.

NumPy lets go of the global interpreter lock inside its loops (sums, divisions, ``np.partition``) and so does
a numba function compiled with ``nogil=True``; independent pieces of such work — the layers of a rollout,
the sinks of a flow row — then run side by side on the cores, in one process, sharing their arrays.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system reports one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads() -> int:
    """How many threads one piece of work may start: one per usable core, or fewer where ``OMP_NUM_THREADS``
    says so — the limit BLAS and torch obey too. The test shares and the course runner set it to 1: two
    processes side by side on two cores, each starting two threads, would only fight over the cores."""
    cores = usable_cores()
    try:
        return max(1, min(cores, int(os.environ["OMP_NUM_THREADS"])))
    except (KeyError, ValueError):
        return cores


def map_on_threads(work, items, threads: int | None = None) -> list:
    """``[work(item) for item in items]`` on up to ``threads`` threads (default: :func:`default_threads`), in
    order.

    With one thread (or one item) no thread is started. An exception in ``work`` is raised here.
    """
    items = list(items)
    threads = min(default_threads() if threads is None else threads, len(items))
    if threads <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(work, items))
