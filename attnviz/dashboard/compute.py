"""What the dashboard computes, without the web page: one cached analysis per input, and each panel's numbers.

Every number comes from the lessons' own code (the dashboard sits above them, like the course runner):

=============================  ============================================================
panel                          computed by
=============================  ============================================================
one head's heatmap             ``beginner.attention_basics`` (extraction: ``attnviz.extract``)
layer × head overview          ``advanced.bertviz_style.model_view`` (``views.js``)
head view                      ``advanced.bertviz_style.head_view`` (``views.js``)
rollout                        ``intermediate.attention_rollout.AttentionRollout``
attention flow, one row        ``advanced.attention_flow`` (its exact solver, for the rows asked for)
gradient-weighted attention    ``advanced.gradient_attention`` (Chefer et al. 2021)
cross-attention + alignment    ``intermediate.cross_attention_viz``
ViT patch maps                 ``advanced.vit_attention``
=============================  ============================================================

The forward pass is cached per (model, input): changing the layer, the head or the flow row never runs
the model again, and each derived quantity (rollout, flow rows, relevance per target, the views' pages) is
computed once per input and kept with it.
"""

from __future__ import annotations

import hashlib
import shlex
import threading
import warnings
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attnviz import DATA_DIR

# The models offered in the picker: the offline defaults of every kind (any local folder or Hub id works too).
MODEL_CHOICES = {
    "all-MiniLM-L6-v2": "encoder",
    "tiny-gpt2-induction": "causal-lm",
    "tiny-bart-dates": "seq2seq",
    "tiny-vit-shapes": "vit",
}
DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_TEXTS = {
    "encoder": "The cat sat on the mat because it was tired.",
    "causal-lm": "t12 t7 t33 t2 t50 t41 t9 t12 t7 t33 t2 t50",
    "seq2seq": "the 21st of November, 2026",
    "vit": "",
}
DEFAULT_IMAGE = DATA_DIR / "images" / "example_shape.png"
DEFAULT_OTHER = "A sleepy kitten is lying on a rug."
MAX_TOKENS = 128  # the dashboard's own limit: longer inputs are cut, with a notice in the page
MAX_TEXT_CHARS = 20_000  # anything longer is refused before the tokenizer sees it
CACHE_SIZE = 8  # analyses kept (one per model and input)

# Each panel: its title, the lesson that teaches it, and the command that reproduces its figure.
PANELS = {
    "heatmap": ("One head", "01_beginner/attention_basics.py"),
    "overview": ("Layer × head overview (model view)", "03_advanced/bertviz_style.py"),
    "headview": ("Head view", "03_advanced/bertviz_style.py"),
    "rollout": ("Attention rollout", "02_intermediate/attention_rollout.py"),
    "flow": ("Attention flow, row under the cursor", "03_advanced/attention_flow.py"),
    "gradient": ("Gradient-weighted attention (Chefer)", "03_advanced/gradient_attention.py"),
    "cross": ("Cross-attention and its alignment", "02_intermediate/cross_attention_viz.py"),
    "vit": ("ViT: where [CLS] looks in the image", "03_advanced/vit_attention.py"),
}


class DashboardInputError(ValueError):
    """Bad input from the page (empty text, an unreadable image, a model that cannot be loaded)."""


# ------------------------------------------------------------------------------------------ models
_MODELS: dict[tuple[str, str], Any] = {}
_MODEL_LOCK = threading.Lock()
COMPUTE_LOCK = threading.RLock()  # one model computation at a time: gradients are not thread-safe


def model_kind(name: str) -> str:
    """The kind of a picker entry, or of any folder / Hub id (read from its config, weights not loaded)."""
    if name in MODEL_CHOICES:
        return MODEL_CHOICES[name]
    from transformers import AutoConfig

    from advanced.bertviz_style import detect_kind
    from attnviz.models import ModelLoadError

    try:
        config = AutoConfig.from_pretrained(name)
    except Exception:  # noqa: BLE001 - detect_kind below gives the one-line reason
        return detect_kind(name)  # raises ModelLoadError
    architectures = getattr(config, "architectures", None) or []
    if getattr(config, "patch_size", None) is not None and getattr(config, "image_size", None) is not None \
            and not getattr(config, "is_encoder_decoder", False):
        return "vit"
    if any(a.endswith("ForImageClassification") for a in architectures):
        return "vit"
    kind = detect_kind(name)
    if kind not in ("encoder", "causal-lm", "seq2seq"):
        raise ModelLoadError(f"model {name!r}: kind {kind!r} is not shown by the dashboard")
    return kind


