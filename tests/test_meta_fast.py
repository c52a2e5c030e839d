"""The capture's meta fast paths return what PyTorch's own meta kernels return (shape,
strides, dtype, storage offset) -- checked against the kernels themselves -- and step
aside (None) where a kernel would raise or lay the output out otherwise."""
from __future__ import annotations

import random

import pytest
import torch

from inception_cost.counting.meta_fast import (_meta_batch_norm, _meta_batch_norm_backward,
                                               _meta_convolution, _meta_empty_like,
                                               _meta_threshold_backward, empty_twin)

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


def _outputs(fn, args):
    """Layouts of ``fn(*args)`` (tuples kept, None kept), or the exception it raised."""
    with torch.no_grad():
        try:
            out = fn(*args)
        except Exception as e:  # noqa: BLE001 - a kernel's own error
            return e
    if isinstance(out, tuple):
        return [None if t is None else _layout(t) for t in out]
    return _layout(out)


def test_training_fast_paths_match_the_meta_kernels():
    """native_batch_norm (train and eval), its backward (every output mask) and
    threshold_backward, on shapes with size-1 dims, half and double dtypes, optional
    affine parameters and running statistics."""
    rng = random.Random(2)
    taken = [0, 0, 0]
    for _ in range(150):
        shape = [rng.choice([1, 2, 3]) for _ in range(rng.choice([2, 4, 5]))]
        dt = rng.choice([torch.float32, torch.float16, torch.bfloat16, torch.float64])
        x = torch.empty(shape, dtype=dt, device="meta")
        c = shape[1]

        def vec():
            return torch.empty(c, dtype=rng.choice([dt, torch.float32]), device="meta") \
                if rng.random() < 0.8 else None
        w, b, rm, rv = vec(), vec(), vec(), vec()
        train = rng.random() < 0.6
        fwd = (x, w, b, rm, rv, train, 0.1, 1e-5)
        got = _meta_batch_norm(fwd)
        if got is not None:
            taken[0] += 1
            assert [_layout(t) for t in got] == _outputs(aten.native_batch_norm.default, fwd)
        g = torch.empty(shape, dtype=rng.choice([dt, torch.float32]), device="meta")
        stat = torch.empty(c, device="meta")
        mask = [rng.random() < 0.7 for _ in range(3)]
        bwd = (g, x, w, rm, rv, stat, stat, train, 1e-5, mask)
        got = _meta_batch_norm_backward(bwd)
        if got is not None:
            taken[1] += 1
            assert [None if t is None else _layout(t) for t in got] == \
                _outputs(aten.native_batch_norm_backward.default, bwd), (shape, train, mask)
        thr = (g, x, 0)
        got = _meta_threshold_backward(thr)
        if got is not None:
            taken[2] += 1
            assert _layout(got) == _outputs(aten.threshold_backward.default, thr)
    assert min(taken) > 30, taken


def test_batch_norm_fast_path_leaves_errors_to_the_kernel():
    x = torch.empty(1, 3, 1, 1, device="meta")          # one value per channel: n - 1 = 0
    assert _meta_batch_norm((x, None, None, None, None, True, 0.1, 1e-5)) is None
    x = torch.empty(2, 3, 4, device="meta")
    assert _meta_batch_norm((x, None, None, None, None, False, 0.1, 1e-5)) is None  # eval, no stats
    assert _meta_batch_norm((x, torch.empty(4, device="meta"), None, None, None, True, 0.1,
                             1e-5)) is None                                        # weight (4,)
    out, mean, invstd = _meta_batch_norm((x.half(), None, None, None, None, True, 0.1, 1e-5))
    assert (out.dtype, mean.dtype, tuple(mean.shape)) == (torch.float16, torch.float32, (3,))


def test_threshold_backward_of_a_cat_gradient_slice_matches_the_kernel():
    """The ReLU gradient of one branch of a concatenation: the incoming gradient is a channel
    slice of the cat's gradient (not row-major, dimensions still in row-major order)."""
    rng = random.Random(3)
    taken = 0
    for _ in range(200):
        shape = [rng.choice([1, 2, 3]) for _ in range(rng.choice([2, 3, 4]))]
        d = rng.randrange(len(shape))
        big = list(shape)
        big[d] += rng.choice([1, 4])
        g = torch.empty(big, device="meta").narrow(d, rng.choice([0, 1]), shape[d])
        x = rng.choice([torch.empty(shape, device="meta"),
                        torch.empty(big, device="meta").narrow(d, 0, shape[d])])
        got = _meta_threshold_backward((g, x, 0))
        if got is not None:
            taken += 1
            assert _layout(got) == _outputs(aten.threshold_backward.default, (g, x, 0)), \
                (shape, g.stride(), x.stride())
    assert taken > 50
    g = torch.empty(2, 64, 7, 7, device="meta")
    out = _meta_threshold_backward((torch.empty(2, 96, 7, 7, device="meta").narrow(1, 32, 64), g, 0))
    assert tuple(out.shape) == (2, 64, 7, 7) and out.stride() == (3136, 49, 7, 1)
    # equal strides on two dims: the kernel orders them by size, so it must run
    tie = torch.empty_strided((3, 1, 2, 3), (5, 3, 2, 2), device="meta")
    assert _meta_threshold_backward((torch.empty(3, 1, 2, 3, device="meta"), tie, 0)) is None
