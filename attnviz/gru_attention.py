"""A GRU encoder-decoder with Bahdanau (additive) attention — the course's RNN with attention.

Bahdanau, Cho & Bengio, *Neural Machine Translation by Jointly Learning to Align and Translate* (2015),
is where attention started: instead of squeezing the whole input into one vector, the decoder looks
back at every encoder state at every step and takes a weighted average of them. Those weights are the
attention map, one row per output step — the first attention heatmap ever drawn.

The model, for a source of ``S`` tokens and an output of ``T`` steps::

    encoder    h_1 … h_S = BiGRU(embed(x_1) … embed(x_S))            # annotations, (B, S, 2H)
    start      s_0 = tanh(W_init · mean_j h_j)                       # decoder state, (B, H)
    step t     e_tj = v · tanh(W · s_{t-1} + U · h_j)                # additive score, (B, S)
               α_tj = softmax_j(e_tj)                                # attention weights, (B, S)
               c_t  = Σ_j α_tj h_j                                   # context, (B, 2H)
               s_t  = GRUCell([embed(y_{t-1}); c_t], s_{t-1})
               p(y_t) = softmax(W_out · [s_t; c_t; embed(y_{t-1})])

The score is *additive* (a small feed-forward net on ``s_{t-1}`` and ``h_j``), where a Transformer's is
a scaled dot product; either way each row ``α_t`` is a probability distribution over the source.

Use it::

    from attnviz.gru_attention import GRUAttentionSeq2Seq
    model = GRUAttentionSeq2Seq.from_pretrained("data/models/gru-attention-dates")
    result = model.translate("the 21st of November, 2026")
    result.output            # '2026-11-21'
    result.attention.shape   # (11, 28): one row per output token (10 characters + </s>),
                             # one column per source token (<s> + 26 characters + </s>)
    result.source_tokens     # ['<s>', 't', 'h', 'e', ' ', '2', '1', ...,  '</s>']
    result.output_tokens     # ['2', '0', '2', '6', '-', '1', '1', '-', '2', '1', '</s>']

The checkpoint is a folder with ``config.json`` (sizes), ``model.safetensors`` (weights) and
``vocab.json`` (the characters). Training: ``python -m attnviz.training gru-attention-dates``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn


class TruncatedInput(UserWarning):
    """A text longer than a model's limit was cut to it (the seq2seq lesson prints these in one line)."""


# ----------------------------------------------------------------------------------------------------
# Vocabulary: one token per character, with <s> in front and </s> at the end
# ----------------------------------------------------------------------------------------------------


