"""Turn a user's model spec into (module, default input C x H x W, label).

Specs: a registered variant (``googlenet``), ``torchvision:NAME``, ``timm:NAME``,
``path/to/file.py:factory`` or ``package.module:factory``.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import weakref

import torch
import torch.nn as nn

from ..errors import UsageError
from .registry import build, get_variant

_REFERENCE_INPUT = {"inception_v3": (3, 299, 299), "inception_v4": (3, 299, 299),
                    "inception_resnet_v2": (3, 299, 299)}


def _torchvision(name: str, device: str):
    try:
        import torchvision.models as tvm
    except ImportError:
        raise UsageError("torchvision is not installed: pip install torchvision "
                         "(or pip install -e '.[test]')") from None
    names = tvm.list_models(module=tvm)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        raise UsageError(f"torchvision has no model '{name}'"
                         + (f"; did you mean {', '.join(close)}?" if close else ""))
    kwargs = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(init_weights=False, aux_logits=False)
    with torch.device(device):
        return tvm.get_model(name, **kwargs).eval()


def _timm(name: str, device: str):
    try:
        import timm
    except ImportError:
        raise UsageError("timm is not installed: pip install timm (or pip install -e '.[test]')") from None
    if name not in timm.list_models():
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        raise UsageError(f"timm has no model '{name}'"
                         + (f"; did you mean {', '.join(close)}?" if close else ""))
    with torch.device(device):
        return timm.create_model(name, pretrained=False).eval()


def load_factory(spec: str):
    """'path/file.py:fn' or 'pkg.mod:fn' -> the callable."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise UsageError(f"model factory must look like path/file.py:factory or pkg.mod:factory (got '{spec}')")
    if target.endswith(".py") or os.sep in target:
        if not os.path.isfile(target):
            raise UsageError(f"no such file '{target}'")
        mod_name = "_user_model_" + os.path.splitext(os.path.basename(target))[0]
        sp = importlib.util.spec_from_file_location(mod_name, target)
        module = importlib.util.module_from_spec(sp)
        try:
            sp.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001
            raise UsageError(f"cannot import '{target}': {type(e).__name__}: {e}") from None
    else:
        try:
            module = importlib.import_module(target)
        except Exception as e:  # noqa: BLE001
            raise UsageError(f"cannot import module '{target}': {type(e).__name__}: {e}") from None
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise UsageError(f"'{target}' has no callable '{attr}'")
    return fn


def _default_size(model: nn.Module, spec: str) -> tuple[int, int, int]:
    """The model's ``default_input_size`` (C, H, W), checked: three positive ints."""
    size = getattr(model, "default_input_size", (3, 224, 224))
    ok = (isinstance(size, (tuple, list)) and len(size) == 3
          and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size))
    if not ok:
        raise UsageError(f"'{spec}' has default_input_size {size!r}: it must be three positive "
                         "integers (C, H, W), e.g. (3, 224, 224)")
    return tuple(int(v) for v in size)


# models whose factory returned (model, example_inputs): their example inputs
_EXAMPLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def example_inputs(model: nn.Module):
    """The example inputs a factory returned with ``model`` (a tensor, a tuple of
    tensors or a dict of keyword tensors), else None."""
    return _EXAMPLES.get(model)


def resolve_model(spec: str, device: str = "meta") -> tuple[nn.Module, tuple[int, int, int], str]:
    """(module, default C x H x W, label). A factory may return ``(model,
    example_inputs)``: the inputs are then :func:`example_inputs` of the module and
    the default size is the first example tensor's shape without its batch."""
    if spec.startswith("torchvision:"):
        name = spec.split(":", 1)[1]
        return _torchvision(name, device), _REFERENCE_INPUT.get(name, (3, 224, 224)), spec
    if spec.startswith("timm:"):
        name = spec.split(":", 1)[1]
        model = _timm(name, device)
        cfg = getattr(model, "pretrained_cfg", None) or {}
        size = tuple(cfg.get("input_size", (3, 224, 224)))
        return model, size, spec
    if ":" in spec:
        fn = load_factory(spec)
        try:
            with torch.device(device):
                model = fn()
        except Exception as e:  # noqa: BLE001
            raise UsageError(f"factory '{spec}' failed: {type(e).__name__}: {e}") from None
        example = None
        if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], nn.Module):
            model, example = model
            first = example if isinstance(example, torch.Tensor) else next(iter(
                example.values() if isinstance(example, dict) else example), None)
            if not isinstance(first, torch.Tensor) or first.dim() < 1:
                raise UsageError(f"factory '{spec}' returned example inputs of type "
                                 f"{type(example).__name__}: give a tensor, a tuple of tensors "
                                 "or a dict of tensors")
        if not isinstance(model, nn.Module):
            raise UsageError(f"factory '{spec}' returned {type(model).__name__}, not an nn.Module")
        if example is not None:
            _EXAMPLES[model] = example
            size = tuple(int(v) for v in first.shape[1:])
        else:
            size = _default_size(model, spec)
        return model.eval(), size, spec
    info = get_variant(spec)
    return build(spec, device=device), info.input_size, spec


_TV_AUX = {"torchvision:googlenet", "torchvision:inception_v3"}


def resolve_training_model(spec: str, aux: bool = True, device: str = "meta"
                           ) -> tuple[nn.Module, tuple[int, int, int], str]:
    """As :func:`resolve_model`, with the network's own training-only auxiliary heads built
    where it has them and ``aux`` is on (zoo variants with a boolean ``aux`` switch:
    GoogLeNet, Inception-v3; torchvision's googlenet and inception_v3). The one definition
    of the model a training step runs: `train`, `memory --train` and the training reports
    read it."""
    module, size, label = resolve_model(spec, device=device)
    if aux and ":" not in spec and get_variant(spec).training_heads:
        module = build(spec, device=device, **get_variant(spec).training_heads)
    elif aux and spec in _TV_AUX:
        import torchvision
        with torch.device(device):
            module = torchvision.models.get_model(spec.split(":", 1)[1], weights=None,
                                                  aux_logits=True, init_weights=False)
    return module, size, label
