"""Pointwise math and scans that real models run outside their layers (positional
encodings, masks): sin, cos, cumsum, bitwise_not.

Units: ``flops`` floating-point operations; none of these ops has MACs.

==========================  ====================================================
sin, cos                    1 flop / output element (transcendentals count 1, as exp)
cumsum                      1 flop / element (one add each)
bitwise_not                 1 flop / element (as logical_not)
==========================  ====================================================
"""
from __future__ import annotations

import math

import torch

from .registry import Cost, OpCall, register

aten = torch.ops.aten


@register(aten.sin, aten.sin_, aten.cos, aten.cos_, aten.cumsum, aten.cumsum_,
          aten.bitwise_not, aten.bitwise_not_)
def _one_per_element(call: OpCall) -> Cost:
    shape = call.out_shapes[0] if call.out_shapes else call.in_shapes[0]
    return Cost(0, int(math.prod(shape)))
