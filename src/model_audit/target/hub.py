"""Targets by name: ``timm:NAME``, ``hf:ORG/NAME[@REV]`` / ``hf:PATH`` and ``torchvision:NAME``.

Every model is built from code on the ``meta`` device — no weights are downloaded or allocated, so a
model of any size audits on a laptop (the audit falls back to a synthetic CPU copy when an op has no
meta kernel). Example inputs come from what the library itself publishes about the model: timm's
``pretrained_cfg["input_size"]``, torchvision's default weights' transforms (their crop size), and
for Hugging Face the config (token ids for text models, pixel values for vision models). Only
``config.json`` is read from the Hugging Face hub or its local cache (plus the repository's custom
code when the caller allows it), never a checkpoint. Each failure is one ``TargetError`` line.
"""
from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import TargetError
from .loading import LoadedTarget

HF_TEXT_LENGTH = 128  # default sequence length of text models' input_ids (capped by the position table)
VIDEO_FRAMES = 16  # torchvision's video models are benchmarked on 16-frame clips
_EXTRAS = {"timm": ("timm", "timm"), "hf": ("transformers", "hf"), "torchvision": ("torchvision", "torchvision")}


def hub_prefix(target: str) -> str | None:
    """The hub prefix of ``target`` (``timm``, ``hf``, ``torchvision``) or None for files and modules."""
    head, sep, _ = target.partition(":")
    return head if sep and head in _EXTRAS else None


def load_hub_target(target: str, *, trust_remote_code: bool = False) -> LoadedTarget:
    """Build the named model on meta with its example inputs; TargetError (one line) on any failure."""
    prefix = hub_prefix(target)
    if prefix is None:
        raise TargetError(f"{target!r} is not a hub target; use timm:NAME, hf:ORG/NAME or torchvision:NAME")
    name = target[len(prefix) + 1:].strip()
    if not name:
        raise TargetError(f"{target!r}: give a model name after '{prefix}:', e.g. {_EXAMPLES[prefix]}")
    if prefix == "hf":
        return _load_hf(name, trust_remote_code)
    return _LOADERS[prefix](name)


def resolve_relative(target: str, root: Path) -> str:
    """``hf:./local/folder`` in pyproject.toml is relative to that file, as file targets are."""
    if hub_prefix(target) == "hf":
        path = target[3:]
        if _looks_like_path(path) and not os.path.isabs(os.path.expanduser(path)):
            return "hf:" + str(root / path)
    return target


def _require(prefix: str, target: str) -> Any:
    package, extra = _EXTRAS[prefix]
    try:
        return __import__(package)
    except ImportError:
        raise TargetError(f"{target} needs the {package} package: pip install 'model-audit[{extra}]'") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=4, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _on_meta(build: Callable[[], torch.nn.Module], label: str) -> torch.nn.Module:
    """Build under ``torch.device("meta")``: parameters get shapes, no storage."""
    try:
        with torch.device("meta"):
            model = build()
    except TargetError:
        raise
    except Exception as error:
        raise TargetError(f"building {label} failed: {_first_line(error)}") from None
    if not isinstance(model, torch.nn.Module):
        raise TargetError(f"building {label} returned {type(model).__name__}, not a torch.nn.Module")
    return model


# --- timm ---------------------------------------------------------------------------------------

def _load_timm(name: str) -> LoadedTarget:
    timm = _require("timm", f"timm:{name}")
    if not timm.is_model(name):
        raise TargetError(f"timm has no model {name!r}{_suggest(name, timm.list_models())} "
                          f"(timm.list_models('*{name.split('_')[0]}*') lists them)")
    model = _on_meta(lambda: timm.create_model(name, pretrained=False), f"timm:{name}")
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
    size = cfg.get("input_size")
    shape = (1, *size) if size else None
    return LoadedTarget(model=model, name=name, input_shape=shape)


# --- torchvision ---------------------------------------------------------------------------------

def _load_torchvision(name: str) -> LoadedTarget:
    _require("torchvision", f"torchvision:{name}")
    import inspect

    from torchvision import models

    known = models.list_models()
    if name not in known:
        raise TargetError(f"torchvision has no model {name!r}{_suggest(name, known)} "
                          f"(torchvision.models.list_models() lists them)")
    builder = models.get_model_builder(name)
    kwargs: dict[str, Any] = {"weights": None}
    if "weights_backbone" in inspect.signature(builder).parameters:
        kwargs["weights_backbone"] = None  # segmentation/detection builders would download a backbone
    model = _on_meta(lambda: builder(**kwargs), f"torchvision:{name}")
    return LoadedTarget(model=model, name=name, input_shape=_torchvision_shape(models, name))


def _torchvision_shape(models: Any, name: str) -> tuple[int, ...] | None:
    """[1, 3, crop, crop] from the default weights' transforms (resize size for segmentation; a
    16-frame clip for video); None where the transforms fix no size (detection: give --input)."""
    try:
        transforms = models.get_model_weights(name).DEFAULT.transforms()
    except Exception:
        return None
    size = getattr(transforms, "crop_size", None) or getattr(transforms, "resize_size", None)
    if not size:
        return None
    height, width = (size[0], size[0]) if len(size) == 1 else (size[0], size[1])
    if type(transforms).__name__ == "VideoClassification":
        return (1, 3, VIDEO_FRAMES, height, width)
    return (1, 3, height, width)


