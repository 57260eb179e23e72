"""Imports run one way: no module imports one above it in the layer order of docs/design-notes.md, lazy imports
included; the module graph has no cycle, a module importing a name from its own package's ``__init__`` included;
and RDKit is imported only in ``chemrnn.chem``."""
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


def graph(src=SRC) -> dict[str, set[str]]:
    """Module → the modules it imports (an imported name resolves to the longest module prefix: a name that a
    package's ``__init__`` defines resolves to the package)."""
    raw = {module_name(p, src.parent): imports_of(p, src.parent) for p in src.rglob("*.py")}

    def resolve(dotted):
        parts = dotted.split(".")
        for k in range(len(parts), 1, -1):
            if ".".join(parts[:k]) in raw:
                return ".".join(parts[:k])
        return None

    return {m: {r for d in deps if (r := resolve(d)) and r != m} for m, deps in raw.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d, stack + [d])):
                return found
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (found := visit(m, [m])):
            return found
    return None


# Modules other than chemrnn.chem allowed to import RDKit, each with its reason.
RDKIT_ALLOWED: dict[str, str] = {}


def rdkit_imports(path) -> list[int]:
    """The lines of a source file that import RDKit (``import rdkit…``, ``from rdkit… import``, or
    ``import_module("rdkit…")``), lazy imports included."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if not node.level else []
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names = [str(node.args[0].value)]
        else:
            continue
        if any(n == "rdkit" or n.startswith("rdkit.") for n in names):
            lines.append(node.lineno)
    return lines


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
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_rdkit_is_imported_only_in_chem():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        mod = module_name(path)
        if mod != "chemrnn.chem" and mod not in RDKIT_ALLOWED and (lines := rdkit_imports(path)):
            bad.append(f"{mod} imports RDKit (line {', '.join(map(str, lines))}): move it into chemrnn.chem")
    assert not bad, "\n".join(bad)
    assert rdkit_imports(SRC / "chem.py"), "chem.py is the RDKit boundary; has the checker stopped seeing imports?"


def test_the_check_catches_an_upward_import(tmp_path):
    """The checker itself: a lazy import of the CLI inside a model module is found and ranked above it."""
    f = tmp_path / "chemrnn" / "models" / "probe.py"
    f.parent.mkdir(parents=True)
    f.write_text("def f():\n    from ..cli import app\n    from . import language\n")
    deps = imports_of(f, tmp_path)
    assert deps == {"chemrnn.cli.app", "chemrnn.models.language"}
    assert layer_table()[top("chemrnn.cli.app")] > layer_table()["models"]


def test_the_check_catches_a_cycle_through_a_package_init(tmp_path):
    """The checker itself: a package whose ``__init__`` imports a module that imports a name back from the package
    is a cycle, and so is a plain cycle of two modules; a module importing its sibling is not."""
    pkg = tmp_path / "chemrnn" / "training"
    pkg.mkdir(parents=True)
    (tmp_path / "chemrnn" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("def say(m):\n    print(m)\n\nfrom .lm import train  # noqa: E402\n")
    (pkg / "lm.py").write_text("from . import say, checks\n\ndef train():\n    say('x')\n")
    (pkg / "checks.py").write_text("")
    assert find_cycle(graph(tmp_path / "chemrnn")) == ["chemrnn.training", "chemrnn.training.lm", "chemrnn.training"]
    (pkg / "_log.py").write_text("def say(m):\n    print(m)\n")
    (pkg / "__init__.py").write_text("from ._log import say\nfrom .lm import train\n")
    (pkg / "lm.py").write_text("from . import checks\nfrom ._log import say\n")
    assert find_cycle(graph(tmp_path / "chemrnn")) is None
    (pkg / "checks.py").write_text("def f():\n    from .lm import train\n")
    assert find_cycle(graph(tmp_path / "chemrnn")) == ["chemrnn.training.lm", "chemrnn.training.checks",
                                                       "chemrnn.training.lm"]


def test_the_check_catches_rdkit_outside_chem(tmp_path):
    f = tmp_path / "probe.py"
    f.write_text("import os\n\ndef f():\n    from rdkit import Chem\n    import rdkit.Chem.Draw\n"
                 "    return importlib.import_module('rdkit.Chem')\n\nfrom . import rdkit_helpers\n")
    assert rdkit_imports(f) == [4, 5, 6]


# What the command line may import of the package besides its API: the base layer's light modules, the registry of
# datasets (``datasets list/path``) and the web server (``serve``).
CLI_MAY_IMPORT = {"api", "errors", "io", "utils", "options", "validate", "runinfo", "datasets", "web", "__version__",
                  "cli"}


def faces_imports(face: str) -> list[str]:
    """``module imports chemrnn.X`` for each package module (not the API or the base) that a face's files import."""
    bad = []
    for path in sorted((SRC / face).rglob("*.py")):
        for dep in sorted(imports_of(path)):
            if top(dep) not in CLI_MAY_IMPORT and dep != "chemrnn":
                bad.append(f"{module_name(path)} imports {dep}")
    return bad


def test_the_command_line_works_through_the_api():
    """Each command parses its options, calls one API function and formats the result: no command reaches into
    training, prediction, sampling or chemistry itself."""
    bad = faces_imports("cli")
    assert not bad, "call these through chemrnn.api:\n" + "\n".join(bad)


def test_the_check_catches_a_command_that_bypasses_the_api(tmp_path):
    pkg = tmp_path / "chemrnn"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli" / "__init__.py").write_text("")
    (pkg / "cli" / "lm.py").write_text("def train():\n    from ..training import train_language_model\n")
    assert [d for p in (pkg / "cli").rglob("*.py") for d in imports_of(p, tmp_path)
            if top(d) not in CLI_MAY_IMPORT] == ["chemrnn.training.train_language_model"]
