"""Hypothesis strategies for bad attention input, and the one assertion every entry point must pass (issue 14).

A *bad* input is a valid attention array spoiled in exactly one way (a NaN, a negative weight, a row that does not
sum to 1, a missing axis, ...). Every public function that takes attention must answer each of them with a
``ValueError`` or ``TypeError`` whose message names the argument — never a silent result, and never an exception
raised from inside numpy, torch, scipy or matplotlib (those messages speak about *their* internals, not about the
student's input). :func:`assert_rejects` checks both.

Usage::

    from bad_attention import PROPERTY_SETTINGS, assert_rejects, bad_attention, every_kind  # tests/ is on sys.path

    @PROPERTY_SETTINGS
    @given(bad=bad_attention((2, 5, 5)))
    @every_kind((2, 5, 5))               # each kind once, explicitly, on top of the generated examples
    def test_fuse_heads_rejects_bad_attention(bad):
        kind, array = bad
        assert_rejects(lambda: fuse_heads(array), "attention")
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

# Few examples, always the same ones: the property tests must stay cheap and reproducible in CI.
PROPERTY_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

BAD_KINDS = (
    "nan", "inf", "negative", "unnormalised", "empty", "extra_dim", "missing_dim", "wrong_keys", "transposed",
    "string", "none",
)

# Exceptions raised from a frame in one of these packages are "from inside a library", not a course message.
FOREIGN_PACKAGES = ("numpy", "torch", "scipy", "matplotlib", "networkx", "PIL", "plotly", "sklearn")
COURSE_ROOT = Path(__file__).resolve().parents[1]


def valid_attention(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A float64 array of ``shape`` whose last axis sums to 1 (softmax of random scores): an input to spoil."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=shape)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


def spoil(array: np.ndarray, kind: str, rng: np.random.Generator):
    """Return ``array`` spoiled in the one way named by ``kind`` (see :data:`BAD_KINDS`)."""
    bad = array.copy()
    cell = tuple(int(rng.integers(n)) for n in bad.shape)
    if kind == "nan":
        bad[cell] = np.nan
    elif kind == "inf":
        bad[cell] = np.inf
    elif kind == "negative":
        bad[cell] = -0.5
    elif kind == "unnormalised":
        bad = bad * 3.0  # every row sums to 3
    elif kind == "empty":
        bad = bad[..., :0, :0] if bad.ndim >= 2 else bad[:0]
    elif kind == "extra_dim":
        bad = bad[None, None, None]
    elif kind == "missing_dim":
        bad = bad.reshape(-1) if bad.ndim > 1 else np.asarray(bad[0])  # one axis fewer (a 1-D input: a scalar)
    elif kind == "wrong_keys":
        # one key dropped: rows no longer sum to 1 and the key count no longer matches the tokens
        bad = bad[..., :-1]
    elif kind == "transposed" and bad.ndim < 2:
        bad = bad[:, None].copy()  # one distribution (K,) given as a column (K, 1)
    elif kind == "transposed":
        # columns of a row-stochastic matrix do not sum to 1 (unless it happens to be doubly stochastic: avoid that
        # by making one query look only at the first key)
        first = np.zeros(bad.shape[-1])
        first[0] = 1.0
        bad[..., 0, :] = first
        bad = np.swapaxes(bad, -1, -2).copy()
    elif kind == "string":
        return "attention"
    elif kind == "none":
        return None
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of {BAD_KINDS}")
    return bad


def bad_attention(shape: tuple[int, ...], kinds: tuple[str, ...] = BAD_KINDS) -> st.SearchStrategy:
    """A strategy of ``(kind, array)``: a valid attention array of ``shape`` spoiled one way.

    ``kinds`` restricts the spoilings (e.g. leave out ``"transposed"`` for a function that legitimately accepts
    column-stochastic input, saying why in its docstring).
    """
    # The kind is drawn from the seed (not with ``sampled_from``, which hypothesis shrinks towards the first kind),
    # so that even 15 examples visit every kind.
    def make(pair: tuple[int, int]):
        index, seed = pair
        kind = kinds[index]
        return kind, spoil(valid_attention(shape, seed=seed), kind, np.random.default_rng(seed))

    return st.tuples(st.integers(0, len(kinds) - 1), st.integers(0, 2**16)).map(make)


def every_kind(shape: tuple[int, ...], kinds: tuple[str, ...] = BAD_KINDS, argname: str = "bad"):
    """A decorator that adds one explicit ``@example`` per kind, so every spoiling is tried at least once.

    Hypothesis draws the generated examples unevenly (15 draws may never produce an Inf); explicit examples always
    run. Put it under ``@given(bad=bad_attention(shape))``.
    """
    def decorate(test):
        for seed, kind in enumerate(kinds):
            array = spoil(valid_attention(shape, seed=seed), kind, np.random.default_rng(seed))
            test = example(**{argname: (kind, array)})(test)
        return test

    return decorate


def each_bad_attention(shape: tuple[int, ...], kinds: tuple[str, ...] = BAD_KINDS, argname: str = "bad"):
    """The property test's three decorators in one: :data:`PROPERTY_SETTINGS`, ``@given`` over
    :func:`bad_attention` and :func:`every_kind` (each kind once, explicitly), for the same ``shape`` and ``kinds``.

    Usage: ``@each_bad_attention((2, 5, 5))`` above ``def test_x_rejects(bad): ...``.
    """
    def decorate(test):
        with_examples = every_kind(shape, kinds, argname)(test)
        return PROPERTY_SETTINGS(given(**{argname: bad_attention(shape, kinds)})(with_examples))

    return decorate


MASK_KINDS = ("too_long", "too_short", "not_binary", "nan", "extra_dim", "all_zero")


def bad_mask(n_keys: int) -> st.SearchStrategy:
    """A strategy of ``(kind, mask)``: key masks that are wrong for ``n_keys`` keys."""
    return st.tuples(st.integers(0, len(MASK_KINDS) - 1), st.integers(0, 2**16)).map(
        lambda pair: _make_mask(n_keys, MASK_KINDS[pair[0]], pair[1])
    )


def every_mask_kind(n_keys: int, argname: str = "bad"):
    """Like :func:`every_kind`, for :func:`bad_mask`: one explicit example per kind of bad mask."""
    def decorate(test):
        for seed, kind in enumerate(MASK_KINDS):
            test = example(**{argname: _make_mask(n_keys, kind, seed)})(test)
        return test

    return decorate


def _make_mask(n_keys: int, kind: str, seed: int):
    """``(kind, mask)``: a valid padding mask for ``n_keys`` keys (real tokens first) spoiled the way ``kind`` says."""
    good = np.ones(n_keys)
    good[np.random.default_rng(seed).integers(1, n_keys):] = 0
    if kind == "too_long":
        return kind, np.ones(n_keys + 1)
    if kind == "too_short":
        return kind, np.ones(n_keys - 1)
    if kind in ("not_binary", "nan"):
        bad = good.copy()
        bad[0] = 0.5 if kind == "not_binary" else np.nan
        return kind, bad
    if kind == "extra_dim":
        return kind, good[None, None, :]
    if kind == "all_zero":
        return kind, np.zeros(n_keys)
    raise ValueError(f"unknown kind {kind!r}; expected one of {MASK_KINDS}")


def _raised_inside_a_library(error: BaseException) -> str | None:
    """The file of the innermost frame if that frame belongs to numpy/torch/..., else None."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return None
    innermost = Path(frames[-1].filename)
    if any(part in FOREIGN_PACKAGES for part in innermost.parts) and COURSE_ROOT not in innermost.parents:
        return str(innermost)
    if "site-packages" in innermost.parts:
        return str(innermost)
    return None


def assert_rejects(call: Callable[[], object], *names: str) -> BaseException:
    """``call()`` must raise ``ValueError`` or ``TypeError`` from course code, with one of ``names`` in its message.

    Returns the exception so a test can check more of the message.
    """
    try:
        result = call()
    except (ValueError, TypeError) as error:
        message = str(error)
        inside = _raised_inside_a_library(error)
        assert inside is None, (
            f"{type(error).__name__} raised from inside a library ({inside}), not by the course's own check: "
            f"{message!r}"
        )
        assert any(name in message for name in names), (
            f"the message does not name the argument ({' or '.join(names)}): {message!r}"
        )
        return error
    except Exception as error:  # noqa: BLE001 — any other type is the failure being reported
        raise AssertionError(
            f"expected ValueError/TypeError naming {' or '.join(names)}, got {type(error).__name__}: {error}"
        ) from error
    raise AssertionError(f"no error: bad input was accepted silently and gave {type(result).__name__}")