# --- Hugging Face --------------------------------------------------------------------------------

def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or os.path.isdir(text)


def _load_hf(name: str, trust_remote_code: bool) -> LoadedTarget:
    transformers = _require("hf", f"hf:{name}")
    label = f"hf:{name}"
    source, revision = _hf_source(name)
    config = _hf_config(transformers, source, revision, trust_remote_code, label)
    cls = _hf_model_class(transformers, config, trust_remote_code)
    if cls.__name__.startswith("Auto"):
        model = _on_meta(lambda: cls.from_config(config, trust_remote_code=trust_remote_code), label)
    else:
        model = _on_meta(lambda: cls(config), label)
    short = name.rstrip("/").split("/")[-1].split("@")[0]
    return LoadedTarget(model=model, name=short, inputs=_hf_inputs(config))


def _hf_source(name: str) -> tuple[str, str | None]:
    """A local folder (``./x``, ``/x``, ``~/x`` or an existing path) or a hub id with ``@revision``."""
    if _looks_like_path(name):
        folder = os.path.expanduser(name)
        if not os.path.isdir(folder):
            raise TargetError(f"hf:{name}: no such folder")
        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise TargetError(f"hf:{name}: the folder has no config.json")
        return folder, None
    repo, _, revision = name.partition("@")
    if repo.count("/") > 1 or not repo:
        raise TargetError(f"hf:{name}: expected hf:ORG/NAME[@REVISION] or a local folder such as hf:./my-model")
    return repo, revision or None


def _hf_config(transformers: Any, source: str, revision: str | None, trust_remote_code: bool, label: str) -> Any:
    loggers = [logging.getLogger(name) for name in ("huggingface_hub", "transformers")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # their retry warnings would add lines to our one-line error
        logger.setLevel(logging.ERROR)
    try:
        return transformers.AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
    except Exception as error:
        raise TargetError(_hf_config_error(error, source, revision, label)) from None
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _hf_config_error(error: Exception, source: str, revision: str | None, label: str) -> str:
    text = str(error)
    if "trust_remote_code" in text:
        return f"{label} defines its model in custom code from the repository; rerun with --trust-remote-code if you trust it"
    if "couldn't connect" in text or "offline" in text.lower() or "cached files" in text:
        from huggingface_hub import constants

        return (f"{label}: config.json is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and the hub "
                f"cannot be reached (offline or no network); fetch it once with `hf download {source} config.json"
                f"{' --revision ' + revision if revision else ''}`, "
                f"or give a local folder (hf:./my-model)")
    if "is not a local folder and is not a valid model identifier" in text or "Repository Not Found" in text:
        return f"{label}: no such model on the Hugging Face hub (or it is gated: log in with `hf auth login`)"
    if "revision" in text.lower() and "not" in text.lower():
        return f"{label}: revision not found ({_first_line(error)})"
    return f"{label}: cannot read config.json: {_first_line(error)}"


# Auto classes tried for custom-code models, in order: the head that matches the task first.
_AUTO_ORDER = ("AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoModelForMaskedLM",
               "AutoModelForImageClassification", "AutoModelForSequenceClassification", "AutoModel")


def _hf_model_class(transformers: Any, config: Any, trust_remote_code: bool) -> Any:
    """The class named by ``config.architectures`` (e.g. GPT2LMHeadModel); for custom code the Auto
    class its ``auto_map`` registers; AutoModel (the bare backbone) when the config names neither."""
    auto_map = getattr(config, "auto_map", None) or {}
    if trust_remote_code and auto_map:
        for auto in _AUTO_ORDER:
            if auto in auto_map:
                return getattr(transformers, auto)
    for architecture in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, architecture, None)
        if cls is not None:
            return cls
    return transformers.AutoModel


def _hf_inputs(config: Any) -> dict[str, torch.Tensor] | None:
    """Default inputs per task: pixel_values for vision configs, input_ids [1, 128] for text (plus
    decoder_input_ids for encoder-decoders); None (give --input) for anything else."""
    image = getattr(config, "image_size", None)
    channels = getattr(config, "num_channels", None)
    if isinstance(image, int) and isinstance(channels, int):
        return {"pixel_values": torch.zeros(1, channels, image, image)}
    if getattr(config, "vocab_size", None):
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        length = min(HF_TEXT_LENGTH, limit) if isinstance(limit, int) and limit > 0 else HF_TEXT_LENGTH
        ids = torch.zeros(1, length, dtype=torch.long)
        if getattr(config, "is_encoder_decoder", False):
            return {"input_ids": ids, "decoder_input_ids": ids.clone()}
        return {"input_ids": ids}
    return None


_LOADERS: dict[str, Callable[[str], LoadedTarget]] = {"timm": _load_timm, "torchvision": _load_torchvision}
_EXAMPLES = {"timm": "timm:resnet50", "hf": "hf:openai-community/gpt2", "torchvision": "torchvision:vit_b_16"}
