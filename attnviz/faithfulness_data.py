"""The examples lesson 3.7 (``03_advanced/attention_faithfulness.py``) scores maps on: an input, the scalar
output ``F`` that is explained, and which tokens are blanked and scored.

- :class:`Example`: one input and its ``F``, split into ``model_inputs`` and ``readout`` so that it can be
  evaluated on any copy of the model (the randomisation check needs that);
- :func:`minilm_examples`: MiniLM, ``F`` = cosine similarity of the mean-pooled embedding with a reference
  sentence (:data:`SENTENCE_PAIRS`), every real row read, ``[MASK]`` as the blank;
- :func:`gpt2_examples`: the tiny GPT-2, ``F`` = the logit of the token the induction circuit should copy,
  the last row read, ``<unk>`` as the blank.

Leave-one-out, the maps and the scores that use them are the lesson's; exercise A5 is graded on
:func:`minilm_examples`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from attnviz.attribution import SentenceSimilarity
from attnviz.gradients import mean_pool

SENTENCE_PAIRS = [
    ("The cat sat on the mat because it was tired.", "A sleepy kitten is lying on a rug."),
    ("A man is playing a guitar on the street.", "Someone performs music outdoors."),
    ("The stock market fell sharply after the announcement.", "Share prices dropped."),
    ("She forgot her umbrella and got soaked in the rain.", "A woman got wet in the storm."),
    ("The children built a sandcastle at the beach.", "Kids play with sand by the sea."),
    ("Heavy traffic delayed the bus by an hour.", "The bus was late because of the roads."),
]


@dataclass
class Example:
    """One input, the scalar output ``F`` that is explained, and which tokens are scored.

    ``F`` is split in two so that it can be evaluated on any copy of the model (the randomisation check needs
    that): ``model_inputs(input_ids, *extra)`` builds the model's keyword arguments and ``readout(outputs,
    *extra) -> (B,)`` reads one number per example from its outputs. ``row`` is the query row ``F`` reads (an
    index) or a boolean ``(Q,)`` of the rows it averages; ``content`` ``(T,)`` marks the tokens that are
    blanked and scored (special tokens are not); ``blank_id`` replaces a token for leave-one-out and in the IG
    baseline.
    """

    tokens: list[str]
    input_ids: torch.Tensor  # (1, T)
    extra: tuple  # further inputs of F, each with a batch axis of 1
    model_inputs: Callable
    readout: Callable
    row: int | np.ndarray
    content: np.ndarray
    blank_id: int

    def forward_fn(self, model) -> Callable:
        """``F(input_ids, *extra) -> (B,)`` on ``model`` — the signature Captum calls. Inputs may live on the
        CPU; they are moved to the model's device."""
        device = next(model.parameters()).device

        def forward(input_ids, *extra):
            input_ids, extra = input_ids.to(device), tuple(e.to(device) for e in extra)
            return self.readout(model(**self.model_inputs(input_ids, *extra)), *extra)
        return forward

    def target(self, outputs):
        """``F`` read from the outputs of ``model(**example.inputs_for(model))`` (``attention_gradients``)."""
        device = next(v for v in outputs.values() if isinstance(v, torch.Tensor)).device
        return self.readout(outputs, *(e.to(device) for e in self.extra))

    def inputs_for(self, model) -> dict:
        """The model's keyword inputs for this example, on the model's device."""
        device = next(model.parameters()).device
        return self.model_inputs(self.input_ids.to(device), *(e.to(device) for e in self.extra))


def _encoder_inputs(input_ids, attention_mask):
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def _causal_inputs(input_ids, answer):
    return {"input_ids": input_ids}


def _similarity_readout(reference: torch.Tensor) -> Callable:
    def readout(outputs, attention_mask):
        pooled = mean_pool(outputs.last_hidden_state, attention_mask)  # (B, d)
        return torch.nn.functional.cosine_similarity(pooled, reference[None].to(pooled), dim=-1)  # (B,)
    return readout


def _next_token_readout(outputs, answer):
    logits = outputs.logits[:, -1].float()  # (B, V): the logit, not the log-probability — see gpt2_examples
    return logits.gather(1, answer.view(-1, 1))[:, 0]  # (B,)


def minilm_examples(model, tokenizer, pairs: Sequence[tuple[str, str]] = SENTENCE_PAIRS) -> list[Example]:
    """MiniLM: ``F`` = cosine similarity of the mean-pooled embedding with a reference sentence (embedded
    once, by ``model``); every real row is read (mean pooling); the blank is ``[MASK]``; ``[CLS]``/``[SEP]``
    are not scored."""
    examples = []
    for text, reference in pairs:
        encoded = tokenizer(text, return_tensors="pt")
        ids, mask = encoded["input_ids"], encoded["attention_mask"]  # (1, T)
        embedded = SentenceSimilarity(model, tokenizer, reference).reference  # (d,)
        examples.append(Example(
            tokens=tokenizer.convert_ids_to_tokens(ids[0].tolist()), input_ids=ids, extra=(mask,),
            model_inputs=_encoder_inputs, readout=_similarity_readout(embedded),
            row=mask[0].numpy().astype(bool), content=~np.isin(ids[0].numpy(), tokenizer.all_special_ids),
            blank_id=int(tokenizer.mask_token_id)))
    return examples


def gpt2_examples(tokenizer, n: int = 8, half: int = 12, seed: int = 500) -> list[Example]:
    """Tiny GPT-2: ``<bos> x₁…x_h x₁…x_k``, ``F`` = the logit of ``x_{k+1}`` (the token an induction head
    copies); the last row is read; the blank is a special token that never occurs inside the sequences
    (``<unk>``). Sequences come from the generator the model was trained with.

    Why the logit: the model copies with probability ≈ 1, where the log-probability is saturated — its
    gradient with respect to everything is ≈ 0, and every gradient-weighted map comes out blank (integrated
    gradients would survive: that is what the path integral is for). The logit does not saturate.
    """
    from attnviz.training.repeats import repeated_sequences

    rng = np.random.default_rng(seed)
    blank = _gpt2_blank(tokenizer)
    full = repeated_sequences(n, half, rng)  # (n, 1 + 2·half)
    examples = []
    for i in range(n):
        k = int(rng.integers(3, half - 1))  # the prompt ends with the k-th repeated token
        sequence = full[i: i + 1, : 1 + half + k]  # (1, T)
        answer = full[i: i + 1, 1 + k]  # x_{k+1}: what followed x_k the first time
        content = np.ones(sequence.shape[1], dtype=bool)
        content[0] = False  # <bos>
        tokens = tokenizer.convert_ids_to_tokens(sequence[0].tolist())
        examples.append(Example(tokens=tokens, input_ids=sequence, extra=(answer,),
                                model_inputs=_causal_inputs, readout=_next_token_readout,
                                row=sequence.shape[1] - 1, content=content, blank_id=blank))
    return examples


def _gpt2_blank(tokenizer) -> int:
    for name in ("unk_token_id", "pad_token_id", "eos_token_id", "bos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    raise ValueError("tokenizer: has no special token to blank with (unk, pad, eos or bos)")
