"""The capture's meta fast paths return what PyTorch's own meta kernels return (shape,
strides, dtype, storage offset) -- checked against the kernels themselves -- and step
aside (None) where a kernel would raise or lay the output out otherwise."""
from __future__ import annotations

import random

import pytest
import torch

from inception_cost.counting.meta_fast import _meta_convolution, _meta_empty_like, empty_twin

aten = torch.ops.aten


def _layout(t: torch.Tensor) -> tuple:
    return tuple(t.shape), t.stride(), t.dtype, t.device.type, t.storage_offset()


def _random_strided(rng: random.Random) -> torch.Tensor:
    nd = rng.randint(0, 4)
    shape = tuple(rng.choice([0, 1, 1, 2, 3]) for _ in range(nd))
    if rng.random() < 0.5:
        stride = list(torch.empty(shape).stride())
        for i in range(nd):                     # row-major but an odd stride on a size-1 dim
            if shape[i] == 1 and rng.random() < 0.5:
                stride[i] = rng.choice([1, 7, 99])
    else:
        stride = [rng.choice([0, 1, 2, 3, 6, 30]) for _ in range(nd)]
    return torch.empty_strided(shape, tuple(stride), dtype=rng.choice([torch.float32, torch.int64]),
                               device="meta")


def test_empty_like_fast_path_matches_the_meta_kernel():
    rng = random.Random(0)
    taken = 0
    for _ in range(400):
        a = _random_strided(rng)
        for kw in ({}, {"pin_memory": False}, {"memory_format": torch.contiguous_format}):
            got = _meta_empty_like((a,), kw)
            if got is not None:
                taken += 1
                assert _layout(got) == _layout(aten.empty_like.default(a, **kw)), (a.shape, a.stride())
        assert _layout(empty_twin(a)) == _layout(torch.empty_like(a))
    assert taken > 100          # the fast path is really taken, not always skipped


def test_empty_like_fast_path_steps_aside():
    x = torch.empty(2, 3, device="meta")
    assert _meta_empty_like((x,), {"dtype": torch.float16}) is None
    assert _meta_empty_like((x.t(),), {}) is None                       # not row-major
    assert _meta_empty_like((torch.empty(2, 3),), {}) is None           # not meta
    # a size-1 dim with an odd stride: the meta kernel keeps it, so the kernel must run
    assert _meta_empty_like((torch.empty_strided((1, 4), (99, 1), device="meta"),), {}) is None


def test_convolution_fast_path_matches_the_meta_kernel():
    rng = random.Random(1)
    taken = 0
    for _ in range(300):
        nd = rng.choice([1, 2, 3])
        groups = rng.choice([1, 2])
        cin, cout = groups * rng.choice([1, 3]), groups * rng.choice([1, 2])
        x = torch.empty(rng.choice([1, 2]), cin, *[rng.choice([1, 3, 8, 17]) for _ in range(nd)],
                        device="meta")
        w = torch.empty(cout, cin // groups, *[rng.choice([1, 3, 5]) for _ in range(nd)],
                        device="meta", requires_grad=rng.random() < 0.5)
        b = torch.empty(cout, device="meta") if rng.random() < 0.5 else None
        lists = [[rng.choice([lo, 1, 2, 3]) for _ in range(rng.choice([1, nd]))] for lo in (1, 0, 1)]
        args = (x, w, b, *lists, False, [0] * nd, groups)
        got = _meta_convolution(args, {})
        with torch.no_grad():
            try:
                ref = aten.convolution.default(*args)
            except RuntimeError:
                ref = None
        if got is not None:
            taken += 1
            assert ref is not None and _layout(got) == _layout(ref), args[3:]
    assert taken > 100


def test_convolution_fast_path_leaves_errors_and_transposed_to_the_kernel():
    x = torch.empty(1, 4, 5, 5, device="meta")
    w = torch.empty(8, 4, 7, 7, device="meta")
    assert _meta_convolution((x, w, None, [1], [0], [1], False, [0], 1), {}) is None   # 7 > 5
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        aten.convolution.default(x, w, None, [1], [0], [1], False, [0], 1)
    assert _meta_convolution((x, torch.empty(8, 3, 3, 3, device="meta"), None, [1], [0], [1],
                              False, [0], 1), {}) is None                            # channels
    assert _meta_convolution((x, torch.empty(4, 8, 3, 3, device="meta"), None, [1], [0], [1],
                              True, [0], 1), {}) is None                             # transposed
    # GoogLeNet's stem by hand: 224 -> (224 + 2*3 - 6 - 1) // 2 + 1 = 112
    out = _meta_convolution((torch.empty(1, 3, 224, 224, device="meta"),
                             torch.empty(64, 3, 7, 7, device="meta"), None, [2, 2], [3, 3], [1, 1],
                             False, [0, 0], 1), {})
    assert tuple(out.shape) == (1, 64, 112, 112) and out.stride() == (802816, 12544, 112, 1)
