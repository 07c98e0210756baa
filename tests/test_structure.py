"""The package's shape: no import cycle, the general evaluation never imports the experiment, small modules,
no logic written twice.

The import graph counts every import statement of a module, at module level and inside functions alike
(a function-level import only hides a cycle until the function runs). The duplicate check normalises each
code line (names, strings and numbers replaced by placeholders; comments, docstrings, imports and lone
punctuation left out) and looks for six consecutive lines that stand in two places of the package.
"""

from __future__ import annotations

import ast
import graphlib
import io
import keyword
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "emmax_core"
MAX_LINES = 350
WINDOW = 6


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _nodes_outside_main_guard(tree: ast.Module):
    """Every node except those under ``if __name__ == "__main__":`` (run only as a script, as ``__main__``)."""
    for node in tree.body:
        guard = isinstance(node, ast.If) and isinstance(node.test, ast.Compare) \
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
        if not guard:
            yield from ast.walk(node)


def import_graph() -> dict[str, set[str]]:
    """``{module: {emmax_core modules it imports}}``, from every import statement in the module's source."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges = set()
        for node in _nodes_outside_main_guard(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, node)
                # ``from pkg import sub`` imports the submodule; ``from mod import name`` the module itself
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in MODULES:  # ``import emmax_core.x.y`` of a name inside a module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    edges.add(t)
        graph[name] = edges
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_import_graph_sees_function_level_imports():
    graph = import_graph()
    assert len(graph) > 30
    # the CLI module imports the trainer inside a function: that edge must be in the graph
    assert "emmax_core.trainer" in _reachable(graph, "emmax_core.cli")


def test_no_import_cycle():
    # Package __init__ modules re-export their submodules; an edge *into* a package means "import its
    # __init__", so a submodule importing its own package's __init__ would be a cycle and is counted.
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")


def test_evaluation_imports_nothing_from_the_experiment():
    graph = import_graph()
    for name in [m for m in graph if m.startswith("emmax_core.evaluation")]:
        bad = sorted(m for m in _reachable(graph, name) if m.startswith("emmax_core.experiment"))
        assert not bad, f"{name} reaches {bad}: the general evaluation must not depend on the experiment"


def test_no_module_over_the_line_limit():
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def normalised_lines(source: str) -> list[tuple[int, str]]:
    """``[(line number, shape)]`` of a module's logical code lines: names -> ``N``, strings -> ``S``, numbers -> ``0``.

    Keywords, operators and the attribute structure stay, so ``a.b(c, 1)`` and ``x.y(z, 2)`` share a shape.
    Comments, docstrings, imports, decorators, ``def``/``class`` headers, field declarations (``name: type =
    constant``) and lines of lone punctuation are left out: they are declarations, not logic.
    """
    skip = _docstring_lines(ast.parse(source))
    out, toks, start = [], [], None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            if toks and toks[0] not in ("import", "from", "@", "def", "class") and not _declaration(toks) \
                    and any(t.isalnum() for t in toks):
                out.append((start, " ".join(toks)))
            toks, start = [], None
            continue
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT) or tok.start[0] in skip:
            continue
        if tok.type == tokenize.NAME:
            text = tok.string if keyword.iskeyword(tok.string) or tok.string in ("self", "cls") else "N"
        elif tok.type == tokenize.STRING or tok.type in getattr(tokenize, "FSTRING_TOKENS", ()):
            text = "S"
        elif tok.type == tokenize.NUMBER:
            text = "0"
        else:
            text = tok.string
        start = start or tok.start[0]
        toks.append(text)
    return out


def _declaration(toks: list[str]) -> bool:
    """``name: type = constant`` (a dataclass field or an annotated constant)."""
    return len(toks) > 2 and toks[1] == ":" and "(" not in toks


def _thin(window: list[str]) -> bool:
    """Boilerplate: few distinct shapes, or mostly short lines (guards, bare returns, ``x = y``)."""
    rich = [s for s in window if len(s.split()) >= 6 and not s.startswith(("return N", "raise "))]
    return len(set(window)) < WINDOW // 2 or len(rich) < WINDOW // 2


def duplicated_windows() -> list[str]:
    """Places where ``WINDOW`` consecutive normalised code lines of the package stand again elsewhere."""
    seen: dict[tuple[str, ...], tuple[str, int]] = {}
    found = []
    for name, path in MODULES.items():
        lines = normalised_lines(path.read_text())
        last_hit: dict[str, int] = {}
        for i in range(len(lines) - WINDOW + 1):
            window = [s for _, s in lines[i:i + WINDOW]]
            if _thin(window):
                continue
            key = tuple(window)
            start = lines[i][0]
            if key in seen and seen[key] != (name, start):
                other, other_start = seen[key]
                if not (other == name and abs(other_start - start) < WINDOW) and last_hit.get(other, -99) < i - 1:
                    found.append(f"{name}:{start} ~ {other}:{other_start}")
                last_hit[other] = i
            else:
                seen.setdefault(key, (name, start))
    return found


RENAMED_COPY = """
def f(rows, weights):
    total = helper(rows, 0) + other.method(weights)[1]
    for row in rows:
        if row.score > total:
            total = row.score * weights.get(row.name, 1.0)
    out = [r for r in rows if r.score >= total / 2]
    return {"total": total, "kept": len(out)}
"""


def test_the_duplicate_check_finds_a_renamed_copy():
    renamed = RENAMED_COPY.replace("helper", "assist").replace("rows", "items").replace('"total"', '"sum"')
    changed = RENAMED_COPY.replace("r.score >= total / 2", "r.score >= total / 2 and r.keep")
    shapes = [s for _, s in normalised_lines(RENAMED_COPY)]
    assert len(shapes) == WINDOW and not _thin(shapes)
    assert shapes == [s for _, s in normalised_lines(renamed)]  # a renamed copy has the same shape
    assert shapes != [s for _, s in normalised_lines(changed)]  # changed logic does not


def test_no_logic_written_twice_in_the_package():
    found = duplicated_windows()
    assert not found, f"{WINDOW}+ lines of the same logic in two places (merge them into one home): {found}"
