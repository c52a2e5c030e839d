"""Which module created each autograd node, and which nodes only lead to parameters.

During the forward pass a ``TorchFunctionMode`` looks at every torch function's
output: the autograd nodes it created (reachable from ``out.grad_fn`` and not yet
seen) belong to the innermost module running. During ``loss.backward()`` the node
being executed (``torch._C._current_autograd_node()``) then names the module whose
forward produced it. ``AccumulateGrad`` nodes belong to the module that owns the
parameter.

A node is *parameter-only* when every edge it has leads to parameters (``W.t()``,
``bias.expand(...)``, a reshaped layer-scale): all its backward work is weight-gradient
work. A node with both parameter and activation edges (a convolution, ``addmm``,
``x * gamma``) is *mixed*: its ops that read a parameter (or a tensor computed from
parameters only) produce the input gradient, the others the weight gradient.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakTensorKeyDictionary

from .output_tensors import output_tensors

PARAM_ONLY, MIXED, ACTIVATION = "param", "mixed", "activation"
LOSS_MODULE = "(loss)"
"""The row that backward work outside every module (the loss, its seed) is charged to."""


def storage_key(t: torch.Tensor) -> int:
    """Identity of a tensor's storage (views share it), valid on every device."""
    return t.untyped_storage()._cdata


class NodeMap:
    """autograd node -> (module path, kind, parameter owner).

    A tensor is an *activation* when it depends on the model's inputs (the inputs are
    marked with :meth:`mark_activation`; a function's outputs are activations when
    one of its tensor arguments is). An autograd edge is a *parameter edge* when it
    leads to a parameter's ``AccumulateGrad`` or to a node whose output is not an
    activation (``W.t()``, ``cls_token.expand(...)``); every other edge carries an
    activation's gradient."""

    def __init__(self, param_owner: dict[int, str], current_module: Callable[[], str]):
        self.param_owner = param_owner          # id(parameter) -> owning module path
        self.current_module = current_module
        self.module: dict = {}                  # node -> module path
        self.kind: dict = {}                    # node -> PARAM_ONLY | MIXED | ACTIVATION
        self.owner: dict = {}                   # node -> owner of the first parameter it reaches
        self.is_activation: dict = {}           # node -> its output depends on the inputs
        self.activations = WeakTensorKeyDictionary()
        self.param_storages: set[int] = set()   # storages of parameters and parameter-only results
        self._keep: list[torch.Tensor] = []     # keeps those storages alive (ids stay unique)

    def add_parameter(self, p: torch.Tensor) -> None:
        self.param_storages.add(storage_key(p))

    def mark_activation(self, t) -> None:
        for x in output_tensors(t):
            self.activations[x] = True

    def _any_activation(self, items) -> bool:
        for a in items:
            if isinstance(a, torch.Tensor):
                if a in self.activations:
                    return True
            elif isinstance(a, (list, tuple)):
                if self._any_activation(a):
                    return True
            elif isinstance(a, dict):
                if self._any_activation(a.values()):
                    return True
        return False

    def visit(self, args, kwargs, out) -> None:
        """Map every new node reachable from ``out`` to the current module."""
        outs = output_tensors(out)
        if not outs:
            return
        act = self._any_activation(args) or (bool(kwargs) and self._any_activation(kwargs.values()))
        module = None
        for t in outs:
            if act:
                self.activations[t] = True
            fn = t.grad_fn
            if fn is None:
                continue
            if fn not in self.module:
                if module is None:
                    module = self.current_module()
                self.is_activation[fn] = act
                self._walk(fn, module)
            if not act:
                key = storage_key(t)
                if key not in self.param_storages:
                    self.param_storages.add(key)
                    self._keep.append(t)

    def _edge_is_param(self, node) -> bool | None:
        if node is None:
            return None
        var = getattr(node, "variable", None)
        if var is not None:
            return id(var) in self.param_owner
        return not self.is_activation.get(node, True)

    def _walk(self, root, module: str) -> None:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if not expanded:
                if node in self.module:
                    continue
                var = getattr(node, "variable", None)
                if var is not None:                       # AccumulateGrad: a leaf
                    owner = self.param_owner.get(id(var))
                    self.module[node] = owner if owner is not None else module
                    self.kind[node] = PARAM_ONLY if owner is not None else ACTIVATION
                    self.owner[node] = owner
                    continue
                self.module[node] = module
                stack.append((node, True))
                for nxt, _ in node.next_functions:
                    if nxt is not None and nxt not in self.module:
                        stack.append((nxt, False))
                continue
            edges = [n for n, _ in node.next_functions if n is not None]
            flags = [self._edge_is_param(n) for n in edges]
            has_param = any(f is True for f in flags)
            has_act = any(f is False for f in flags)
            if node not in self.is_activation:            # created inside a function call
                self.is_activation[node] = has_act
            self.kind[node] = (PARAM_ONLY if has_param and not has_act else
                               MIXED if has_param else ACTIVATION)
            self.owner[node] = next((self.owner.get(n) for n, f in zip(edges, flags)
                                     if f and self.owner.get(n)), None)

    def reads_parameter(self, args) -> bool:
        """True when an op argument is a parameter or computed from parameters only."""
        for a in args:
            if isinstance(a, torch.Tensor):
                if storage_key(a) in self.param_storages:
                    return True
            elif isinstance(a, (list, tuple)):
                if self.reads_parameter(a):
                    return True
        return False


class NodeMapMode(TorchFunctionMode):
    """Feeds every torch function's output to a :class:`NodeMap`."""

    def __init__(self, node_map: NodeMap):
        super().__init__()
        self.map = node_map

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if torch.is_grad_enabled():
            self.map.visit(args, kwargs, out)
        return out


def watch_mixed_nodes(node_map: "NodeMap", done: set) -> None:
    """Before backward: after a mixed node's backward returns, autograd may still run
    ``add`` under it, summing its result into a shared input's gradient buffer. That is
    input-gradient work; a post-hook that adds the node to ``done`` tells the two apart."""
    for node, kind in node_map.kind.items():
        if kind == MIXED:
            node.register_hook(lambda _grad_inputs, _grad_outputs, node=node: done.add(node))


def backward_attribution(node_map: "NodeMap", node, args, done: set, split_part=None
                         ) -> tuple[str, str | None, object]:
    """(module charged, parameter owner or None, gradient part) of a backward op run
    under the autograd ``node`` (None: outside every node, e.g. the loss seed).

    ``split_part``: the part an op's split formula decided (it wins), else the node's
    kind decides: a parameter-only node is weight-gradient work, an activation node
    input-gradient work, and a mixed node's op is input work when it reads a parameter
    or runs after the node's own backward returned (``done``, see
    :func:`watch_mixed_nodes`). Weight work is charged to the parameter's owner."""
    module = node_map.module.get(node) if node is not None else None
    kind = node_map.kind.get(node, ACTIVATION) if node is not None else ACTIVATION
    owner = node_map.owner.get(node) if node is not None else None
    if split_part is not None:
        part = split_part
    elif kind == PARAM_ONLY:
        part = "weight"
    elif kind == MIXED:
        part = "input" if node in done or node_map.reads_parameter(args) else "weight"
    else:
        part = "input"
    if module is None:
        module = LOSS_MODULE if node is None or owner is None else owner
    if part == "weight" and owner:
        module = owner
    return module, owner, part
