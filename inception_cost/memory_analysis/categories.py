"""The names the memory analysis uses: categories of bytes and phases of a step.

Every tracked storage is in exactly one category at any op; all sizes are bytes.
"""
from __future__ import annotations

# Phases of one step, in order.  ``forward`` includes building the input batch and the loss.
FORWARD, BACKWARD, OPTIMIZER = 0, 1, 2
PHASES = ("forward", "backward", "optimizer")

# Internal categories (indices into per-category arrays).  Transient storages are split by
# the phase that allocated them so that MemTracker's view can be rebuilt exactly.
PARAMETERS, BUFFERS, GRADIENTS, OPTIMIZER_STATE, SAVED = 0, 1, 2, 3, 4
TRANSIENT_FORWARD, TRANSIENT_BACKWARD, TRANSIENT_OPTIMIZER = 5, 6, 7
WORKSPACE = 8   # kernel scratch alive only while its op runs (workspace.py), not a storage
INTERNAL = ("parameters", "buffers", "gradients", "optimizer_state", "saved_activations",
            "transient_forward", "transient_backward", "transient_optimizer", "workspace")

# Public categories (what reports show): the three transient kinds add up to ``transient``;
# workspace is kernel scratch, counted at the op that holds it only.
CATEGORIES = ("parameters", "buffers", "gradients", "optimizer_state", "saved_activations",
              "transient", "workspace")
DESCRIPTIONS = {
    "parameters": "nn.Parameter storages of the model",
    "buffers": "registered buffers (e.g. BatchNorm running statistics)",
    "gradients": ".grad storages of the parameters",
    "optimizer_state": "tensors in optimizer.state (momentum, Adam moments, step counters)",
    "saved_activations": "storages autograd saved for the backward pass",
    "transient": "every other op output: the input batch, activations not saved, gradients "
                 "of activations, temporaries of the optimizer step",
    "workspace": "kernel scratch alive only while its op runs (oneDNN reorder copies and "
                 "weight-gradient buffers, fused-attention tiles; CPU rules, stated in "
                 "memory_analysis/workspace.py; 0 for cuda: not modelled)",
}


def transient_kind(phase: int) -> int:
    """The internal transient category of a storage allocated in ``phase``."""
    return TRANSIENT_FORWARD + phase
