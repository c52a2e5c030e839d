"""Structure fingerprints for parity tests: names may differ, structure may not."""
from __future__ import annotations

import collections

import torch.nn as nn

from inception_cost import count


def _ints(shape) -> tuple[int, ...]:
    """(7, 7) -> (7, 7); None -> ()."""
    return tuple(int(t) for t in shape) if shape is not None else ()


def conv_signature(model: nn.Module, input_size) -> collections.Counter:
    """Multiset of (kernel, stride, padding, dilation, groups, in_channels, out_channels,
    out_H, out_W) over every convolution the forward pass executes (batch 1 at ``input_size``,
    C x H x W or N x C x H x W), read from ``count(...).layers``."""
    layers = count(model, input_size=input_size).layers
    convs = layers[layers["op"] == "convolution"]
    sig = collections.Counter()
    for row in convs.itertuples(index=False):
        n_in = _ints(row.in_shape)
        n_out = _ints(row.out_shape)
        sig[(_ints(row.kernel), _ints(row.stride), _ints(row.padding), _ints(row.dilation),
             int(row.groups), n_in[1], n_out[1], n_out[2], n_out[3])] += 1
    return sig


def signature_diff(ours: collections.Counter, ref: collections.Counter) -> str:
    """Readable difference of two signatures (for assertion messages)."""
    extra, missing = ours - ref, ref - ours
    return f"only ours: {dict(extra)}; only reference: {dict(missing)}"
