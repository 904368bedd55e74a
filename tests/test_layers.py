"""The layering CI holds beside import-linter's contracts (pyproject.toml): only the CLI talks to the
terminal or exits, and nasbox's own modules are imported at the top of a module (a function-local
import is for a heavy third-party package, never for dodging a cycle)."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nasbox"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
# the package root's public functions import lazily, so that `import nasbox` stays light (no torch, no optuna)
LAZY_ROOT = PACKAGE / "__init__.py"


def _calls(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f"{getattr(f.value, 'id', '?')}.{f.attr}" if isinstance(
                f, ast.Attribute) else ""
            out.append((node.lineno, name))
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                out.append((node.lineno, "SystemExit"))
    return out


def test_only_the_cli_prints_or_exits():
    offenders = [f"{p.relative_to(PACKAGE.parent)}:{line} {name}" for p in MODULES if "cli" not in p.parts
                 and p != PACKAGE / "__main__.py"  # `python -m nasbox`: the command line's entry point
                 for line, name in _calls(ast.parse(p.read_text()))
                 if name in ("print", "sys.exit", "exit", "quit", "os._exit", "SystemExit")]
    assert not offenders, offenders


def test_nasbox_modules_are_imported_at_the_top():
    offenders = []
    for p in MODULES:
        if p == LAZY_ROOT:
            continue
        for f in ast.walk(ast.parse(p.read_text())):
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                offenders += [f"{p.relative_to(PACKAGE.parent)}:{s.lineno} in {f.name}" for s in ast.walk(f)
                              if isinstance(s, ast.ImportFrom) and ((s.module or "").startswith("nasbox") or s.level)]
    assert not offenders, offenders


def test_the_scan_sees_what_it_looks_for():
    """The two scans above find a print and a local import when there is one (they could not fail otherwise)."""
    code = "import sys\ndef f():\n    from nasbox.model import analyze\n    print(1)\n    sys.exit(2)\n"
    assert {name for _, name in _calls(ast.parse(code))} >= {"print", "sys.exit"}
    func = ast.parse(code).body[1]
    assert any(isinstance(s, ast.ImportFrom) and s.module.startswith("nasbox") for s in ast.walk(func))


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed (pip install -e '.[dev]')")
def test_import_linter_contracts_hold():
    out = subprocess.run(["lint-imports"], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]
