"""What kind of model a checkpoint is, and the attention of every kind it has, ready for the views.

A ``transformers`` checkpoint says what it is in its ``config.json``, before any weight is loaded:

- ``is_encoder_decoder: true`` (BART, T5, Marian, Pegasus): an **encoder-decoder** (``"seq2seq"``), with
  three kinds of attention — encoder self-attention, decoder self-attention (causal) and cross-attention
  (decoder queries × encoder keys);
- ``is_decoder: true``, or an architecture named ``…ForCausalLM`` / ``…LMHeadModel`` (GPT-2, Llama, …): a
  **decoder** (``"causal-lm"``), whose self-attention is causal;
- anything else with text input: an **encoder** (``"encoder"``: BERT, RoBERTa, MiniLM, …).

:func:`detect_kind` reads that; :func:`attention_from_model` runs a loaded model once and returns its
attention in the keyword arguments of the interactive views (``advanced.bertviz_style.head_view`` and the
dashboard). Extraction itself goes through :func:`attnviz.extract.transformer_attentions`.
"""

from __future__ import annotations

from attnviz.extract import transformer_attentions
from attnviz.models import SHIPPED_MODELS, ModelLoadError, encode_texts, shipped_model_path

MODEL_KINDS = ("auto", "encoder", "causal-lm", "seq2seq")


def detect_kind(name_or_path) -> str:
    """``encoder``, ``causal-lm`` or ``seq2seq`` from a model's config (without loading its weights)."""
    from transformers import AutoConfig

    name = str(name_or_path)
    source = shipped_model_path(name) if name in SHIPPED_MODELS.values() else name_or_path
    try:
        config = AutoConfig.from_pretrained(source)
    except Exception as err:  # noqa: BLE001 - one readable line, like load_model
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"cannot load model {name!r} offline ({reason}); the offline default is "
                             "'all-MiniLM-L6-v2' — run without --model to use it") from None
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    architectures = getattr(config, "architectures", None) or []
    if getattr(config, "is_decoder", False) or any(a.endswith(("CausalLM", "LMHeadModel")) for a in architectures):
        return "causal-lm"
    return "encoder"


def attention_from_model(loaded, text: str, target: str | None = None) -> dict:
    """Run a loaded model once per kind of attention; returns the keyword arguments of the views.

    ``loaded`` is an :class:`attnviz.models.LoadedModel`. Encoders and decoders give ``attention``
    ``(L, H, Q, K)`` + ``tokens``; an encoder-decoder gives ``encoder_attention``, ``decoder_attention``
    and ``cross_attention`` ``(L, H, T, S)`` of ``text`` → ``target`` (default: the model's own greedy
    output) with ``encoder_tokens`` and ``decoder_tokens``.
    """
    import torch

    model, tokenizer = loaded.model, loaded.tokenizer
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has none; one text needs no padding anyway
    inputs = encode_texts(tokenizer, text, model).to(loaded.device)
    source_tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    with torch.no_grad():
        if loaded.kind != "seq2seq":
            attention = transformer_attentions(model, inputs)[:, 0]  # (L, 1, H, Q, K) -> (L, H, Q, K)
            return {"attention": attention.cpu().numpy(), "tokens": source_tokens}
        inputs = {k: inputs[k] for k in ("input_ids", "attention_mask")}  # a seq2seq model takes no token_type_ids
        if target is None:
            decoder_ids = model.generate(**inputs, max_new_tokens=32, num_beams=1, do_sample=False)  # (1, T)
        else:
            start = torch.tensor([[model.config.decoder_start_token_id]], device=loaded.device)
            body = tokenizer(text_target=target, return_tensors="pt", add_special_tokens=True)["input_ids"]
            decoder_ids = torch.cat([start, body.to(loaded.device)], dim=1)[:, :-1]  # (1, T): shifted right
        both = {**inputs, "decoder_input_ids": decoder_ids}
        kinds = {name: transformer_attentions(model, both, kind=name)[:, 0].cpu().numpy()  # (L, H, Q, K)
                 for name in ("encoder", "decoder", "cross")}
    return {"encoder_attention": kinds["encoder"], "decoder_attention": kinds["decoder"],
            "cross_attention": kinds["cross"], "encoder_tokens": source_tokens,
            "decoder_tokens": tokenizer.convert_ids_to_tokens(decoder_ids[0].tolist())}
