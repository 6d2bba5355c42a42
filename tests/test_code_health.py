"""Code-health rules that a linter does not check (see CONTRIBUTING.md).

Examples that run: a docstring's "Examples" section must hold at least one ``>>>`` line that
is code, not only comments (doctests run in the suite, so a comment-only example tests nothing).

Long functions: a function or method in ``cocEval/`` whose body, not counting its docstring,
is over ``MAX_BODY_LINES`` lines must be split, or say why it is long in a comment line
``# Long by design: <why>`` inside it. Body lines are the physical lines from the first
line after the docstring (or the first statement) to the function's last line (blank lines, comments and nested
functions included: what a reader has to scroll through).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cocEval"
MAX_BODY_LINES = 80
_REASON = re.compile(r"^\s*# Long by design: \S.{9,}")

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _body_span(node: FunctionNode) -> tuple[int, int]:
    """First and last line (1-based, inclusive) of the body without its docstring."""
    body = node.body
    first = body[0]
    if (
        len(body) > 1
        and isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        assert first.end_lineno is not None
        start = first.end_lineno + 1  # comments right after the docstring count
    else:
        start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
    end = node.end_lineno
    assert end is not None
    return start, end


def _qualified_functions(tree: ast.Module) -> list[tuple[str, FunctionNode]]:
    """Every function in a module with its dotted name (``Class.method``, ``outer.inner``)."""
    out: list[tuple[str, FunctionNode]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                out.append((name, child))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def long_functions(root: Path = PACKAGE, limit: int = MAX_BODY_LINES) -> list[tuple[str, int, bool]]:
    """``(module.function, body lines, has a "Long by design" reason)`` for every function over ``limit``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        for name, node in _qualified_functions(ast.parse(source, filename=str(path))):
            start, end = _body_span(node)
            n = end - start + 1
            if n > limit:
                reason = any(_REASON.match(line) for line in lines[start - 1 : end])
                found.append((f"{module}.{name}", n, reason))
    return found


def test_no_unexplained_long_functions() -> None:
    offenders = [(name, n) for name, n, reason in long_functions() if not reason]
    listing = "\n".join(f"  {name}: {n} body lines" for name, n in sorted(offenders, key=lambda t: -t[1]))
    assert not offenders, (
        f"{len(offenders)} function(s) in cocEval/ have bodies over {MAX_BODY_LINES} lines (docstring "
        "excluded) and no '# Long by design: <why>' comment; split them or say why:\n" + listing
    )


_EXAMPLES = re.compile(r"^Examples\n-{3,}\n", re.M)
_NEXT_SECTION = re.compile(r"^\w[\w ]*\n-{3,}$", re.M)


def comment_only_examples(root: Path = PACKAGE) -> list[str]:
    """``module.object`` for every docstring whose Examples section runs no code."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        named: list[tuple[str, ast.AST]] = [("", tree)]
        named += [(name, node) for name, node in _qualified_functions(tree)]
        named += [(n.name, n) for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        for name, node in named:
            doc = ast.get_docstring(node) if isinstance(node, ast.Module | ast.ClassDef | FunctionNode) else None
            m = _EXAMPLES.search(doc or "")
            if not m:
                continue
            rest = doc[m.end() :] if doc else ""
            nxt = _NEXT_SECTION.search(rest)
            section = rest[: nxt.start() if nxt else None]
            prompts = [ln.strip()[3:].strip() for ln in section.splitlines() if ln.strip().startswith(">>>")]
            if not any(p and not p.startswith("#") for p in prompts):
                found.append(f"{module}.{name}" if name else module)
    return found


def test_examples_run_code() -> None:
    offenders = comment_only_examples()
    assert not offenders, (
        f"{len(offenders)} docstring(s) in cocEval/ have an Examples section with no '>>>' line of code "
        "(only comments or none); write a runnable example:\n" + "\n".join(f"  {o}" for o in offenders)
    )


# ---- the checkers themselves can fail ----------------------------------------------------------------


def _write(tmp_path: Path, body_lines: int, comment: str | None = None, docstring: bool = True) -> Path:
    pkg = tmp_path / "cocEval"
    pkg.mkdir()
    lines = ["def f(x):"]
    if docstring:
        lines += ['    """Doc.', "", "    Long docstring lines do not count.", '    """']
    if comment:
        lines.append(f"    {comment}")
    lines += [f"    x = x + {i}" for i in range(body_lines - (1 if comment else 0) - 1)]
    lines.append("    return x")
    (pkg / "m.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pkg


@pytest.mark.parametrize(
    ("body_lines", "comment", "flagged"),
    [
        (80, None, False),
        (81, None, True),
        (81, "# Long by design: one table of twelve parallel cases reads best in one place", False),
        (81, "# Long by design:", True),  # a reason is required
        (81, "# long because", True),
    ],
)
def test_checker_counts_body_lines_without_docstring(
    tmp_path: Path, body_lines: int, comment: str | None, flagged: bool
) -> None:
    pkg = _write(tmp_path, body_lines, comment)
    found = long_functions(pkg)
    unexplained = [name for name, _, reason in found if not reason]
    assert unexplained == (["cocEval.m.f"] if flagged else [])
    if found:
        assert found[0][1] == body_lines


def test_examples_checker(tmp_path: Path) -> None:
    pkg = tmp_path / "cocEval"
    pkg.mkdir()
    doc = '    """{0}\n\n    Examples\n    --------\n{1}\n    """\n    return 1\n'
    (pkg / "m.py").write_text(
        "def a():\n"
        + doc.format("Comment only.", "    >>> # see b")
        + "def b():\n"
        + doc.format("Runs.", "    >>> # set up\n    >>> b()\n    1")
        + "def c():\n"
        + doc.format("No prompt at all.", "    b() returns 1")
        + "def d():\n"
        + '    """No examples."""\n',
        encoding="utf-8",
    )
    assert comment_only_examples(pkg) == ["cocEval.m.a", "cocEval.m.c"]


def test_checker_names_methods_and_nested_functions(tmp_path: Path) -> None:
    pkg = tmp_path / "cocEval"
    pkg.mkdir()
    inner = "\n".join(f"            y = {i}" for i in range(85))
    (pkg / "m.py").write_text(f"class C:\n    def meth(self):\n        def inner():\n{inner}\n", encoding="utf-8")
    names = [name for name, _, _ in long_functions(pkg)]
    assert names == ["cocEval.m.C.meth", "cocEval.m.C.meth.inner"]


def test_no_merge_conflict_markers_in_tracked_files():
    """A merge left ``<<<<<<<``/``>>>>>>>`` lines in CHANGELOG.md once; no linter reads Markdown."""
    import subprocess

    root = PACKAGE.parent
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    marker = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)
    bad = []
    for name in files:
        path = root / name
        if path.suffix in {".png", ".ipynb"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        bad += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}" for m in marker.finditer(text)]
    assert not bad, f"merge conflict markers left in: {bad}"
