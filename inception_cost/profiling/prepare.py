"""One timing configuration, the backend flags it needs, and the callable it times.

Precision: ``fp16``/``bf16`` cast the model's parameters and buffers and the
input (``model.to(dtype)``), so every op runs in that dtype as a deployed model
would; no autocast (autocast re-casts weights on every forward and keeps some
ops in fp32, which would time the casts too). ``fp32`` turns TF32 off for
cuDNN convolutions and cuBLAS matmuls (``torch.backends.cudnn.allow_tf32``,
``torch.backends.cuda.matmul.allow_tf32``); ``tf32`` turns both on.
``cudnn.benchmark`` is on for every CUDA run (algorithms picked in warm-up).

``channels_last`` converts the model and the input with
``.to(memory_format=torch.channels_last)``.

``compile`` uses ``torch.compile(model, dynamic=False)`` in the default mode (a
fresh compile per configuration, specialised to its batch size; the first
warm-up call compiles). ``max-autotune`` modes are left out: their autotuning
takes minutes per shape. ``compile`` together with ``cuda_graphs`` uses
``mode="reduce-overhead"`` (torch.compile's own CUDA-graph trees).

``cuda_graphs`` alone captures one eager forward in a ``torch.cuda.CUDAGraph``
after warm-up on a side stream, then times ``graph.replay()`` on static
input/output buffers (no launch overhead).
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

TORCH_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
                "bf16": torch.bfloat16}


@dataclass(frozen=True)
class RunConfig:
    """One row of a sweep."""
    variant: str
    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graphs: bool = False
    batch: int = 1

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def mode(self) -> str:
        """eager / graphs / compile / compile+graphs."""
        if self.compile:
            return "compile+graphs" if self.cuda_graphs else "compile"
        return "graphs" if self.cuda_graphs else "eager"

    def label(self) -> str:
        layout = "channels_last" if self.channels_last else "contiguous"
        return f"{self.variant} {self.dtype} {layout} {self.mode} batch {self.batch}"


@contextmanager
def backend_settings(device: str, dtype: str):
    """cudnn.benchmark on, TF32 on only for dtype 'tf32'; restored afterwards."""
    if torch.device(device).type != "cuda":
        yield
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32)
    tf32 = dtype == "tf32"
    cudnn.benchmark = True
    cudnn.allow_tf32 = tf32
    matmul.allow_tf32 = tf32
    try:
        yield
    finally:
        cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = saved


def prepare_model(base: nn.Module, config: RunConfig) -> nn.Module:
    """A copy of ``base`` in the configuration's dtype and memory format (base untouched)."""
    model = copy.deepcopy(base).eval()
    if config.dtype in ("fp16", "bf16"):
        model = model.to(TORCH_DTYPES[config.dtype])
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


@dataclass(frozen=True)
class ProfileInput:
    """One forward argument of a profiled model, without its batch: the per-sample
    ``shape`` (elements per dimension), ``dtype`` (None: a float in the configuration's
    dtype), integer values drawn uniformly from [``low``, ``high``), and ``keyword`` (None:
    positional)."""
    shape: tuple[int, ...]
    dtype: torch.dtype | None = None
    low: int = 0
    high: int = 1
    keyword: str | None = None

    def text(self) -> str:
        """'3x224x224', 'ids=128 int64'."""
        name = f"{self.keyword}=" if self.keyword else ""
        dt = "" if self.dtype is None else f" {str(self.dtype).replace('torch.', '')}"
        return f"{name}{'x'.join(map(str, self.shape))}{dt}"


def image_input(chw) -> tuple[ProfileInput, ...]:
    """One positional float input of per-sample size ``chw``."""
    return (ProfileInput(tuple(int(c) for c in chw)),)


def input_text(inputs: tuple[ProfileInput, ...]) -> str:
    """The ``input`` column: per-sample sizes ('3x224x224' for one image), each argument
    ', '-separated."""
    return ", ".join(i.text() for i in inputs)


def make_inputs(inputs: tuple[ProfileInput, ...], config: RunConfig, device: str,
                seed: int = 0) -> tuple[tuple, dict]:
    """(positional, keyword) tensors of one configuration: floats seeded normal in its
    dtype (4-D ones in its layout), integers seeded uniform in their range, booleans 0.
    On the meta device (counting): no values, floats in fp32."""
    meta = torch.device(device).type == "meta"
    gen = None if meta else torch.Generator(device=device).manual_seed(seed)
    args, kwargs = [], {}
    for spec in inputs:
        shape = (config.batch, *spec.shape)
        if meta:
            t = torch.empty(shape, dtype=spec.dtype or torch.float32, device="meta")
        elif spec.dtype is None:
            t = torch.randn(shape, generator=gen, device=device,
                            dtype=TORCH_DTYPES[config.dtype])
            if config.channels_last and t.dim() == 4:
                t = t.to(memory_format=torch.channels_last)
        elif spec.dtype == torch.bool:
            t = torch.zeros(shape, dtype=torch.bool, device=device)
        else:
            t = torch.randint(spec.low, spec.high, shape, generator=gen, device=device,
                              dtype=spec.dtype)
        if spec.keyword:
            kwargs[spec.keyword] = t
        else:
            args.append(t)
    return tuple(args), kwargs


def make_input(chw: tuple, config: RunConfig, device: str, seed: int = 0) -> torch.Tensor:
    """A seeded N x C x H x W normal input in the configuration's dtype and layout."""
    return make_inputs(image_input(chw), config, device, seed)[0][0]


def capture_graph(forward, warmup: int):
    """Warm up on a side stream, capture one forward; returns (graph, static output).

    Call under ``torch.inference_mode()``; ``forward()`` runs the model on static
    input buffers."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(warmup, 3)):
            forward()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = forward()
    torch.cuda.synchronize()
    return graph, out


def compiled(model: nn.Module, config: RunConfig):
    """torch.compile'd model for this configuration (fresh dynamo caches)."""
    torch._dynamo.reset()
    mode = "reduce-overhead" if config.cuda_graphs else None
    return torch.compile(model, dynamic=False, mode=mode)
