"""Property tests (issue 14): bad input given to the core entry points of ``attnviz`` is refused clearly.

Each test spoils a valid input one way at a time (``bad_attention.py``) and asserts a ``ValueError``/``TypeError``
raised by the course's own check, naming the argument — never a silent result, never an error from inside numpy.
The lessons' own entry points have property tests next to their other tests.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from bad_attention import (
    BAD_KINDS,
    PROPERTY_SETTINGS,
    assert_rejects,
    bad_mask,
    each_bad_attention,
    every_mask_kind,
    valid_attention,
)
from hypothesis import given
from hypothesis import strategies as st

from attnviz.cli import lesson_parser, run_lesson
from attnviz.normalize import fuse_heads, mask_padding, output_row, row_normalize
from attnviz.validate import (
    as_layers,
    check_attention,
    check_cross_attention,
    check_index,
    check_tokens,
    to_canonical,
)

# Spoilings that a function taking *unnormalised* non-negative weights legitimately accepts.
NOT_ABOUT_SUMS = tuple(k for k in BAD_KINDS if k not in ("unnormalised", "transposed", "wrong_keys"))
# Functions that work on any number of leading axes ("(..., H, Q, K)") legitimately accept an extra one.
ANY_LEADING_AXES = tuple(k for k in BAD_KINDS if k != "extra_dim")


@each_bad_attention((2, 5, 5))
def test_check_attention_rejects_every_spoiling(bad):
    kind, array = bad
    assert_rejects(lambda: check_attention(array, "HQK", square=True), "attention")


@PROPERTY_SETTINGS
@given(bad=bad_mask(5))
@every_mask_kind(5)
def test_check_attention_rejects_bad_key_masks(bad):
    kind, mask = bad
    assert_rejects(lambda: check_attention(valid_attention((2, 5, 5)), "HQK", key_mask=mask), "key_mask")


@each_bad_attention((3, 2, 4, 4))
def test_to_canonical_and_as_layers_reject_every_spoiling(bad):
    kind, array = bad
    assert_rejects(lambda: to_canonical(array, "LHQK", name="weights"), "weights")
    assert_rejects(lambda: as_layers(array, name="attention_layers"), "attention_layers")


@each_bad_attention((2, 4, 4))
def test_as_layers_names_the_bad_layer_of_a_list(bad):
    """A list of layers (what ``outputs.attentions`` is) with one bad layer: the message names that layer."""
    kind, array = bad
    layers = [valid_attention((2, 4, 4), seed=1), array]
    assert_rejects(lambda: as_layers(layers, name="attention_layers"), "attention_layers")


@each_bad_attention((2, 3, 5), kinds=tuple(k for k in BAD_KINDS if k != "transposed"))
def test_check_cross_attention_rejects_every_spoiling(bad):
    kind, array = bad
    assert_rejects(lambda: check_cross_attention(array, source_len=5, target_len=3), "cross_attention")


@each_bad_attention((2, 3, 4, 4), kinds=ANY_LEADING_AXES)
def test_fuse_heads_rejects_bad_attention(bad):
    kind, array = bad
    if kind in ("unnormalised", "transposed", "wrong_keys"):  # sums only matter when stochastic=True is asked
        assert_rejects(lambda: fuse_heads(array, "mean", stochastic=True), "attention")
    else:
        assert_rejects(lambda: fuse_heads(array, "max"), "attention")


def test_fuse_heads_accepts_non_negative_weights_that_need_not_sum_to_one():
    """Gradient-weighted attention ``A ⊙ |∇A|`` is fused too: non-negative, rows not summing to 1."""
    weighted = valid_attention((2, 3, 4, 4)) * np.linspace(0.1, 2.0, 4)  # (L, H, Q, K), rows sum to != 1
    np.testing.assert_allclose(fuse_heads(weighted, "mean"), weighted.mean(1))  # hand-computed reference


ROW_NORMALIZE_BAD = tuple(k for k in NOT_ABOUT_SUMS if k not in ("extra_dim", "missing_dim"))  # any shape is fine


@each_bad_attention((4, 4), kinds=ROW_NORMALIZE_BAD)
def test_row_normalize_rejects_nan_negative_and_non_arrays(bad):
    kind, array = bad
    assert_rejects(lambda: row_normalize(array), "matrix")


def test_row_normalize_divides_each_row_by_its_sum():
    np.testing.assert_allclose(row_normalize(np.array([[1.0, 3.0], [0.0, 0.0]])), [[0.25, 0.75], [0.0, 0.0]])


@each_bad_attention((2, 5, 5), kinds=ANY_LEADING_AXES)
def test_mask_padding_rejects_bad_attention(bad):
    kind, array = bad
    assert_rejects(lambda: mask_padding(array, np.array([1, 1, 1, 0, 0])), "attention")


@PROPERTY_SETTINGS
@given(bad=bad_mask(5))
@every_mask_kind(5)
def test_mask_padding_rejects_bad_masks(bad):
    kind, mask = bad
    assert_rejects(lambda: mask_padding(valid_attention((2, 5, 5)), mask), "attention_mask")


def test_mask_padding_zeroes_padding_rows_and_columns():
    attention = valid_attention((1, 3, 3))
    masked = mask_padding(attention, [1, 1, 0])
    expected = attention.copy()
    expected[..., 2, :] = 0  # the padding query's row
    expected[..., :, 2] = 0  # the padding key's column
    np.testing.assert_array_equal(masked, expected)


@PROPERTY_SETTINGS
@given(row=st.one_of(st.integers(-20, 20), st.sampled_from(["first", "", None, 1.5, True])))
def test_output_row_takes_a_valid_row_or_names_it(row):
    matrix = valid_attention((5, 5))
    if isinstance(row, int) and not isinstance(row, bool) and -5 <= row < 5:
        np.testing.assert_array_equal(output_row(matrix, row), matrix[row])
    else:
        assert_rejects(lambda: output_row(matrix, row), "row")


@PROPERTY_SETTINGS
@given(index=st.one_of(st.integers(-50, 50), st.floats(allow_nan=True), st.booleans(), st.none(), st.text(max_size=2)))
def test_check_index_accepts_python_indices_only(index):
    if isinstance(index, int) and not isinstance(index, bool) and -6 <= index < 6:
        assert check_index(index, 6, name="head") == index % 6
    else:
        assert_rejects(lambda: check_index(index, 6, name="head"), "head")


def test_a_crop_that_breaks_row_sums_is_explained_as_a_crop():
    """Cropping [CLS]/[SEP] off a matrix leaves rows short of 1: the message says so and suggests renormalising
    (issue 14: it used to say "rescaled (min-max?) or transposed")."""
    cropped = valid_attention((6, 6))[1:-1, 1:-1]
    error = assert_rejects(lambda: check_attention(cropped, "QK"), "attention")
    assert "crop" in str(error) and "row_normalize" in str(error) and "min-max" not in str(error)
    scaled = valid_attention((4, 4)) * 2.0  # rows sum to 2: not a crop
    assert "min-max" in str(assert_rejects(lambda: check_attention(scaled, "QK"), "attention"))


def test_words_instead_of_tokens_point_at_the_special_tokens():
    """The outline's five words against MiniLM's seven tokens: the message names [CLS]/[SEP] and where the
    model's own tokens come from."""
    error = assert_rejects(lambda: check_tokens("the cat sat on mats".split(), 7), "tokens")
    assert "[CLS]" in str(error) and "convert_ids_to_tokens" in str(error)


