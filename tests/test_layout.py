"""The package's layout: imports run one way (no cycle, even through an import inside a function),
nothing inside the package imports its face, few modules sit directly in charrnn/."""

import ast
from pathlib import Path

import charrnn

PACKAGE = Path(charrnn.__file__).parent


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in it (a `from X import name`
    counts X.name where that is a module, else X)."""
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == package.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[:len(here.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source.split(".")[0] != package.name:
                    continue
                for alias in node.names:
                    found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of `graph`, each as the path that closes it."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_cycles():
    assert cycles(imports(PACKAGE)) == []


def test_nothing_inside_the_package_imports_its_face():
    importers = sorted(name for name, targets in imports(PACKAGE).items()
                       if "charrnn" in targets and name != "charrnn")
    assert importers == []


def test_a_few_modules_directly_in_the_package_and_the_stages_beside_them():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 10, modules
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert {"text", "data", "model", "training", "runs", "generate", "cli", "kernels"} <= stages


def test_the_version_has_a_module_of_its_own_that_pyproject_reads():
    from charrnn._version import __version__

    assert charrnn.__version__ == __version__
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'version = {attr = "charrnn._version.__version__"}' in pyproject
