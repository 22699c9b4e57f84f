"""Repeated random sequences: the data that grows induction heads in ``tiny-gpt2-induction``.

A sequence is a beginning-of-sequence token, ``half`` random tokens, and the same ``half`` tokens again::

    position   0      1   2    3   4    5   6    7   8
    token      <bos>  t7  t42  t3  t19  t7  t42  t3  t19        (half = 4)
               |      first half           second half

Index convention (used by the training, the evaluation, the tests and the model card):

* position 0 is ``<bos>``; the first half is positions ``1 … half``, the second half ``half+1 … 2·half``;
* the token at a second-half position ``i`` is a copy of the token at ``i − half``;
* an **induction head** at query ``i`` attends to ``i − half + 1``: the token that *followed* the earlier
  occurrence of the current token — which is exactly the token to predict next;
* a **previous-token head** at query ``i`` attends to ``i − 1``.

Nothing in the first half can be predicted (the tokens are random); everything in the second half after
its first token can, by copying. The textbook way to copy uses two heads working together (Olsson et
al., *In-context Learning and Induction Heads*, 2022): a previous-token head writes "my
predecessor was ``t3``" into each position, and the induction head then searches for the position
whose predecessor equals the current token.

Training draws the tokens independently (a token may occur twice within a half); evaluation draws them
without replacement, so that every query has exactly one right induction target. Training also varies,
from batch to batch, the length ``half`` and a prefix of 0–3 unrelated random tokens between ``<bos>`` and
the first copy, so that position alone never says where to look (see ``gpt2_induction`` for the rest of
the recipe). Evaluation, the tests and the lessons use no prefix: the plain layout above.
"""

from __future__ import annotations

import numpy as np
import torch

VOCAB_SIZE = 64  # random tokens t0 … t63 have ids 0 … 63
BOS_ID = 64  # "<bos>"
UNK_ID = 65  # "<unk>" (only for text the tokenizer does not know)
TOKEN_NAMES = [f"t{i}" for i in range(VOCAB_SIZE)]
HALF_RANGE = (2, 30)  # training draws half from this range (inclusive; see the curriculum in gpt2_induction)
# 1 + 3 + 2·30 = 64: the longest training sequence fills the whole context, so copying holds up to position 63
LONGEST_EVAL_HALF = 31  # 1 + 2·31 = 63 tokens: the card and a test measure copying over the whole context
PREFIX_RANGE = (0, 3)  # … and the length of a random prefix before the first copy (see below)
EVAL_HALF = 16  # the model card and the tests measure heads on sequences of 1 + 2·16 = 33 tokens
TRAIN_SEED = 0
CARD_SEED = 1


def repeated_sequences(
    n: int,
    half: int,
    rng: np.random.Generator,
    prefix: int = 0,
    vocab_size: int = VOCAB_SIZE,
    distinct: bool = True,
) -> torch.Tensor:
    """``n`` sequences ``<bos> x_1 … x_half x_1 … x_half`` as a LongTensor ``(n, 1 + 2·half)``.

    ``distinct=True`` (evaluation): the prefix and first-half tokens of a sequence are all different.
    ``distinct=False`` (training): each token is drawn independently.
    With ``prefix > 0`` (training only), ``prefix`` other random tokens come between ``<bos>`` and the
    first copy: ``<bos> r_1 … r_prefix x_1 … x_half x_1 … x_half``, shape ``(n, 1 + prefix + 2·half)``.
    """
    if distinct and not 1 <= half + prefix <= vocab_size:
        raise ValueError(
            f"half + prefix must be in 1 … {vocab_size} for distinct tokens, got {half + prefix}"
        )
    if distinct:
        # A random permutation of the vocabulary per row: its first entries are distinct random tokens.
        tokens = np.argsort(rng.random((n, vocab_size)), axis=1)[:, : prefix + half]  # (n, prefix + half)
    else:
        tokens = rng.integers(0, vocab_size, size=(n, prefix + half))
    noise, first_half = tokens[:, :prefix], tokens[:, prefix:]  # (n, prefix), (n, half)
    bos = np.full((n, 1), BOS_ID)
    return torch.from_numpy(np.concatenate([bos, noise, first_half, first_half], axis=1)).long()


def second_half_positions(half: int) -> range:
    """The query positions ``i = half+1 … 2·half`` at which heads are scored."""
    return range(half + 1, 2 * half + 1)
