"""Loading targets: ``file.py``, ``file.py:name`` and ``package.module:name`` -> (model, inputs); names
on a hub (``timm:``, ``hf:``, ``torchvision:``) are dispatched to ``hub.py``.

A file target may hold a module-level ``nn.Module`` instance, or an ``nn.Module`` subclass or
zero-argument factory when that is the only candidate. Inputs come from ``example_inputs()`` or
``input_shape`` defined beside the model, unless the caller gives them.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from ..errors import TargetError, UserExitError, user_code


@dataclass
class LoadedTarget:
    model: nn.Module
    name: str
    inputs: Any = None  # from example_inputs()
    input_shape: Any = None  # from input_shape
    path: str | None = None  # the file, when the target is a file


def _split(target: str) -> tuple[str, str | None]:
    # "C:\\x.py:model" on Windows has two colons; split on the last one that follows ".py" or a module path.
    if ":" in target:
        head, _, tail = target.rpartition(":")
        if head and tail and os.sep not in tail and "/" not in tail:
            return head, tail
    return target, None


def _import_file(path: str) -> Any:
    if not os.path.exists(path):
        raise TargetError(f"no such file: {path}")
    if os.path.isdir(path):
        raise TargetError(f"{path} is a directory; give a Python file defining a model")
    module_name = "_model_audit_target_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    directory = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, directory)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise TargetError(f"syntax error in {path}, line {error.lineno}: {error.msg}") from None
    except SystemExit:
        raise TargetError(f"{path} called sys.exit() while being imported") from None
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        raise TargetError(
            f"importing {path} failed: {type(error).__name__}: {error} ({os.path.basename(frame.filename)}, line {frame.lineno})"
        ) from None
    finally:
        if sys.path and sys.path[0] == directory:
            sys.path.pop(0)
    return module


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        raise TargetError(f"cannot import module {name!r}: {error}") from None
    except Exception as error:
        raise TargetError(f"importing {name!r} failed: {type(error).__name__}: {error}") from None


def _is_factory(obj: Any) -> bool:
    if not callable(obj) or isinstance(obj, nn.Module):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values())


def _build(obj: Any, label: str) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if _is_factory(obj) or (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        try:
            with user_code(f"building {label}"):
                built = obj()
        except UserExitError:
            raise
        except TypeError as error:
            raise TargetError(f"{label} needs arguments to build a model ({error}); define a module-level instance "
                              f"or a zero-argument factory") from None
        except Exception as error:
            raise TargetError(f"building {label} failed: {type(error).__name__}: {error}") from None
        if isinstance(built, nn.Module):
            return built
        raise TargetError(f"{label} returned {type(built).__name__}, not a torch.nn.Module")
    raise TargetError(f"{label} is a {type(obj).__name__}, not a torch.nn.Module or a factory returning one")


def _candidates(module: Any) -> tuple[list[str], list[str]]:
    """(module-level instances, locally defined Module subclasses and model-returning factories)."""
    instances, others = [], []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(obj, nn.Module):
            instances.append(name)
        elif inspect.isclass(obj) and issubclass(obj, nn.Module) and obj.__module__ == module.__name__:
            others.append(name)
        elif inspect.isfunction(obj) and obj.__module__ == module.__name__ and name not in ("example_inputs",):
            ann = inspect.signature(obj).return_annotation
            returns_module = inspect.isclass(ann) and issubclass(ann, nn.Module)
            if _is_factory(obj) and (returns_module or name in ("model", "build_model", "get_model", "create_model")):
                others.append(name)
    return instances, others


def load_target(target: str, *, trust_remote_code: bool = False) -> LoadedTarget:
    """Resolve a CLI target to a model plus any inputs the file declares; TargetError with a clear message otherwise.

    ``timm:NAME``, ``hf:ORG/NAME[@REV]``, ``hf:PATH`` and ``torchvision:NAME`` are built by name (target/hub.py);
    ``trust_remote_code`` lets ``hf:`` run a repository's own modelling code.
    """
    from .hub import hub_prefix, load_hub_target

    if hub_prefix(target) is not None:
        return load_hub_target(target, trust_remote_code=trust_remote_code)
    location, attr = _split(target)
    is_file = location.endswith(".py") or os.sep in location or "/" in location or os.path.exists(location)
    module = _import_file(location) if is_file else _import_module(location)
    if attr is None:
        if not is_file:
            raise TargetError(f"{target!r}: name the model inside the module, e.g. {location}:resnet50")
        instances, others = _candidates(module)
        chosen = instances if instances else others
        if not chosen:
            raise TargetError(
                f"no model found in {location}: define a module-level nn.Module instance (model = Net()), "
                f"an nn.Module subclass, or a zero-argument factory"
            )
        if len(chosen) > 1:
            raise TargetError(
                f"several models in {location}: {', '.join(chosen)}; choose one with {location}:NAME"
            )
        attr = chosen[0]
    if not hasattr(module, attr):
        raise TargetError(f"{location} has no attribute {attr!r}")
    model = _build(getattr(module, attr), f"{location}:{attr}")
    inputs = None
    example = getattr(module, "example_inputs", None)
    if callable(example):
        try:
            with user_code(f"example_inputs() in {location}"):
                inputs = example()
        except UserExitError:
            raise
        except Exception as error:
            raise TargetError(f"example_inputs() in {location} failed: {type(error).__name__}: {error}") from None
    return LoadedTarget(model=model, name=attr, inputs=inputs, input_shape=getattr(module, "input_shape", None),
                        path=os.path.abspath(location) if is_file else None)
