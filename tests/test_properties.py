"""Property tests (issue 14): bad attention given to the core entry points of ``attnviz`` is refused clearly."""

from __future__ import annotations

from bad_attention import (
    PROPERTY_SETTINGS,
    assert_rejects,
    bad_attention,
    bad_mask,
    every_kind,
    every_mask_kind,
    valid_attention,
)
from hypothesis import given

from attnviz.validate import check_attention


@PROPERTY_SETTINGS
@given(bad=bad_attention((2, 5, 5)))
@every_kind((2, 5, 5))
def test_check_attention_rejects_every_spoiling(bad):
    kind, array = bad
    assert_rejects(lambda: check_attention(array, "HQK", square=True), "attention")


@PROPERTY_SETTINGS
@given(bad=bad_mask(5))
@every_mask_kind(5)
def test_check_attention_rejects_bad_key_masks(bad):
    kind, mask = bad
    assert_rejects(lambda: check_attention(valid_attention((2, 5, 5)), "HQK", key_mask=mask), "key_mask")
