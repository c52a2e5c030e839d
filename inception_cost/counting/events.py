"""One recorded op event per dispatched aten op, with a subscriber interface.

:class:`EventCapture` is the one op capture (:class:`~.capture.OpCapture`) with the
event defaults; it turns every aten op a model runs (after autograd and composite
decomposition: what eager execution launches) into an :class:`OpEvent` and hands it to
each subscriber.  An event holds plain facts:

* the aten op (``convolution``) and its overload (``aten::convolution.default``);
* its phase (``forward``, ``backward``, ``optimizer``) and, in backward, which gradient
  it computes (``input``, ``weight``, or ``split`` for ops such as ``convolution_backward``
  that compute both; ``grad_split`` then holds the FLOPs of each part);
* the module it is attributed to: in forward the innermost named module whose forward is
  running; in backward the module whose forward created the running autograd node
  (:class:`~inception_cost.counting.autograd_map.NodeMap`), a weight gradient given to the
  module owning the parameter -- the capture's attribution, which the training counts read
  too;
* every tensor operand and output as a :class:`TensorFact`: integer shape and strides,
  dtype, storage identity and bytes touched;
* its MACs and FLOPs from the native formula registry (0 and ``counted=False`` for an
  op with no formula).

Bytes follow the convention of ``get_num_bytes`` in ``torch/utils/_runtime_estimation.py``:
an op reads every tensor argument and writes every tensor it returns, each at its
dtype's size, with broadcast (stride-0) dimensions counted once.  Views, metadata ops
and creation/allocation ops move 0 bytes (``OpEvent.free``).  Units: bytes, MACs, FLOPs.

Usage::

    with EventCapture(model) as cap:
        log = cap.subscribe(EventLog())
        model(x)
    log.events
"""
from __future__ import annotations

from .bytes_moved import FREE_OPS, LIST_VIEWS as _LIST_VIEWS  # noqa: F401 - public names
from .capture import OpCapture, module_names  # noqa: F401
from .op_event import (DTYPE_NAMES, FILL_OPS, PHASES, EventLog, OpEvent, TensorFact,  # noqa: F401
                       native_cost)


class EventCapture(OpCapture):
    """Records one :class:`OpEvent` per aten op run inside the block and calls every
    subscriber with it: :class:`~.capture.OpCapture` with ``nn.MultiheadAttention``'s
    fused fast path off (its Python path, whose ops every device runs).

    ``model`` names the modules for attribution.  For a training step call
    :meth:`track_autograd` with the parameters' owners before the forward pass, then run
    ``loss.backward()`` inside ``with cap.phase("backward")`` and the optimizer step inside
    ``with cap.phase("optimizer")``.  ``reference_flops=True`` also records PyTorch's
    FlopCounterMode count of each op (for parity checks)."""

    def __init__(self, model=None, reference_flops: bool = False, formulas: dict | None = None):
        super().__init__(model, reference_flops=reference_flops, formulas=formulas,
                         mha_fastpath=False)
