"""The package's shape, measured from its source: no import cycles, no function too long to hold in one's head,
no private names reached into from outside their package (issue 22's targets, kept from drifting back)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mintlab"
MAX_BODY_LINES = 150  # any function in mintlab/, docstring excluded
MAX_RUN_COMPARISON_LINES = 120


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _import_time_edges(module: str, path: Path) -> set[str]:
    """The mintlab modules ``module`` imports when it is imported (its top level; not inside functions, not
    under ``if TYPE_CHECKING``)."""
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for n in node.body if isinstance(node, ast.Try) else [node]:
            if isinstance(n, ast.Import):
                out.update(a.name for a in n.names)
            elif isinstance(n, ast.ImportFrom):
                base = _absolute(n, module, path.name == "__init__.py")
                out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in n.names)
    return {m for m in out if m in MODULES and m != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    graph = {m: _import_time_edges(m, p) for m, p in MODULES.items()}
    assert _cycles(graph) == []


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    if (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    return 0 if not body else fn.end_lineno - body[0].lineno + 1


def _functions() -> list[tuple[int, str]]:
    out = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((_body_lines(node), f"{module}.{node.name}"))
    return out


def test_no_function_longer_than_the_limit() -> None:
    functions = _functions()
    assert len(functions) > 100  # the walk found the package
    too_long = sorted((n, name) for n, name in functions if n > MAX_BODY_LINES)
    assert too_long == [], f"functions over {MAX_BODY_LINES} lines (docstring excluded): {too_long}"
    (run_comparison,) = [n for n, name in functions if name == "mintlab.experiments.compare.run_comparison"]
    assert run_comparison <= MAX_RUN_COMPARISON_LINES


def _sources() -> list[tuple[Path, str]]:
    out = [(p, p.read_text()) for p in [*MODULES.values(), *sorted((ROOT / "scripts").glob("*.py"))]]
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        out.append((nb, "\n".join(ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!")))))
    return out


def _private_imports(path: Path, source: str) -> list[str]:
    """``from mintlab.<pkg>._x import …`` or ``from mintlab.<pkg> import _y`` where ``path`` is not inside
    ``mintlab/<pkg>/`` (dunders such as ``__version__`` are public)."""
    rel = path.relative_to(ROOT).parts
    own = ".".join(rel[:2]) if rel[0] == "mintlab" and len(rel) > 2 else None
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("mintlab"):
            parts = node.module.split(".")
            names = [a.name for a in node.names]
            private = any(p.startswith("_") for p in parts[1:]) or any(
                n.startswith("_") and not n.endswith("__") for n in names
            )
            if private and ".".join(parts[:2]) != own:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "mintlab" and any(p.startswith("_") for p in parts[1:]) and ".".join(parts[:2]) != own:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} import {a.name}")
    return found


@pytest.mark.parametrize(
    ("where", "source", "expected"),
    [
        ("scripts/x.py", "from mintlab.prune._predictor import Fit", 1),
        ("scripts/x.py", "from mintlab.utils.io import _helper", 1),
        ("scripts/x.py", "import mintlab.estimator._mst", 1),
        ("scripts/x.py", "from mintlab import __version__", 0),
        ("mintlab/prune/x.py", "from mintlab.prune._predictor import Fit", 0),
        ("mintlab/experiments/x.py", "from mintlab.prune._predictor import Fit", 1),
    ],
)
def test_private_import_finder(where: str, source: str, expected: int) -> None:
    assert len(_private_imports(ROOT / where, source)) == expected


def test_no_private_imports_outside_their_package() -> None:
    found = [hit for path, source in _sources() for hit in _private_imports(path, source)]
    assert found == []
