"""The package's import graph: no circles, and no import from a lower layer to a higher one.

Imports are read from the source (every `import` and `from ... import`, those inside functions
included), so an import made late to dodge a circle counts like any other. LAYERS is the one place
the layer order is written; docs/architecture.md describes it.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "longft"

# Lowest first. A module belongs to the entry with the longest matching dotted prefix; a module may
# import from its own layer and the ones below it, never from one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("longft", "longft.errors", "longft.paths", "longft.yaml_files", "longft.outputs",
                    "longft.run_lock", "longft.distributed")),
    ("model families", ("longft.families",)),
    ("recipe", ("longft.recipe",)),
    ("shared components", ("longft.data", "longft.positions", "longft.attention", "longft.synthetic",
                           "longft.testbed")),
    ("models and checkpoints", ("longft.models", "longft.pretrained", "longft.adapters", "longft.export", "longft.stage_marker")),
    ("methods", ("longft.methods",)),
    ("training and evaluation", ("longft.train", "longft.eval", "longft.plan", "longft.serving")),
    ("stages", ("longft.stages",)),
    ("pipeline", ("longft.validation", "longft.smoke", "longft.pipeline")),
    ("command line", ("longft.cli", "longft.__main__")),
]


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The longft modules `name` imports, each with the line of its first import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "longft":
                    add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "longft":
                continue
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                full = f"{module}.{alias.name}"
                add(full if full in modules else module, node.lineno)
    return found


def layer_of(name: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{name} is in no layer of LAYERS; add it where it belongs"
    return best


def import_graph() -> dict[str, dict[str, int]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_every_module_has_a_layer():
    for name in module_names():
        layer_of(name)


def test_no_import_circles():
    graph = import_graph()
    found = circles(graph)
    described = []
    for group in found:
        edges = [f"{a} -> {b} (line {graph[a][b]})" for a in group for b in graph[a] if b in group]
        described.append("; ".join(edges))
    assert not found, "import circles: " + " | ".join(described)


def test_no_import_from_a_lower_layer_to_a_higher_one():
    graph = import_graph()
    upward = [
        f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]}) at line {line}"
        for a, targets in sorted(graph.items()) for b, line in sorted(targets.items())
        if layer_of(b) > layer_of(a)
    ]
    assert not upward, "\n".join(upward)


def test_the_checks_find_what_they_look_for(tmp_path):
    """The analysis itself: a function-level import closing a circle is found."""
    graph = {"a": {"b": 1}, "b": {"c": 3}, "c": {"a": 9}, "d": {"a": 2}}
    assert circles(graph) == [["a", "b", "c"]]
    (tmp_path / "pkg").mkdir()
    source = tmp_path / "pkg" / "x.py"
    source.write_text("def f():\n    from ..errors import RecipeError\n    from longft.recipe import schema\n")
    modules = {"longft.pkg.x": source, "longft.errors": source, "longft.recipe": source, "longft.recipe.schema": source}
    assert imports_of("longft.pkg.x", source, modules) == {"longft.errors": 2, "longft.recipe.schema": 3}
