"""The package's import layering: data flows build -> count/measure -> papers -> present
-> command line, and no import runs the other way.

Every ``.py`` under ``inception_cost/`` is parsed with ``ast`` (imports inside functions
included, relative imports resolved); no module is imported, so the test needs no torch
and runs in well under a second.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "inception_cost"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # (layer, the top-level parts of inception_cost in it), lowest first
    ("base", ("__init__", "atomic", "errors", "streams", "units")),
    ("build", ("models",)),
    ("count", ("counting",)),
    ("measure", ("memory_analysis", "timing_model", "checkpointing", "profiling")),
    ("by name", ("by_name",)),
    ("papers", ("papers",)),
    ("present", ("report",)),
    ("orchestrate", ("regeneration",)),
    ("cli", ("cli", "__main__")),
]
"""A module may import from its own layer or a lower one. ``profiling`` measures (it sits
with the memory analysis, not with the presenters it must not reach into); ``by_name`` holds
the public entries that also take a model by name (``inception_cost.memory``,
``fit_batch``, ``analyse_step``, ``checkpoint_plan``): it builds the named model from the
zoo and hands the module down, so it sits above the memory analysis and the planner, which
may not import the zoo (``NOT_BELOW``); ``regeneration`` counts the zoo and the papers and
renders them into reports/, so it sits above both."""

NOT_BELOW: dict[tuple[str, str], frozenset[str]] = {
    ("counting", "models"): frozenset(),
    ("memory_analysis", "models"): frozenset(),
    ("checkpointing", "models"): frozenset(),
    ("report", "models"): frozenset(),
    ("report", "counting"): frozenset({"CostReport", "TrainingReport", "COUNTS",
                                       "TRAINING_COLUMNS", "BYTES_COLUMNS", "LOSS_MODULE",
                                       "format_shapes"}),
}
"""Imports of a lower layer that are still refused: (importer, imported) -> the names the
importer may take from it. Counting, the memory analysis and the checkpoint planner take
a model (an ``nn.Module``) and facts about its training loss as arguments, never from the
zoo (a model name is built one layer up, in ``by_name``); a presenter reads the
typed results (``CostReport``, ``TrainingReport`` and their column names) and never counts
or builds."""

PRESENTATION_HOOK_TARGET = "inception_cost.report.summary_text"
PRESENTATION_HOOKS = ("__str__", "_repr_html_")
"""The one upward import allowed: see :func:`_presentation_hook`."""

KNOWN: set[tuple[str, str]] = set()
"""(importing module, imported module) violations still to be fixed; each listed one must
still occur.  Empty: every import follows the layers."""


def _part(module: str) -> str:
    """inception_cost.report.render -> 'report'; inception_cost -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str, path: pathlib.Path):
    """(imported module, names taken from it, line, enclosing function or None) for every
    inception_cost import in ``path``; ``from pkg import sub`` names the submodule when
    ``sub`` is one."""
    is_pkg = path.name == "__init__.py"
    here = module.split(".") if is_pkg else module.split(".")[:-1]
    tree = ast.parse(path.read_text(), str(path))
    functions = [f for f in ast.walk(tree)
                 if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]

    def inside(node) -> str | None:
        around = [f for f in functions if f.lineno <= node.lineno <= f.end_lineno]
        return max(around, key=lambda f: f.lineno).name if around else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "inception_cost":
                    yield alias.name, (), node.lineno, inside(node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "inception_cost":
                continue
            plain = []
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, (), node.lineno, inside(node)
                else:
                    plain.append(alias.name)
            if plain:
                yield target, tuple(plain), node.lineno, inside(node)


def _layer_of(part: str) -> int:
    for i, (_, parts) in enumerate(LAYERS):
        if part in parts:
            return i
    raise AssertionError(f"inception_cost.{part} is in no layer of LAYERS; add it")


EDGES = [(m, target, names, line, func) for m, path in MODULES.items()
         for target, names, line, func in _imports(m, path)]


def _presentation_hook(src: str, target: str, func: str | None) -> bool:
    """An upward import Python's data model asks for: a result's ``__str__`` or
    ``_repr_html_`` hands itself to the presenter that writes its text, imported inside
    that method (so importing the result's module never imports the presenter)."""
    return target == PRESENTATION_HOOK_TARGET and func in PRESENTATION_HOOKS


def _violations() -> dict[tuple[str, str], str]:
    found = {}
    for m, target, names, line, func in EDGES:
        src, dst = _part(m), _part(target)
        if src == dst or _presentation_hook(src, target, func):
            continue
        why = None
        if _layer_of(dst) > _layer_of(src):
            why = (f"{LAYERS[_layer_of(src)][0]} layer imports the higher "
                   f"{LAYERS[_layer_of(dst)][0]} layer")
        elif (src, dst) in NOT_BELOW:
            extra = sorted(set(names or ("the module itself",)) - NOT_BELOW[src, dst])
            if extra:
                why = f"{src} may not take {', '.join(extra)} from {dst}"
        if why:
            found.setdefault((m, target), f"{m}:{line} imports {target}: {why}")
    return found


def test_every_part_of_the_package_has_a_layer():
    for m in MODULES:
        _layer_of(_part(m))


def test_the_walk_sees_relative_function_level_and_absolute_imports():
    """The parser itself: a known relative import, one inside a function and the
    package's own lazy table are found where they are."""
    targets = {(m, t) for m, t, _, _, _ in EDGES}
    assert ("inception_cost.atomic", "inception_cost.errors") in targets
    assert ("inception_cost.__main__", "inception_cost.cli") in targets
    str_hooks = {(m, func) for m, t, _, _, func in EDGES if t.endswith(".summary_text")}
    assert ("inception_cost.counting.cost_report", "__str__") in str_hooks
    assert ("inception_cost.report.render", None) in {
        (m, func) for m, t, _, _, func in EDGES if t == "inception_cost.units"}
    # every module the walk names exists (a resolution bug would invent one)
    for _, target, _, _, _ in EDGES:
        assert target in MODULES, target


def test_no_import_runs_upward():
    found = _violations()
    new = [why for key, why in sorted(found.items()) if key not in KNOWN]
    assert not new, "layer violations:\n" + "\n".join(new)
    gone = sorted(KNOWN - set(found))
    assert not gone, "fixed, remove from KNOWN: " + ", ".join(map(str, gone))


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def test_no_import_cycle_between_packages():
    """(Edges listed in KNOWN are left out: they fail the upward test until fixed.)"""
    graph: dict[str, set[str]] = {}
    for m, target, _, _, func in EDGES:
        src, dst = _part(m), _part(target)
        if src != dst and (m, target) not in KNOWN and not _presentation_hook(src, target, func):
            graph.setdefault(src, set()).add(dst)
    cycle = _cycle(graph)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle)


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
])
def test_cycle_finder(graph, expected):
    assert _cycle(graph) == expected


