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

For vision models (ViT and its relatives) the config also says how an image becomes tokens: an
``image_size`` cut into ``patch_size`` patches. :func:`image_size`, :func:`config_patch_size` and
:func:`pixel_values` read and use that; the ViT lesson (``advanced.vit_attention``) draws the result.
Its inputs are checked here: images (:func:`check_image_array`, :func:`read_image`), object masks, patch maps
and their grid (:func:`check_object_masks`, :func:`check_maps`, :func:`check_grid`, :func:`patch_cover`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from attnviz.extract import transformer_attentions
from attnviz.models import (
    SHIPPED_MODELS,
    architecture_name,
    encode_texts,
    is_image_config,
    max_length,
    shipped_model_path,
)
from attnviz.validate import to_numpy

MODEL_KINDS = ("auto", "encoder", "causal-lm", "seq2seq")


def read_config(name_or_path, kind: str = "encoder", option: str = "--model"):
    """A model's config (a shipped name, a folder or a Hub id), without its weights; one readable line
    (:class:`ModelLoadError`, the same as :func:`attnviz.models.load_model`'s) when it cannot be read: it names
    ``option`` and the offline default of ``kind``, and blames the network only when the network is the problem."""
    from transformers import AutoConfig

    from attnviz.models import _load_failure

    name = str(name_or_path)
    source = shipped_model_path(name) if name in SHIPPED_MODELS.values() else name_or_path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # transformers' notes about the config are not the student's business
            return AutoConfig.from_pretrained(source)
    except Exception as err:  # noqa: BLE001 - one readable line, like load_model
        raise _load_failure(name, kind, err, option) from None


def detect_kind(name_or_path) -> str:
    """``encoder``, ``causal-lm`` or ``seq2seq`` from a model's config (without loading its weights); an
    image model is refused in one line (``ValueError``) that names the vision lesson."""
    config = read_config(name_or_path)
    if is_image_config(config):
        raise ValueError(f"{name_or_path} is a {architecture_name(config)}, an image model; this lesson needs a text "
                         "model — try 03_advanced/vit_attention.py")
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    architectures = getattr(config, "architectures", None) or []
    if getattr(config, "is_decoder", False) or any(a.endswith(("CausalLM", "LMHeadModel")) for a in architectures):
        return "causal-lm"
    return "encoder"


def require_seq2seq(name_or_path) -> None:
    """Refuse, in one line, a model without cross-attention (anything but an encoder-decoder)."""
    config = read_config(name_or_path, kind="seq2seq")
    if not getattr(config, "is_encoder_decoder", False):
        raise ValueError(f"{name_or_path} is a {architecture_name(config)}, not an encoder-decoder, so it has no "
                         "cross-attention; this lesson needs one (BART, T5, Marian, Pegasus) — run without "
                         "--model for the course's tiny-bart-dates")


def attention_from_model(loaded, text: str, target: str | None = None) -> dict:
    """Run a loaded model once per kind of attention; returns the keyword arguments of the views.

    ``loaded`` is an :class:`attnviz.models.LoadedModel`. Encoders and decoders give ``attention``
    ``(L, H, Q, K)`` + ``tokens``; an encoder-decoder gives ``encoder_attention``, ``decoder_attention``
    and ``cross_attention`` ``(L, H, T, S)`` of ``text`` → ``target`` (default: the model's own greedy
    output) with ``encoder_tokens`` and ``decoder_tokens``.

    ``text`` is one string (the views show one text; a list is refused rather than cut to its first text);
    a text or ``target`` longer than the model's limit is truncated with a warning.
    """
    import torch

    if not isinstance(text, str):
        hint = " — a list of texts? the views show one text: call once per text" if isinstance(
            text, list | tuple) else ""
        raise TypeError(f"text: expected one string, got {type(text).__name__}{hint}")
    if target is not None and (not isinstance(target, str) or not target.strip()):
        raise ValueError(f"target: expected a non-empty string (the decoder's text) or None, got {target!r:.60}")
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
            limit = max_length(tokenizer, model)
            if body.shape[1] > limit:
                warnings.warn(f"target of {body.shape[1]} tokens is longer than the model's limit of {limit}; "
                              f"truncated to the first {limit} tokens ({target[:40]!r}...)", stacklevel=2)
                body = body[:, :limit]  # (1, T) -> (1, limit)
            decoder_ids = torch.cat([start, body.to(loaded.device)], dim=1)[:, :-1]  # (1, T): shifted right
        both = {**inputs, "decoder_input_ids": decoder_ids}
        kinds = {name: transformer_attentions(model, both, kind=name)[:, 0].cpu().numpy()  # (L, H, Q, K)
                 for name in ("encoder", "decoder", "cross")}
    return {"encoder_attention": kinds["encoder"], "decoder_attention": kinds["decoder"],
            "cross_attention": kinds["cross"], "encoder_tokens": source_tokens,
            "decoder_tokens": tokenizer.convert_ids_to_tokens(decoder_ids[0].tolist())}


# ------------------------------------------------------------------------------------ vision models
def image_size(config) -> int:
    """The square input size ``S`` of a ViT-style model, from its config."""
    size = getattr(config, "image_size", None)
    if isinstance(size, list | tuple):
        if len(set(size)) != 1:
            raise ValueError(f"model: non-square image_size {size} is not supported")
        size = size[0]
    if not isinstance(size, int):
        raise ValueError(f"model: its config has no image_size (got {size!r}); expected a ViT-style model")
    return size


INTERPOLATING_MODELS = ("dinov2", "dinov2_with_registers")  # position embeddings follow the input size


def input_size(config, processor=None) -> int:
    """The square size ``S`` the model sees: ``config.image_size`` — or, for a model that interpolates its
    position embeddings (DINOv2: its config says 518, its processor makes 224), what the processor makes."""
    if processor is None or getattr(config, "model_type", "") not in INTERPOLATING_MODELS:
        return image_size(config)
    from PIL import Image

    return int(processor(images=Image.new("RGB", (64, 64)), return_tensors="pt")["pixel_values"].shape[-1])


VISION_TRANSFORMERS = ("vit", "deit", "dinov2", "dinov2_with_registers", "beit")  # [CLS] + patches, one grid


def require_vision_transformer(name_or_path, option: str = "--model") -> None:
    """Refuse, in one line that says why and what to use, a model whose attention is not one ``[CLS]`` +
    patch-grid matrix per layer: a text model, windowed attention (Swin), or no attention at all (ConvNeXt).
    Other image models with attention heads are let through (they may well work). ``option`` is the command-line
    option the name came from (``--vit-model`` for a lesson's second model): the line names it."""
    config = read_config(name_or_path, kind="vit", option=option)
    model_type, architecture = getattr(config, "model_type", ""), architecture_name(config)
    use = f"this lesson needs a vision transformer (ViT, DeiT, DINOv2, BEiT) — run without {option} for the course's"
    if model_type in VISION_TRANSFORMERS:
        return
    if "swin" in model_type:
        raise ValueError(f"{name_or_path} is a {architecture}: Swin attends within shifted windows, a different "
                         f"attention tensor per stage, so there is no [CLS]-to-patch map; {use} tiny ViT")
    if getattr(config, "image_size", None) is None or getattr(config, "patch_size", None) is None:
        raise ValueError(f"{name_or_path} is a {architecture}, not an image model; {use} tiny ViT "
                         "(text models: 01_beginner/attention_basics.py)")
    if getattr(config, "num_attention_heads", None) is None:
        raise ValueError(f"{name_or_path} is a {architecture}: it has no attention to draw (a convolutional "
                         f"network); {use} tiny ViT")


def config_patch_size(config) -> int:
    """The square patch size ``P`` of a ViT-style model, from its config."""
    actual = getattr(config, "patch_size", None)
    if isinstance(actual, list | tuple):
        actual = actual[0] if len(set(actual)) == 1 else tuple(actual)
    if not isinstance(actual, int):
        raise ValueError(f"model: its config has no square patch_size (got {actual!r}); "
                         "expected a ViT-style model")
    return actual


def image_normalisation(processor) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` per channel that ``processor`` normalises with (ViT's 0.5 and 0.5 without one)."""
    mean = getattr(processor, "image_mean", None) or [0.5, 0.5, 0.5]
    std = getattr(processor, "image_std", None) or [0.5, 0.5, 0.5]
    if getattr(processor, "do_normalize", True) is False:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    return np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)


def read_image(path):
    """Open an image file as RGB, with every way a file can fail as one readable ``ValueError`` that names the
    path and the cause: not an image (``UnidentifiedImageError``), truncated or corrupt (``OSError`` while
    decoding), or so large it may be a decompression bomb (``DecompressionBombError``, PIL's guard at twice
    ``Image.MAX_IMAGE_PIXELS``). A missing path is a ``FileNotFoundError``."""
    from PIL import Image

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image: {path} does not exist")
    if not path.is_file():
        raise ValueError(f"image: {path} is not a file; expected an image file (PNG, JPEG, ...)")
    try:
        with Image.open(path) as opened:
            return opened.convert("RGB")  # decodes every pixel now, so a truncated file fails here
    except Image.DecompressionBombError as err:
        raise ValueError(f"image: cannot read {path}: too large, a possible decompression bomb ({err})") from None
    except OSError as err:  # UnidentifiedImageError is an OSError too
        cause = str(err).strip() or type(err).__name__
        raise ValueError(f"image: cannot read {path} as an image ({cause})") from None


def check_image_array(image, name: str = "image") -> np.ndarray:
    """An ``(H, W, 3)`` (or RGBA ``(H, W, 4)``) array checked and returned as ``uint8`` RGB.

    Accepted: ``uint8``; other integers in 0..255; floats in [0, 1]. **Float images above 1 are rejected, not
    rescaled**: a float array in 0..255 is the classic mistake (``np.asarray(img, dtype=float)``), and clipping
    it to [0, 1] silently turns the picture white and changes the prediction, while guessing "divide by 255"
    would be wrong for an HDR image. The message says what to do instead. Also rejected: the wrong number of
    dimensions or channels, an image with no pixels, NaN or Inf, negative values, booleans.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"{name}: an array must be (height, width, 3) RGB or (height, width, 4) RGBA, got shape "
                         f"{arr.shape}" + (" — a grey image? stack it: np.stack([a] * 3, axis=-1)"
                                           if arr.ndim == 2 else ""))
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: got an empty image of shape {arr.shape}; expected at least one pixel")
    if arr.dtype == np.uint8:
        return arr[..., :3]
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name}: expected uint8 or float pixel values, got dtype {arr.dtype}")
    arr = arr[..., :3]
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains {int(arr.size - np.isfinite(arr).sum())} NaN or Inf pixel values")
    low, high = arr.min(), arr.max()
    if np.issubdtype(arr.dtype, np.integer):
        if low < 0 or high > 255:
            raise ValueError(f"{name}: integer pixel values must be in 0..255; got {low}..{high}")
        return arr.astype(np.uint8)
    if low < 0:
        raise ValueError(f"{name}: float images must be in [0, 1]; got min {low:.4g}")
    if high > 1:
        raise ValueError(f"{name}: float images must be in [0, 1]; got max {high:.4g} — pass a uint8 array or "
                         "divide by 255")
    return (arr * 255).round().astype(np.uint8)


def as_pil(image):
    """A PIL image, a path or an ``(H, W, 3)`` array (checked by :func:`check_image_array`: uint8, or floats
    in [0, 1] — never clipped) as an RGB PIL image; an unreadable file is a ``ValueError`` naming it."""
    from PIL import Image

    if isinstance(image, Image.Image):
        if image.width == 0 or image.height == 0:
            raise ValueError(f"image: got an empty PIL image of size {image.size}; expected at least one pixel")
        return image.convert("RGB")
    if isinstance(image, str | Path):
        return read_image(image)
    if isinstance(image, np.ndarray):
        return Image.fromarray(check_image_array(image))
    raise TypeError(f"image: expected a PIL image, a path or an (H, W, 3) array, got {type(image).__name__}")


def pixel_values(image, config, processor=None):
    """``image`` (a PIL image, a path, an ``(H, W, 3)`` array, or ready pixel values) -> a ``(1, C, S, S)``
    float tensor for a model with this ``config`` (``S``: :func:`input_size`), through ``processor`` when
    given; without one, resized to ``S × S`` and normalised with mean and standard deviation 0.5 (ViT's).
    Arrays are checked by :func:`check_image_array` (a float image above 1 is refused, never clipped)."""
    import torch

    size = input_size(config, processor)
    channels = getattr(config, "num_channels", 3)
    if isinstance(image, torch.Tensor):  # already preprocessed pixel values
        pixels = image if image.dim() == 4 else image.unsqueeze(0)  # (C, S, S) -> (1, C, S, S)
        if tuple(pixels.shape[1:]) != (channels, size, size):
            raise ValueError(f"image: pixel values of shape {tuple(image.shape)}; the model expects "
                             f"({channels}, {size}, {size}) — resize the image or pass it as a PIL image")
        if not torch.isfinite(pixels).all():
            raise ValueError("image: pixel values contain NaN or Inf")
        return pixels.float()
    pil = as_pil(image)
    if processor is not None:
        pixels = processor(images=pil, return_tensors="pt")["pixel_values"]  # (1, C, S, S)
        if tuple(pixels.shape[-2:]) != (size, size):
            raise ValueError(f"image: the processor made {tuple(pixels.shape[-2:])} pixels; the model expects "
                             f"{size} × {size}")
        return pixels.float()
    from PIL import Image

    resized = np.asarray(pil.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
    pixels = (resized - 0.5) / 0.5  # (S, S, 3), ViT's default normalisation
    return torch.from_numpy(pixels).permute(2, 0, 1)[None]  # (S, S, 3) -> (1, 3, S, S)


def vision_attention(model, pixels, batch_size: int = 64):
    """Every attention weight and the logits of a vision model for pixel values ``(B, C, S, S)``, run
    ``batch_size`` images at a time: ``(attention (L, B, H, N, N), logits (B, classes) or None)``, NumPy."""
    import torch

    if not isinstance(pixels, torch.Tensor) or pixels.dim() != 4:
        got = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise TypeError(f"pixels: expected a (batch, channels, height, width) tensor (pixel_values), got {got}")
    if len(pixels) == 0:
        raise ValueError("images: got none; expected at least one image")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    device = next(model.parameters()).device
    attention, logits = [], []
    for start in range(0, len(pixels), batch_size):
        chunk = pixels[start:start + batch_size].to(device)  # (b, C, S, S)
        with torch.no_grad():
            weights = transformer_attentions(model, {"pixel_values": chunk})  # (L, b, H, N, N)
            attention.append(weights.float().cpu().numpy())
            out = getattr(model(pixel_values=chunk), "logits", None)  # (b, classes), or None without a head
        if out is not None:
            logits.append(out.float().cpu().numpy())
    return np.concatenate(attention, axis=1), (np.concatenate(logits) if logits else None)  # (L, B, H, N, N)


def vision_special_tokens(config, n_tokens: int, grid: tuple[int, int]) -> list[str]:
    """Names of the tokens a vision model puts before its ``g_h × g_w`` patches (of ``n_tokens``), in order.

    ViT and BEiT have one, ``[CLS]``; DeiT adds a distillation token (``[DIST]``, Touvron et al. 2021);
    DINOv2 with registers adds ``num_register_tokens`` register tokens (``[REG0]`` …, Darcet et al.
    2024). A count the config does not explain gets generic names after ``[CLS]``.
    """
    n_prefix = n_tokens - grid[0] * grid[1]
    if n_prefix < 1:
        raise ValueError(f"model: {n_tokens} tokens for a {grid[0]} × {grid[1]} grid leave no [CLS] token; "
                         "is the patch size right?")
    names = ["[CLS]"] + (["[DIST]"] if getattr(config, "model_type", "") == "deit" else [])
    names += [f"[REG{i}]" for i in range(getattr(config, "num_register_tokens", 0) or 0)]
    if len(names) != n_prefix:
        names = ["[CLS]"] + [f"[special {i}]" for i in range(1, n_prefix)]
    return names


def resize_masks(masks, size: int, processor=None) -> np.ndarray:
    """Object masks ``(n, H, W)`` brought to the model's ``size × size`` input as its images are: through
    ``processor`` when it crops (DINOv2's resizes, then cuts the centre), else resized by nearest neighbour
    (so a mask stays a mask). Returns ``(n, size, size)`` bool."""
    from PIL import Image

    masks = check_object_masks(masks)  # (n, H, W) bool
    if masks.shape[1:] == (size, size):
        return masks
    if processor is not None and getattr(processor, "do_center_crop", False):
        as_images = [np.repeat(m[..., None].astype(np.uint8) * 255, 3, axis=-1) for m in masks]  # (H, W, 3)
        made = processor(images=as_images, do_rescale=False, do_normalize=False, return_tensors="np")
        return np.asarray(made["pixel_values"])[:, 0] > 127  # (n, 3, S, S) -> (n, S, S)
    resized = [np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)) > 127
               for m in masks]
    return np.stack(resized)  # (n, size, size)


def check_object_masks(masks, n_images: int | None = None, name: str = "object_masks") -> np.ndarray:
    """Object masks ``(n, H, W)`` checked and returned as bool: 0/1 (or bool) values only — a NaN, a 0.5 or a
    255 is not a mask, and ``astype(bool)`` would silently make it one —, one mask per image (``n_images``),
    and every mask holds at least one object pixel (an empty mask can never be hit: its chance level is 0)."""
    if masks is None or isinstance(masks, str | bytes | dict):
        raise TypeError(f"{name}: expected an array of masks (images, height, width), got {type(masks).__name__}")
    try:
        arr = np.asarray(masks, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: expected a numeric array of masks, could not convert {type(masks).__name__} "
                        f"({err})") from None
    if arr.ndim != 3 or arr.size == 0:
        raise ValueError(f"{name}: expected (images, height, width) with at least one pixel, got shape {arr.shape}")
    if n_images is not None and len(arr) != n_images:
        raise ValueError(f"{name}: got {len(arr)} masks for {n_images} images; expected one mask per image")
    binary = (arr == 0) | (arr == 1)
    if not binary.all():
        bad = arr[~binary].ravel()[0]
        raise ValueError(f"{name}: a mask must hold only 0/1 (or bool) values, got {bad!r}")
    empty = np.flatnonzero(arr.reshape(len(arr), -1).max(1) == 0)
    if len(empty):
        raise ValueError(f"{name}: mask {int(empty[0])} holds no object pixel ({len(empty)} empty masks); every "
                         "image needs its object marked")
    return arr.astype(bool)


# ------------------------------------------------------------------------ patch maps and their grid
def check_grid(grid, n_prefix) -> tuple[int, int]:
    """``grid`` ``(g_h, g_w)``: two positive integers; ``n_prefix``: at least one special token ([CLS])."""
    def positive_int(value) -> bool:
        return not isinstance(value, bool) and isinstance(value, int | np.integer) and value >= 1

    if not isinstance(grid, tuple | list) or len(grid) != 2 or not all(positive_int(g) for g in grid):
        raise ValueError(f"grid: expected (patch rows, patch columns), two positive integers, got {grid!r}")
    if not positive_int(n_prefix):
        raise ValueError(f"n_prefix: expected the number of special tokens before the patches (at least 1, "
                         f"[CLS]), got {n_prefix!r}")
    return int(grid[0]), int(grid[1])


def check_maps(maps, name: str = "maps") -> np.ndarray:
    """Patch maps ``(n, g_h, g_w)`` checked and returned as float64: finite, non-negative, none all zero (a
    map of zeros has no strongest patch). A map need not sum to 1 (``[CLS]`` keeps weight off the patches)."""
    arr = to_numpy(maps, name)
    if arr.ndim != 3 or arr.size == 0:
        raise ValueError(f"{name}: expected (images, grid_h, grid_w) with at least one patch, got shape "
                         f"{arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains {int(arr.size - np.isfinite(arr).sum())} NaN or Inf values")
    if arr.min() < 0:
        raise ValueError(f"{name}: contains negative weights (min {arr.min():.4g}); attention maps are >= 0")
    blank = np.flatnonzero(arr.reshape(len(arr), -1).max(1) == 0)
    if len(blank):
        raise ValueError(f"{name}: map {int(blank[0])} is all zero; it has no strongest patch")
    return arr


def patch_cover(object_masks, grid: tuple[int, int], name: str = "object_masks") -> np.ndarray:
    """``(n, S_h, S_w)`` pixel masks -> ``(n, g_h, g_w)``: the share of each patch's pixels on the object."""
    masks = check_object_masks(object_masks, name=name)  # (n, S_h, S_w) bool
    g_h, g_w = grid
    if masks.shape[1] % g_h or masks.shape[2] % g_w or masks.shape[1] // g_h != masks.shape[2] // g_w:
        raise ValueError(f"{name}: shape {masks.shape} cannot be cut into a {g_h} × {g_w} grid of square "
                         "patches")
    patch = masks.shape[1] // g_h
    blocks = masks.reshape(len(masks), g_h, patch, g_w, patch)  # (n, S_h, S_w) -> (n, g_h, P, g_w, P)
    return blocks.mean(axis=(2, 4))  # (n, g_h, g_w)
