"""Imports run one way: no module imports one above it in the layer order of docs/design-notes.md, lazy imports
included, and the module graph has no cycle."""
import ast
import re

from conftest import ROOT

SRC = ROOT / "src" / "chemrnn"


def layer_table() -> dict[str, int]:
    text = (ROOT / "docs" / "design-notes.md").read_text()
    layers = {}
    for m in re.finditer(r"^\| (\d) [^|]*\| (.*) \|$", text, flags=re.M):
        for name in re.findall(r"`([a-z_]+)`", m.group(2)):
            layers[name] = int(m.group(1))
    return layers


def top(module: str) -> str:
    """``chemrnn.models.property`` → ``models``."""
    return module.split(".")[1] if module.count(".") else module


def module_name(path, root=SRC.parent) -> str:
    rel = path.relative_to(root).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def imports_of(path, root=SRC.parent) -> set[str]:
    """The chemrnn names (dotted, absolute) that a source file imports anywhere in it, lazy imports included."""
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            names = [f"{mod}.{a.name}" for a in node.names]
            found |= {n for n in names if n.startswith("chemrnn.")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("chemrnn.")}
    return found


def graph() -> dict[str, set[str]]:
    """Module → the modules it imports (an imported name resolves to the longest module prefix)."""
    raw = {module_name(p): imports_of(p) for p in SRC.rglob("*.py")}

    def resolve(dotted):
        parts = dotted.split(".")
        for k in range(len(parts), 1, -1):
            if ".".join(parts[:k]) in raw:
                return ".".join(parts[:k])
        return None

    return {m: {r for d in deps if (r := resolve(d)) and r != m} for m, deps in raw.items()}


def test_every_module_has_a_layer():
    layers = layer_table()
    missing = {top(m) for m in graph() if m not in ("chemrnn", "chemrnn.__main__") and top(m) not in layers}
    assert not missing, f"add these modules to the layer table in docs/design-notes.md: {sorted(missing)}"


def test_no_module_imports_a_higher_layer():
    layers = layer_table()
    bad = []
    for mod, deps in graph().items():
        if mod in ("chemrnn", "chemrnn.__main__"):
            continue
        for dep in deps:
            if dep != "chemrnn" and layers[top(dep)] > layers[top(mod)]:
                bad.append(f"{mod} (layer {layers[top(mod)]}) imports {dep} (layer {layers[top(dep)]})")
    assert not bad, "\n".join(sorted(bad))


def test_module_graph_has_no_cycle():
    g = graph()
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in g.get(m, ()):
            if d == "chemrnn" or (m.startswith(d + ".") and d in g):  # a package's own __init__
                continue
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " → ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in g:
        if m not in state:
            visit(m, [m])


def test_the_check_catches_an_upward_import(tmp_path):
    """The checker itself: a lazy import of the CLI inside a model module is found and ranked above it."""
    f = tmp_path / "chemrnn" / "models" / "probe.py"
    f.parent.mkdir(parents=True)
    f.write_text("def f():\n    from ..cli import app\n    from . import language\n")
    deps = imports_of(f, tmp_path)
    assert deps == {"chemrnn.cli.app", "chemrnn.models.language"}
    assert layer_table()[top("chemrnn.cli.app")] > layer_table()["models"]
