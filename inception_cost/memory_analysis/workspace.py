"""Kernel workspace: scratch memory a kernel holds only while it runs, beyond its inputs and
outputs, so invisible to storage tracking (bytes).

On CPU, PyTorch's convolutions run oneDNN, which reorders the input and the weight into
its blocked layout (a copy of each) for every call, or computes a thin-channel output in
the blocked layout and reorders it back; the weight gradient is computed into a blocked
buffer of the weight's size.  Batch norm's backward keeps one input-sized temporary, the
fused CPU attention kernel one score tile per thread.  These are the per-op-class rules
(``CPU_RULES``), measured on this project's machine with torch.profiler's allocation events
(benchmarks/memory_vs_real.py) and stated here:

======================================  =================================================
op (CPU, fp32)                          workspace bytes while it runs
======================================  =================================================
convolution (oneDNN)                    max(input + weight, output)
convolution_backward                    max(weight if its gradient is wanted, input +
                                        grad_output if the input gradient is wanted)
native_batch_norm_backward              input
max_pool2d (no autograd, no ceil_mode:  2 x output
the oneDNN path)
_scaled_dot_product_flash_attention     threads x (q_split x kv_split + 2 q_split +
_for_cpu                                q_split x head_dim) x 4 (PyTorch's CPU flash
                                        kernel: q_split 32/64/256 for query length
                                        < 192 / < 768 / longer, at most the length;
                                        kv_split = min(512, keys))
its backward                            threads x (2 q_split x kv_split + q_split) x 4
                                        + grad_output unless already (B, L, H, E)-laid
======================================  =================================================

CUDA (cuDNN, cuBLAS) workspaces are not modelled (0): ``--fit --reserve`` keeps headroom
for them.  ``rules(device)`` gives the table for a target device; the tracker calls a rule
after its op ran, on the op's meta arguments and outputs.
"""
from __future__ import annotations

import torch

aten = torch.ops.aten


def _bytes(t) -> int:
    return t.numel() * t.element_size() if isinstance(t, torch.Tensor) else 0


def conv(args, kwargs, out, threads: int) -> int:
    """convolution(input, weight, bias, ...): the input and weight reordered (copies),
    or the output computed in the blocked layout and reordered back."""
    return max(_bytes(args[0]) + _bytes(args[1]), _bytes(out))


def conv_backward(args, kwargs, out, threads: int) -> int:
    """convolution_backward(grad_output, input, weight, ..., output_mask)."""
    mask = args[10] if len(args) > 10 else kwargs.get("output_mask", (True, True, True))
    weight = _bytes(args[2]) if mask[1] else 0
    data = _bytes(args[0]) + _bytes(args[1]) if mask[0] else 0
    return max(weight, data)


def batch_norm_backward(args, kwargs, out, threads: int) -> int:
    return _bytes(args[1])


def max_pool_inference(args, kwargs, out, threads: int) -> int:
    """Without autograd CPU max pooling runs oneDNN's kernel (2 x the output); with
    autograd, or with ceil_mode, the native kernel (0)."""
    ceil_mode = args[5] if len(args) > 5 else kwargs.get("ceil_mode", False)
    if torch.is_grad_enabled() or ceil_mode:
        return 0
    return 2 * _bytes(out[0] if isinstance(out, (tuple, list)) else out)


def flash_cpu(args, kwargs, out, threads: int) -> int:
    """PyTorch's CPU flash attention forward: one float32 buffer per thread holding a
    q_split x kv_split score tile, the running max and sum (q_split each) and a
    q_split x head_dim output accumulator."""
    q, k = args[0], args[1]
    q_split, kv_split = _splits(q.shape[2], k.shape[2])
    per_thread = q_split * kv_split + 2 * q_split + q_split * q.shape[3]
    return threads * per_thread * 4


def _splits(q_len: int, kv_len: int) -> tuple[int, int]:
    """The CPU flash kernels' query and key block sizes."""
    q_split = 256 if q_len >= 768 else (64 if q_len >= 192 else 32)
    return min(q_split, q_len), min(512, kv_len)


def flash_cpu_backward(args, kwargs, out, threads: int) -> int:
    """Its backward(grad_out, q, k, v, out, logsumexp, ...): per thread two float32
    q_split x kv_split tiles (probabilities and their gradient) and a q_split row sum,
    plus a contiguous copy of grad_out in the kernel's (B, L, H, E) layout unless it is
    laid out that way already."""
    g, q, k = args[0], args[1], args[2]
    q_split, kv_split = _splits(q.shape[2], k.shape[2])
    copy = 0 if g.transpose(1, 2).is_contiguous() else _bytes(g)
    return threads * (2 * q_split * kv_split + q_split) * 4 + copy


CPU_RULES = {
    aten.convolution.default: conv,
    aten.convolution_backward.default: conv_backward,
    aten.native_batch_norm_backward.default: batch_norm_backward,
    aten.max_pool2d_with_indices.default: max_pool_inference,
    aten._scaled_dot_product_flash_attention_for_cpu.default: flash_cpu,
    aten._scaled_dot_product_flash_attention_for_cpu_backward.default: flash_cpu_backward,
}


def rules(device: str) -> dict:
    """op overload -> ``rule(args, kwargs, out, threads) -> bytes`` for ``device``."""
    return CPU_RULES if device == "cpu" else {}


def default_threads() -> int:
    """PyTorch's intra-op thread count here (the CPU the prediction is for)."""
    return max(1, int(torch.get_num_threads()))


__all__ = ["rules", "CPU_RULES", "default_threads"]