# --- the command line: every user error is one line on stderr and exit status 2 -------------------------------

def _lesson(argv):
    """A minimal lesson: the shared parser, and a main that reports what it parsed."""
    def main(args):
        parsed = lesson_parser("A test lesson.", model_kind=None).parse_args(args)
        return parsed

    return run_lesson(main, argv)


@pytest.mark.parametrize("argv, fragment", [
    (["--device", "tpu"], "tpu"),
    (["--device", "cuda:x"], "cuda:x"),
    (["--device", "cuda:0"], "CUDA"),
    (["--unknown-option"], "unrecognized arguments"),
])
def test_bad_options_exit_2_with_one_line(argv, fragment, capsys):
    if argv[:2] == ["--device", "cuda:0"]:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit) as info:
        _lesson(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and fragment in err and err.startswith("error:")


def test_out_that_is_a_file_or_under_a_file_exits_2_with_one_line(tmp_path, capsys):
    a_file = tmp_path / "figure.png"
    a_file.write_bytes(b"not a folder")
    for out in (a_file, a_file / "sub"):
        with pytest.raises(SystemExit) as info:
            _lesson(["--out", str(out)])
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.count("\n") == 1 and "is a file" in err
    assert _lesson(["--out", str(tmp_path / "new" / "folder")]) == 0  # a folder that can be created is fine


@pytest.mark.parametrize("error", [
    OSError("cannot identify image file 'cat.txt'"),
    FileNotFoundError(2, "No such file or directory", "missing.png"),
    ValueError("two\nlines"),
])
def test_run_lesson_turns_user_errors_into_one_line(error, capsys):
    def main(argv):
        raise error

    assert run_lesson(main, []) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_run_lesson_keeps_the_traceback_of_a_bug():
    def main(argv):
        raise RuntimeError("a bug in the course")

    with pytest.raises(RuntimeError):
        run_lesson(main, [])


def test_a_real_lesson_given_a_bad_device_says_so_in_one_line():
    """End to end, as a student types it (a subprocess: the real argv, stderr and exit status)."""
    result = subprocess.run([sys.executable, "01_beginner/attention_basics.py", "--device", "tpu"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "tpu" in result.stderr


@pytest.mark.parametrize("texts", [None, 3, {"a": 1}, b"bytes"])
def test_encode_texts_names_the_text_argument(texts):
    from attnviz.models import encode_texts

    class NoTokenizer:  # the check must come before the tokenizer is ever called
        def __call__(self, *args, **kwargs):
            raise AssertionError("the tokenizer was called with bad input")

    assert_rejects(lambda: encode_texts(NoTokenizer(), texts), "text")


@pytest.mark.parametrize(("module_name", "option"), [
    ("beginner.attention_patterns", "--causal-model"), ("intermediate.attention_comparison", "--causal-model"),
    ("advanced.gradient_attention", "--causal-model"), ("advanced.gradient_attention", "--vit-model")])
@pytest.mark.parametrize("when", ["before any work", "at load"])
def test_a_second_model_that_cannot_load_exits_2_naming_its_option(module_name, option, when, tmp_path, capsys,
                                                                   monkeypatch):
    """Issue 14: a second model that cannot load used to print "skipping …" on stdout and exit 0, naming --model.
    Checked twice: by the early config check, and (that check bypassed) where the model is loaded."""
    import importlib

    lesson = importlib.import_module(module_name)
    if when == "at load":  # the early check bypassed: the load itself must name the option
        for check in ("require_kind", "require_vision_transformer"):
            if hasattr(lesson, check):
                monkeypatch.setattr(lesson, check, lambda *args, **kwargs: None)
    missing = tmp_path / "no-such-model"
    status = run_lesson(lesson.main, [option, str(missing), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 2 and "skipping" not in captured.out
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"error: {option}: no such folder")
    assert f"leave {option} out" in captured.err


def test_a_shipped_model_of_the_wrong_kind_is_refused_before_any_work_naming_the_option():
    """``--causal-model tiny-bart-dates`` used to pass the early check (shipped names were waved through) and
    fail after two pages were written, without naming the option."""
    from attnviz.models import require_kind

    with pytest.raises(ValueError) as info:
        require_kind("tiny-bart-dates", "causal-lm", option="--causal-model")
    message = str(info.value)
    assert message.startswith("--causal-model: tiny-bart-dates is a Bart") and "encoder-decoder" in message
    require_kind("tiny-gpt2-induction", "causal-lm", option="--causal-model")  # the right kind passes


@pytest.mark.parametrize(("module", "argv"), [
    ("attnviz.grading", ["grade"]),  # a missing argument
    ("attnviz.grading", ["no-such-command"]),
    ("attnviz.training", ["no-such-model"]),
    ("attnviz.exercises", ["--no-such-option"]),
    ("attnviz.course", ["--no-such-option"]),
    ("attnviz.dashboard", ["--port", "not-a-number"]),
])
def test_every_tool_command_answers_a_usage_error_in_one_line(module, argv):
    """Issue 14: every CLI, the tools as well as the lessons — one line on stderr, exit status 2."""
    result = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, (result.returncode, result.stderr[-500:])
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr


def test_padding_query_rows_may_hold_anything_but_real_queries_must_not_see_padding():
    """DeBERTa-v2 fills its padding *query* rows uniformly over every key; real queries give padding keys 0.
    Both checks of "no weight on padding" (check_attention's key_mask, attention_batch.check_visible) accept it,
    and still refuse a real query that looks at a padding key."""
    from attnviz.attention_batch import check_visible

    mask = np.array([1, 1, 1, 0])
    attention = np.zeros((2, 4, 4))  # (H, Q, K)
    attention[:, :3, :3] = valid_attention((2, 3, 3))  # real queries over real keys
    attention[:, 3, :] = 0.25  # the padding query: uniform over every key, as DeBERTa-v2 leaves it
    check_attention(attention, "HQK", key_mask=mask)
    check_visible(attention[None, None], mask[None].astype(bool), causal=False)  # (L, B, H, Q, K)
    leaking = attention.copy()
    leaking[:, 0] = [0.5, 0.2, 0.2, 0.1]  # a real query puts 0.1 on the padding key
    assert_rejects(lambda: check_attention(leaking, "HQK", key_mask=mask), "padding")
    with pytest.raises(ValueError, match="padding keys"):
        check_visible(leaking[None, None], mask[None].astype(bool), causal=False)
