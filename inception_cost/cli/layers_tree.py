"""``layers MODEL --tree``: the module tree (indented module names, output shape, params,
MACs, FLOPs), depth-limited, like fvcore's ``flop_count_table`` / torchinfo's summary."""
from __future__ import annotations

from ..counting.engine import ForwardError
from ..counting.module_tree import module_tree, output_shapes
from ..errors import UsageError
from ..report.module_tree_text import tree_text
from ..report.render import render

TREE_DEPTH = 2
"""Default depth of the tree (0: the model, 1: its children, ...)."""


def tree_output(module, report, call, label: str, depth: int | None, device: str,
                fmt: str, title: str, notes: list[str]) -> str:
    """The tree in ``fmt``: rich (fixed-width text fitting COLUMNS), md, csv, or json
    ({model, input, convention, batch, depth, totals, rows}); exact integers in csv/json."""
    depth = TREE_DEPTH if depth is None else depth
    try:
        shapes = output_shapes(module, call.args, call.kwargs, device)
    except ForwardError:
        raise
    except Exception as e:  # noqa: BLE001 - the count ran this forward already
        raise UsageError(f"--tree: the forward that records output shapes failed: "
                         f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
                         ) from None
    tree = module_tree(module, report, depth, shapes)
    flops = "fvcore-FLOPs" if report.convention == "fvcore" else "FLOPs"
    notes = [f"module tree to depth {depth} (--depth N); params: elements of the module and "
             f"its submodules; MACs, {flops}: every op it ran with its submodules; output: "
             "its first call's"] + list(notes)
    if fmt == "rich":
        return tree_text(tree, title=title, notes=notes, flops=flops)
    if fmt == "json":
        from ..report.json_object import call_inputs, dumps, json_object, rows_of
        return dumps(json_object(label, call_inputs(call), report.totals(), rows_of(tree),
                                 convention=report.convention, batch=call.batch, depth=depth))
    return render(tree, fmt, title=title, notes=notes)