class CharVocabulary:
    """Characters to ids and back. ``encode("Nov 1 2026")`` -> ``[<s>, N, o, v, ' ', 1, …, </s>]``.

    Ids 0-3 are ``<s>``, ``<pad>``, ``</s>``, ``<unk>`` (the same as the course's BART tokenizer), so source
    character ``c`` sits at token position ``c + 1``.
    """

    SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")

    def __init__(self, characters: str):
        self.tokens = [*self.SPECIALS, *characters]
        self.ids = {token: i for i, token in enumerate(self.tokens)}
        self.bos_id, self.pad_id, self.eos_id, self.unk_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """``<s>``, one id per character, ``</s>``; with ``max_length``, only the first ``max_length - 2``
        characters are kept (so the whole encoding, ``<s>`` and ``</s>`` included, has at most ``max_length``)."""
        if max_length is not None:
            text = text[: max(0, max_length - 2)]
        return [self.bos_id, *(self.ids.get(ch, self.unk_id) for ch in text), self.eos_id]

    def encode_batch(self, texts: list[str], max_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad to the longest: returns ``ids`` (B, S) and ``lengths`` (B,) (real tokens, ``<s>``/``</s>`` included)."""
        encoded = [self.encode(t, max_length) for t in texts]
        lengths = torch.tensor([len(e) for e in encoded])
        ids = torch.full((len(texts), int(lengths.max())), self.pad_id, dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = torch.tensor(e)
        return ids, lengths

    def decode(self, ids) -> str:
        """Characters up to the first ``</s>``, special tokens dropped."""
        text = []
        for i in ids:
            if int(i) == self.eos_id:
                break
            if int(i) >= len(self.SPECIALS):
                text.append(self.tokens[int(i)])
        return "".join(text)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.ids, ensure_ascii=False, indent=0), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> CharVocabulary:
        ids = json.loads(Path(path).read_text(encoding="utf-8"))
        tokens = sorted(ids, key=ids.get)
        if tuple(tokens[:4]) != cls.SPECIALS:
            raise ValueError(f"{path}: the first four tokens must be {cls.SPECIALS}, got {tokens[:4]}")
        return cls("".join(tokens[4:]))


# ----------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------


@dataclass
class GRUAttentionConfig:
    vocab_size: int
    embed_size: int = 32
    hidden_size: int = 64  # decoder state size H; the encoder has H per direction, so annotations are 2H
    attention_size: int = 64  # size of the hidden layer of the additive score
    max_output_length: int = 12  # greedy decoding stops here if no </s> came
    # The longest source it reads (<s> + characters + </s>): a GRU has no position table, but it was trained
    # on dates of at most ~32 tokens, and a longer attention map is unreadable; translate() cuts a longer
    # text here with a warning (the same limit as the tiny BART's 64 positions).
    max_source_length: int = 64
    model_type: str = "gru-bahdanau-attention"


class Translation(NamedTuple):
    """One greedy translation and the attention that produced it."""

    output: str  # "2026-11-21"
    attention: np.ndarray  # (target_steps, source_len): row t = weights over source tokens at output step t
    source_tokens: list[str]  # column labels: "<s>", characters, "</s>"
    output_tokens: list[str]  # row labels: output characters, then "</s>" (when it was produced)


class BahdanauAttention(nn.Module):
    """Additive attention: ``score(s, h_j) = v · tanh(W s + U h_j)``, softmax over the source."""

    def __init__(self, query_size: int, key_size: int, attention_size: int):
        super().__init__()
        self.query_layer = nn.Linear(query_size, attention_size, bias=False)  # W
        # U, with the bias of the hidden layer (one bias is enough: W·s and U·h_j are added)
        self.key_layer = nn.Linear(key_size, attention_size, bias=True)
        self.score_layer = nn.Linear(attention_size, 1, bias=False)  # v

    def forward(self, query, keys, projected_keys, source_mask):
        """``query`` (B, H) decoder state; ``keys`` (B, S, 2H) annotations; ``projected_keys`` (B, S, A) = U·keys,
        computed once per sentence; ``source_mask`` (B, S) True on real tokens.
        Returns ``context`` (B, 2H) and ``weights`` (B, S)."""
        hidden = torch.tanh(self.query_layer(query)[:, None, :] + projected_keys)  # (B, S, A)
        scores = self.score_layer(hidden).squeeze(-1)  # (B, S)
        scores = scores.masked_fill(~source_mask, float("-inf"))  # padding gets weight exactly 0
        weights = torch.softmax(scores, dim=-1)  # (B, S), each row sums to 1
        context = torch.bmm(weights[:, None, :], keys).squeeze(1)  # (B, 1, S) @ (B, S, 2H) -> (B, 2H)
        return context, weights


class GRUAttentionSeq2Seq(nn.Module):
    """Bidirectional GRU encoder, GRU decoder with Bahdanau attention, character vocabulary."""

    def __init__(self, config: GRUAttentionConfig, vocab: CharVocabulary):
        super().__init__()
        if config.vocab_size != len(vocab):
            raise ValueError(f"vocab_size is {config.vocab_size} but the vocabulary has {len(vocab)} tokens")
        self.config, self.vocab = config, vocab
        E, H, A, V = config.embed_size, config.hidden_size, config.attention_size, config.vocab_size
        self.embedding = nn.Embedding(V, E, padding_idx=vocab.pad_id)  # shared by encoder and decoder
        self.encoder = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.init_state = nn.Linear(2 * H, H)
        self.attention = BahdanauAttention(query_size=H, key_size=2 * H, attention_size=A)
        self.decoder_cell = nn.GRUCell(E + 2 * H, H)
        self.output_layer = nn.Linear(H + 2 * H + E, V)

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def encode(self, source_ids, lengths):
        """``source_ids`` (B, S), ``lengths`` (B,) -> annotations (B, S, 2H), initial state (B, H), mask (B, S)."""
        source_mask = source_ids != self.vocab.pad_id  # (B, S)
        embedded = self.embedding(source_ids)  # (B, S, E)
        packed = nn.utils.rnn.pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        annotations, _ = self.encoder(packed)
        annotations, _ = nn.utils.rnn.pad_packed_sequence(
            annotations, batch_first=True, total_length=source_ids.shape[1]
        )  # (B, S, 2H): forward and backward states side by side, zeros on padding
        mean = annotations.sum(1) / lengths.to(annotations.device)[:, None]  # (B, 2H) mean over real tokens
        return annotations, torch.tanh(self.init_state(mean)), source_mask

    def decode_step(self, previous_ids, state, annotations, projected, source_mask):
        """One output step: returns logits (B, V), new state (B, H), attention weights (B, S)."""
        embedded = self.embedding(previous_ids)  # (B, E)
        context, weights = self.attention(state, annotations, projected, source_mask)  # (B, 2H), (B, S)
        state = self.decoder_cell(torch.cat([embedded, context], dim=-1), state)  # (B, H)
        logits = self.output_layer(torch.cat([state, context, embedded], dim=-1))  # (B, V)
        return logits, state, weights

    def forward(self, source_ids, target_in_ids, lengths=None):
        """Teacher forcing. ``target_in_ids`` (B, T) = ``<s> y_1 … y_{T-1}``.

        Returns ``logits`` (B, T, V) — row ``t`` predicts ``y_{t+1}`` — and ``attention`` (B, T, S), the
        weights the decoder used at each of the ``T`` steps.
        """
        if lengths is None:
            lengths = (source_ids != self.vocab.pad_id).sum(1)
        annotations, state, source_mask = self.encode(source_ids, lengths)
        projected = self.attention.key_layer(annotations)  # (B, S, A): U·h_j, the same at every step
        all_logits, all_weights = [], []
        for t in range(target_in_ids.shape[1]):
            logits, state, weights = self.decode_step(
                target_in_ids[:, t], state, annotations, projected, source_mask
            )
            all_logits.append(logits)
            all_weights.append(weights)
        return torch.stack(all_logits, dim=1), torch.stack(all_weights, dim=1)  # (B, T, V), (B, T, S)

    @torch.no_grad()
    def generate(self, source_ids, lengths=None, max_length: int | None = None):
        """Greedy decoding. Returns ``output_ids`` (B, T) and ``attention`` (B, T, S).

        Every sentence runs for the same number of steps (until all have produced ``</s>``); steps after a
        sentence's own ``</s>`` are junk — :meth:`translate_batch` cuts them off.
        """
        max_length = max_length or self.config.max_output_length
        if lengths is None:
            lengths = (source_ids != self.vocab.pad_id).sum(1)
        annotations, state, source_mask = self.encode(source_ids, lengths)
        projected = self.attention.key_layer(annotations)
        previous = torch.full(
            (source_ids.shape[0],), self.vocab.bos_id, dtype=torch.long, device=source_ids.device
        )
        finished = torch.zeros_like(previous, dtype=torch.bool)
        output_ids, attention = [], []
        for _ in range(max_length):
            logits, state, weights = self.decode_step(previous, state, annotations, projected, source_mask)
            previous = logits.argmax(-1)  # (B,)
            output_ids.append(previous)
            attention.append(weights)
            finished |= previous == self.vocab.eos_id
            if finished.all():
                break
        return torch.stack(output_ids, dim=1), torch.stack(attention, dim=1)  # (B, T), (B, T, S)

    def translate_batch(self, texts: list[str]) -> list[Translation]:
        """Greedy translations of several sources, each with its own ``(steps, source_len)`` attention."""
        if isinstance(texts, str) or not isinstance(texts, list | tuple) or not texts \
                or not all(isinstance(t, str) and t.strip() for t in texts):
            raise TypeError(f"texts: expected a non-empty list of non-empty strings, got {texts!r:.60}")
        limit = self.config.max_source_length
        for text in texts:
            if len(text) + 2 > limit:
                warnings.warn(f"--text: {len(text) + 2} tokens is longer than the GRU's {limit} source "
                              f"positions; truncated to the first {limit - 2} characters ({text[:30]!r}...)",
                              TruncatedInput, stacklevel=3)
        was_training = self.training
        self.eval()
        source_ids, lengths = self.vocab.encode_batch(list(texts), max_length=limit)
        output_ids, attention = self.generate(source_ids.to(self.device), lengths)
        self.train(was_training)
        results = []
        for row in range(len(texts)):
            ids = output_ids[row].tolist()
            steps = ids.index(self.vocab.eos_id) + 1 if self.vocab.eos_id in ids else len(ids)  # keep </s>
            source_len = int(lengths[row])
            results.append(
                Translation(
                    output=self.vocab.decode(ids),
                    attention=attention[row, :steps, :source_len].cpu().numpy(),
                    source_tokens=[self.vocab.tokens[i] for i in source_ids[row, :source_len].tolist()],
                    output_tokens=[self.vocab.tokens[i] for i in ids[:steps]],
                )
            )
        return results

    def translate(self, text: str) -> Translation:
        """Greedy translation of one source: ``output``, ``attention`` (steps, source_len) and token labels.

        A text longer than ``config.max_source_length - 2`` characters is truncated, with a warning."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a string, got {type(text).__name__}")
        return self.translate_batch([text])[0]

    # ------------------------------------------------------------------------------------------------
    # Checkpoints: config.json + model.safetensors + vocab.json
    # ------------------------------------------------------------------------------------------------

    def save_pretrained(self, folder) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(
            json.dumps(asdict(self.config), indent=2) + "\n", encoding="utf-8"
        )
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, folder / "model.safetensors")
        self.vocab.save(folder / "vocab.json")

    @classmethod
    def from_pretrained(cls, folder, device="cpu") -> GRUAttentionSeq2Seq:
        """Load a checkpoint folder (or the name of a course model under ``data/models/``), in eval mode."""
        from safetensors.torch import load_file

        folder = Path(folder)
        if not folder.is_dir():
            from attnviz import MODELS_DIR

            if (MODELS_DIR / str(folder)).is_dir():
                folder = MODELS_DIR / str(folder)
            else:
                raise FileNotFoundError(
                    f"no GRU checkpoint at {folder}; train one with `python -m attnviz.training gru-attention-dates`"
                )
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        model = cls(GRUAttentionConfig(**config), CharVocabulary.load(folder / "vocab.json"))
        model.load_state_dict(load_file(folder / "model.safetensors"))
        return model.to(device).eval()