def get_model(name: str, device=None):
    """Load (once) and return ``attnviz.models.LoadedModel`` for a picker entry, a folder or a Hub id."""
    from attnviz.models import load_model

    kind = model_kind(name)
    key = (name, kind)
    with _MODEL_LOCK:
        if key not in _MODELS:
            source = None if name == "all-MiniLM-L6-v2" else name
            loaded = load_model(source, kind=kind, device=device or "cpu")
            for parameter in loaded.model.parameters():  # the dashboard never trains: no weight gradients
                parameter.requires_grad_(False)
            _MODELS[key] = loaded
        return _MODELS[key]


# ---------------------------------------------------------------------------------------- analysis
@dataclass
class Analysis:
    """One input through one model: the attention every panel draws, and caches of what is derived from it."""

    key: str
    model_name: str
    kind: str
    text: str  # the text as analysed (after truncation), or the image's name
    tokens: list[str]  # display labels, one per query position of ``attention``
    attention: np.ndarray  # (L, H, Q, K): self-attention (the encoder's, for an encoder-decoder)
    notice: str = ""  # e.g. "truncated to the first 128 tokens"
    inputs: Any = None  # the model inputs (for gradients)
    cross: np.ndarray | None = None  # (L, H, T, S) for seq2seq
    target_tokens: list[str] | None = None  # (T,) row labels of ``cross``: the token each row predicts
    output_text: str = ""  # seq2seq: the model's translation
    views_kwargs: dict | None = None  # keyword arguments of advanced.bertviz_style.head_view
    image: np.ndarray | None = None  # ViT: (S, S, 3) in [0, 1]
    grid: tuple[int, int] | None = None
    n_prefix: int = 1
    class_names: list[str] | None = None
    logits: np.ndarray | None = None
    cache: dict = field(default_factory=dict)
    pending: dict = field(default_factory=dict)  # cache key -> Future, while a thread computes it (see once)

    @property
    def n_layers(self) -> int:
        return int(self.attention.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.attention.shape[1])


_ANALYSES: OrderedDict[str, Analysis] = OrderedDict()
_EMBEDDINGS: dict[tuple[str, str], Any] = {}  # (model, second sentence) -> its sentence embedding


def analysis_key(model_name: str, text: str = "", image_bytes: bytes | None = None, max_tokens: int = MAX_TOKENS) -> str:
    digest = hashlib.sha1(f"{model_name}\0{max_tokens}\0{text}".encode())
    if image_bytes is not None:
        digest.update(image_bytes)
    return digest.hexdigest()[:16]


def get_analysis(key: str) -> Analysis:
    try:
        return _ANALYSES[key]
    except KeyError:
        raise DashboardInputError("this input is no longer cached on the server; type it again") from None


def analyse(model_name: str, text: str = "", image=None, image_bytes: bytes | None = None,
            max_tokens: int = MAX_TOKENS) -> Analysis:
    """Run the model once on ``text`` (or ``image`` for a ViT) and cache the result; returns the Analysis."""
    model_name = (model_name or DEFAULT_MODEL).strip()
    key = analysis_key(model_name, text or "", image_bytes, max_tokens)
    if key in _ANALYSES:
        _ANALYSES.move_to_end(key)
        return _ANALYSES[key]
    kind = model_kind(model_name)
    with COMPUTE_LOCK:
        loaded = get_model(model_name)
        if kind == "vit":
            result = _analyse_image(key, loaded, image)
        else:
            result = _analyse_text(key, loaded, text, max_tokens)
    _ANALYSES[key] = result
    while len(_ANALYSES) > CACHE_SIZE:
        _ANALYSES.popitem(last=False)
    return result