def test_shapes_become_text_only_in_presenters():
    """``format_shapes`` (integer shape tuples -> '1x64x56x56' text) is imported by the
    presenters and the command line only (and re-exported by ``inception_cost.counting``);
    counting, measuring and the paper audits keep integer tuples."""
    importers = {m for m, _, names, _, _ in EDGES if "format_shapes" in names}
    assert "inception_cost.report.render" in importers    # the walk sees it where it is used
    below = sorted(m for m in importers
                   if _part(m) not in ("report", "cli") and m != "inception_cost.counting")
    assert not below, f"shapes turned into text below the presenters: {below}"


def _third_party_importers(package: str) -> set[str]:
    """Modules of inception_cost that import ``package`` (anywhere in the file)."""
    out = set()
    for m, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            if any(n == package or n.startswith(package + ".") for n in names):
                out.add(m)
    return out


def test_terminal_views_live_with_the_presenters():
    """rich (tables, the progress bar) is imported by report/ and cli/ only: a measuring
    part hands its progress to an observer the CLI passes in."""
    users = _third_party_importers("rich")
    assert "inception_cost.report.progress_bar" in users
    outside = sorted(m for m in users if _part(m) not in ("report", "cli"))
    assert not outside, f"terminal views outside report/ and cli/: {outside}"


def test_plots_live_with_the_presenters():
    """matplotlib is imported by report/ only: memory, roofline and paper plots are drawn
    by presenters from typed results."""
    users = _third_party_importers("matplotlib")
    assert "inception_cost.report.plots" in users
    outside = sorted(m for m in users if _part(m) != "report")
    assert not outside, f"plots drawn outside report/: {outside}"
