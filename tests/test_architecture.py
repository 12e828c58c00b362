"""The package's shape: layers that import one way, no import cycles, gradio only in ui/.

Every import counts, function-local ones too: a cycle hidden inside a function is still a
cycle, and a core module that reaches up into the runs only at call time still depends on them.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "explorer"

# Low to high: a module may import its own layer and the ones below it, never one above.
LAYERS = [
    ("limits", "config", "activity"),
    ("core",),
    ("models", "sampling"),
    ("data", "evaluation"),
    ("training", "store"),
    ("runs",),
    ("viz",),
    ("serve",),
    ("ui", "cli", "__main__"),
]
RANK = {top: rank for rank, tops in enumerate(LAYERS) for top in tops}
MAX_LINES = 400  # outside ui/ and cli/


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The explorer modules a file imports anywhere in its body (`from explorer import data` names
    the module explorer.data)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("explorer")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("explorer"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found & known


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(path, set(mods)) - {name} for name, path in mods.items()}


def top(name: str) -> str:
    return name.split(".")[1] if name.count(".") else "__init__"


def test_every_top_level_module_has_a_layer():
    tops = {top(name) for name in modules()} - {"__init__"}
    assert tops <= set(RANK), f"give these a layer in LAYERS: {sorted(tops - set(RANK))}"


def test_layers_import_downwards_only():
    upward = []
    for name, deps in graph().items():
        if name == "explorer":
            continue
        for dep in deps:
            if dep != "explorer" and RANK[top(dep)] > RANK[top(name)]:
                upward.append(f"{name} -> {dep}")
    assert not upward, "imports reaching up a layer:\n" + "\n".join(sorted(upward))


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle in the directed graph, as a list of nodes, or None (iterative DFS, three colours)."""
    colour = dict.fromkeys(edges, 0)
    for start in edges:
        if colour[start]:
            continue
        stack = [(start, iter(sorted(edges[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif colour.get(child) == 0:
                colour[child] = 1
                stack.append((child, iter(sorted(edges[child]))))
                path.append(child)
    return None


def test_no_import_cycles():
    edges = graph()
    # a package's __init__ re-exporting its modules is not a cycle through the package
    for name in edges:
        edges[name] = {d for d in edges[name] if not name.startswith(d + ".")}
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges))}"


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"b"}}) is None


def test_gradio_only_in_ui():
    outside = []
    for name, path in modules().items():
        if top(name) == "ui":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "gradio" or n.startswith(("gradio.", "gradio_client")) for n in names):
                outside.append(name)
    assert not outside, f"gradio imported outside explorer/ui: {sorted(set(outside))}"


@pytest.mark.parametrize("name", sorted(n for n in modules() if top(n) not in ("ui", "cli")))
def test_modules_stay_small(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it (at most {MAX_LINES} outside ui/ and cli/)"


def test_pyproject_lists_every_package_and_the_shipped_checkpoints():
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert set(project["packages"]) == packages | {"explorer_shipped"}, "list new packages in pyproject.toml"
    assert project["package-dir"]["explorer_shipped"] == "checkpoints"


def test_only_the_store_reads_checkpoint_json():
    """config.json is parsed once, into store.info.CheckpointInfo; everything else reads its fields."""
    readers = [name for name, path in modules().items()
               if not name.startswith("explorer.store") and "read_config" in path.read_text()]  # fmt: skip
    assert readers == []