def _check_text(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DashboardInputError("type a sentence: the text box is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise DashboardInputError(f"the text has {len(text)} characters; the dashboard takes at most {MAX_TEXT_CHARS}")
    return text.strip()


def _analyse_text(key: str, loaded, text, max_tokens: int) -> Analysis:
    import torch

    from advanced.bertviz_style import display_tokens
    from attnviz.extract import transformer_attentions
    from attnviz.models import encode_texts, max_length

    text = _check_text(text)
    tokenizer, model = loaded.tokenizer, loaded.model
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has none; one text needs no padding
    limit = min(max_tokens, max_length(tokenizer, model))
    full = len(tokenizer(text)["input_ids"])
    notice = ""
    if full > limit:
        notice = (f"The input has {full} tokens; it was truncated to the first {limit} "
                  f"(the dashboard shows at most {max_tokens}, {loaded.name} takes {max_length(tokenizer, model)}).")
        ids = tokenizer(text, truncation=True, max_length=limit, add_special_tokens=True)["input_ids"]
        text = tokenizer.decode(ids, skip_special_tokens=True).strip()
    if loaded.kind == "seq2seq":
        return _analyse_seq2seq(key, loaded, text, notice)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the truncation warning is the notice above
        inputs = encode_texts(tokenizer, text, model, limit=limit).to(loaded.device)
    with torch.no_grad():
        attention = transformer_attentions(model, inputs)[:, 0].float().cpu().numpy()  # (L, H, Q, K)
    raw_tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    return Analysis(key=key, model_name=loaded.name, kind=loaded.kind, text=text, tokens=display_tokens(raw_tokens),
                    attention=attention.astype(np.float64), notice=notice, inputs=inputs,
                    views_kwargs={"attention": attention, "tokens": raw_tokens})


def _analyse_seq2seq(key: str, loaded, text: str, notice: str) -> Analysis:
    from advanced.bertviz_style import attention_from_model, display_tokens
    from attnviz.views import label_decoder_by_prediction
    from intermediate.cross_attention_viz import cross_attentions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # encoder, decoder and cross-attention for the head view; decoder rows named by the token they predict,
        # as in lessons 2.4 and 3.3
        views = label_decoder_by_prediction(attention_from_model(loaded, text), loaded.tokenizer.eos_token,
                                            teacher_forced=False)
        cross = cross_attentions(loaded.model, loaded.tokenizer, [text])  # the lesson's teacher-forced rows
    n_rows = int(cross.target_mask[0].sum())
    return Analysis(key=key, model_name=loaded.name, kind="seq2seq", text=text,
                    tokens=display_tokens(views["encoder_tokens"]),
                    attention=np.asarray(views["encoder_attention"], np.float64), notice=notice,
                    cross=cross.weights[:, 0, :, :n_rows].astype(np.float64),  # (L, H, T, S)
                    target_tokens=display_tokens(cross.target_tokens[0][:n_rows]), output_text=cross.outputs[0],
                    views_kwargs=views)


def load_image(image=None):
    """A PIL image from a path, raw bytes or a ``data:`` URL (what the page's upload sends); None -> the default."""
    import base64
    import io

    from PIL import Image, UnidentifiedImageError

    if image is None:
        image = DEFAULT_IMAGE
    try:
        if isinstance(image, str) and image.startswith("data:"):
            image = base64.b64decode(image.split(",", 1)[1], validate=False)
        if isinstance(image, bytes | bytearray):
            pil = Image.open(io.BytesIO(image))
        elif isinstance(image, str | Path):
            pil = Image.open(image)
        else:
            pil = image
        pil.load()
    except (UnidentifiedImageError, OSError, ValueError, IndexError, Image.DecompressionBombError) as err:
        raise DashboardInputError(f"the dropped file is not an image the dashboard can read ({err})") from None
    if min(pil.size) < 2:
        raise DashboardInputError(f"the image is {pil.size[0]} × {pil.size[1]} pixels; it needs at least 2 × 2")
    return pil.convert("RGB")


def _analyse_image(key: str, loaded, image) -> Analysis:
    from advanced.vit_attention import ViTAttentionVisualizer

    pil = load_image(image)
    viz = ViTAttentionVisualizer(loaded.model, loaded.processor)
    result = viz.attend(loaded.model, pil)
    g_h, g_w = result.grid
    tokens = [f"[CLS]{i}" if i else "[CLS]" for i in range(result.n_prefix)]
    tokens += [f"p{r},{c}" for r in range(g_h) for c in range(g_w)]
    config = loaded.model.config
    names = [str(config.id2label.get(i, i)) for i in range(config.num_labels)] if hasattr(config, "id2label") else None
    pixels = viz.preprocess(pil, loaded.model).to(loaded.device)
    return Analysis(key=key, model_name=loaded.name, kind="vit", text="image", tokens=tokens,
                    attention=result.attention.astype(np.float64), inputs={"pixel_values": pixels},
                    views_kwargs={"attention": result.attention, "tokens": tokens}, image=result.image,
                    grid=result.grid, n_prefix=result.n_prefix, class_names=names, logits=result.logits)


# ------------------------------------------------------------------------------ computed once, shared
_ONCE_LOCK = threading.Lock()


def once(a: Analysis, key, make):
    """``a.cache[key]``, made by ``make()`` the first time it is asked for.

    Several threads ask for the same numbers at the same time (the panels' requests, and :func:`prefetch`,
    which starts them before the page asks): the first one computes, the others wait for its result
    rather than computing it again. An error reaches every waiting caller and is not kept (the next
    call tries again).
    """
    with _ONCE_LOCK:
        if key in a.cache:
            return a.cache[key]
        future = a.pending.get(key)
        computing_here = future is None
        if computing_here:
            future = a.pending[key] = Future()
    if not computing_here:
        return future.result()
    try:
        value = make()
    except BaseException as err:
        with _ONCE_LOCK:
            a.pending.pop(key, None)
        future.set_exception(err)
        raise
    with _ONCE_LOCK:
        a.cache[key] = value
        a.pending.pop(key, None)
    future.set_result(value)
    return value


def prefetch(a: Analysis, *, row: int = 0, target: str | None = None,
             other: str | None = None) -> list[threading.Thread]:
    """Start computing, in background threads, what the slower panels will ask for: the views' data, the
    flow of ``row`` and the gradient-weighted relevance of ``target``.

    The page sends those requests only after it has received the analysis (a round trip later); by then
    the numbers are being computed, and :func:`once` hands each request the result. Errors are left to
    the requests, which show them in the page. Returns the started threads.
    """
    def quietly(compute_one, *args):
        try:
            compute_one(a, *args)
        except Exception:  # noqa: BLE001 - the panel's own request reports it
            pass

    jobs = [(views_data,), (flow_row, row)]
    if gradient_targets(a):
        jobs.append((gradient_relevance, target, other))
    threads = [threading.Thread(target=quietly, args=job, name=f"prefetch-{job[0].__name__}", daemon=True)
               for job in jobs]
    for thread in threads:
        thread.start()
    return threads


# ------------------------------------------------------------------------------------------ panels
def head_matrix(a: Analysis, layer: int, head: int) -> np.ndarray:
    """One head's ``(Q, K)`` weights."""
    from attnviz.validate import check_index

    return a.attention[check_index(layer, a.n_layers, name="layer"), check_index(head, a.n_heads, name="head")]


def rollout(a: Analysis) -> np.ndarray:
    """Attention rollout ``(Q, K)`` (head mean, 0.5·A + 0.5·I, rows renormalised) of the analysed input."""
    from intermediate.attention_rollout import AttentionRollout

    return once(a, "rollout", lambda: AttentionRollout().compute_rollout(list(a.attention)))


def flow_row(a: Analysis, row: int) -> np.ndarray:
    """Attention flow ``F[row, :]`` (max-flow from top position ``row`` to each input token), exact.

    Computed only for the row asked for, by the flow lesson's ``AttentionFlow.compute_flow(rows=[row])``,
    and kept (under the cache key ``("flow", row)``): hovering back to a row costs nothing.
    """
    from advanced.attention_flow import AttentionFlow
    from attnviz.validate import check_index

    row = check_index(row, a.attention.shape[-2], name="row")
    return once(a, ("flow", row),  # (1, K) -> (K,)
                lambda: np.asarray(AttentionFlow().compute_flow(list(a.attention), rows=[row]))[0])


def gradient_targets(a: Analysis) -> list[tuple[str, str]]:
    """The targets the gradient-weighted panel can explain for this input: ``(value, label)`` pairs."""
    if a.kind == "encoder":
        return [("similarity", "similarity of the sentence embedding to a second sentence")]
    if a.kind == "causal-lm":
        return [("next", "the next token's logit (the predicted token)")]
    if a.kind == "vit":
        predicted = int(np.argmax(a.logits)) if a.logits is not None else 0
        names = a.class_names or []
        return [(f"class:{i}", f"class {name}" + (" (predicted)" if i == predicted else ""))
                for i, name in enumerate(names)]
    return []


def _gradient_inputs(a: Analysis, model) -> dict:
    """The analysed input with a leaf that requires a gradient, so that backpropagation reaches the attention.

    The weights do not require gradients (see :func:`get_model`), so the input must: the token embeddings
    (``inputs_embeds`` in place of ``input_ids``) or the pixels. ``∂y/∂A`` does not depend on which leaf
    is chosen; skipping the weights' gradients (the 30522 × 384 embedding table's among them) makes the
    backward pass several times cheaper.
    """
    inputs = dict(a.inputs)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].detach().clone().requires_grad_(True)
    else:
        ids = inputs.pop("input_ids")
        inputs["inputs_embeds"] = model.get_input_embeddings()(ids).detach().requires_grad_(True)  # (B, T, d)
    return inputs


def default_target(a: Analysis) -> str | None:
    """The target explained first: the predicted class for a ViT, else the only target there is."""
    targets = [value for value, _ in gradient_targets(a)]
    if a.kind == "vit" and a.logits is not None:
        return f"class:{int(np.argmax(a.logits))}"
    return targets[0] if targets else None


def gradient_relevance(a: Analysis, target: str | None = None, other: str = DEFAULT_OTHER) -> dict:
    """Chefer relevance for a target: ``{"row": (K,), "label", "row_name", "rollout_row"}``.

    ``row`` is the relevance (``R − I``) of the position the prediction is read from: the mean of the real
    rows for MiniLM's mean-pooled similarity, the last position for a next-token logit, ``[CLS]`` for a class.
    Computed once per (input, target, second sentence).
    """
    choices = dict(gradient_targets(a))
    if not choices:
        raise DashboardInputError("gradient-weighted attention is taught for encoders, decoders and ViTs; "
                                  "the lessons do not cover an encoder-decoder's")
    target = target if target in choices else default_target(a)
    other = other.strip() if isinstance(other, str) and other.strip() else DEFAULT_OTHER
    cache_key = ("gradient", target, other if target == "similarity" else "")
    return once(a, cache_key, lambda: _relevance(a, target, other, choices[target]))


def _relevance(a: Analysis, target: str, other: str, target_label: str) -> dict:
    """:func:`gradient_relevance`, computed (``target`` checked, ``other`` stripped)."""
    import torch

    from advanced.gradient_attention import explain, relevance_row
    from attnviz.gradients import class_logit, embedding_similarity, mean_pool, next_token_logit

    loaded = get_model(a.model_name)
    model = loaded.model
    with COMPUTE_LOCK:
        if target == "similarity":
            from attnviz.models import encode_texts

            embedding_key = (a.model_name, other)
            embedding = _EMBEDDINGS.get(embedding_key)
            if embedding is None:  # the second sentence's embedding: once per model and sentence
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    other_inputs = encode_texts(loaded.tokenizer, _check_text(other), model).to(loaded.device)
                with torch.no_grad():
                    embedding = mean_pool(model(**other_inputs).last_hidden_state, other_inputs["attention_mask"])[0]
                _EMBEDDINGS[embedding_key] = embedding
            result = explain(model, _gradient_inputs(a, model),
                             embedding_similarity(embedding, a.inputs["attention_mask"]))
            row, row_name = "mean", "mean of all rows (the sentence embedding is a mean)"
            label = f"y = cos(embedding, {other!r})"
        elif target == "next":
            result = explain(model, _gradient_inputs(a, model), next_token_logit())
            with torch.no_grad():
                predicted = int(model(**a.inputs).logits[0, -1].argmax())
            token = loaded.tokenizer.convert_ids_to_tokens([predicted])[0]
            row, row_name, label = -1, "last position (where the next token is predicted)", f"y = logit of {token!r}"
        else:
            index = int(target.split(":", 1)[1])
            result = explain(model, _gradient_inputs(a, model), class_logit(index))
            row, row_name = 0, "[CLS] (the classifier reads it)"
            label = f"y = logit of class {target_label.split(' (')[0].removeprefix('class ')!r}"
    relevance = relevance_row(result["relevance"], row)
    plain = rollout(a)
    rollout_row = plain.mean(0) if row == "mean" else plain[row]
    return {"row": relevance, "rollout_row": rollout_row, "label": label, "row_name": row_name, "target": target}


def cross_layer(a: Analysis, layer: int, head: int | None) -> tuple[np.ndarray, np.ndarray]:
    """One decoder layer's cross-attention ``(T, S)`` (one head, or the head mean when ``head`` is None)
    and the alignment it implies (``argmax`` over the source, per output row; heads fused first)."""
    from attnviz.validate import check_index
    from intermediate.cross_attention_viz import implied_alignment

    if a.cross is None:
        raise DashboardInputError("cross-attention needs an encoder-decoder model (tiny-bart-dates, say)")
    layer = check_index(layer, a.cross.shape[0], name="layer")
    matrix = a.cross[layer].mean(0) if head is None else a.cross[layer, check_index(head, a.cross.shape[1], name="head")]
    return matrix, implied_alignment(matrix)


def vit_maps(a: Analysis, layer: int, head: int) -> dict:
    """The [CLS]-to-patch map of one head and of the rollout, on the patch grid."""
    from advanced.vit_attention import cls_patch_maps, rollout_map
    from attnviz.validate import check_index

    if a.kind != "vit":
        raise DashboardInputError("the patch maps need a Vision Transformer (tiny-vit-shapes, say)")
    layer = check_index(layer, a.n_layers, name="layer")
    head = check_index(head, a.n_heads, name="head")
    rolled = once(a, "vit_rollout", lambda: rollout_map(a.attention, a.grid, a.n_prefix))
    return {"head": cls_patch_maps(a.attention[layer], a.grid, a.n_prefix)[head], "rollout": rolled}


def views_title(a: Analysis) -> str:
    """The title the head and model views of the input carry."""
    return f"{a.model_name}: {a.text[:60]}"


def views_data(a: Analysis) -> dict:
    """What the page's views frames draw: the encoded attention once (``views``) and each page's settings
    (``head``, ``model``), exactly as ``advanced.bertviz_style`` writes them into its head and model view
    pages; plus the input's ``key`` and ``text``. The head view's ``layer`` is set in the page."""
    from advanced.bertviz_style import both_views_data

    def data():
        head, model = both_views_data(**a.views_kwargs, title=views_title(a), layer=0)
        views = head.pop("views")
        model.pop("views")  # the same list: it travels once
        return {"key": a.key, "text": a.text, "views": views, "head": head, "model": model}

    return once(a, "views_data", data)


# ----------------------------------------------------------------------------------------- commands
def command(panel: str, a: Analysis | None, *, layer: int = 0, head: int = 0, other: str = DEFAULT_OTHER) -> str:
    """The command line that reproduces a panel's figure with the lesson script."""
    script = PANELS[panel][1]
    parts = ["python", script]
    name = a.model_name if a is not None else DEFAULT_MODEL
    kind = a.kind if a is not None else "encoder"
    default_for_kind = {"encoder": "all-MiniLM-L6-v2", "causal-lm": "tiny-gpt2-induction",
                        "seq2seq": "tiny-bart-dates", "vit": "tiny-vit-shapes"}.get(kind)
    text = a.text if a is not None else DEFAULT_TEXTS["encoder"]
    if panel == "vit":
        if name != default_for_kind:
            parts += ["--model", name]
        return " ".join(shlex.quote(p) for p in parts + ["--image", "<your image>", "--layer", str(layer),
                                                         "--head", str(head)])
    if panel == "gradient":
        if kind == "causal-lm":
            parts += ["--gpt2-model", name] if name != default_for_kind else []
        elif kind == "vit":
            parts += (["--vit-model", name] if name != default_for_kind else []) + ["--image", "<your image>"]
        else:
            parts += (["--model", name] if name != "all-MiniLM-L6-v2" else []) + ["--text", text, "--other", other]
        return " ".join(shlex.quote(p) for p in parts)
    if kind == "vit":  # the token-level panels of an image: the ViT lesson draws its maps
        parts = ["python", PANELS["vit"][1]] + (["--model", name] if name != default_for_kind else [])
        return " ".join(shlex.quote(p) for p in parts + ["--image", "<your image>", "--layer", str(layer),
                                                         "--head", str(head)])
    lesson_default = "tiny-bart-dates" if panel == "cross" else "all-MiniLM-L6-v2"
    if name != lesson_default:
        parts += ["--model", name]
    parts += ["--text", text]
    if panel == "heatmap":
        parts += ["--layer", str(layer), "--head", str(head)]
    if panel == "cross":
        parts += ["--layer", str(layer)]
    return " ".join(shlex.quote(p) for p in parts)
