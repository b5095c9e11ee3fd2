"""Imports run one way: schema -> services -> db -> domain, and domain uses the standard library
only (DESIGN.md "Layers"). import-linter checks the contracts in pyproject.toml; a small AST check
of server/domain backs up the second rule without any tool."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ROOT / "server" / "domain"


def test_import_linter_contracts_are_kept():
    # given
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    lint_imports = Path(sys.executable).parent / "lint-imports"
    # when
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    # then
    assert len(contracts) >= 2
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout, result.stdout


def foreign_imports(source: str, package: str = "server.domain") -> list[str]:
    """Imported modules that are neither the standard library nor `package` itself."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y: a sibling inside the package
                continue
            names = ["." * node.level + (node.module or "")]  # level 0: absolute; 2+: leaves the package
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            inside = name == package or name.startswith(package + ".")
            if not inside and top not in sys.stdlib_module_names:
                found.append(name)
    return found


def test_domain_modules_import_only_the_standard_library_and_the_domain():
    # given
    modules = sorted(DOMAIN.glob("*.py"))
    # when
    offenders = {path.name: bad for path in modules if (bad := foreign_imports(path.read_text(), "server.domain"))}
    # then
    assert len(modules) >= 5
    assert offenders == {}


def test_the_domain_check_catches_what_it_should():
    # given
    source = """
from __future__ import annotations
import math
from datetime import date
from .enums import Role
from server.domain.units import x
import sqlalchemy
from ..db import models
from server.settings import Settings
import strawberry.types
"""
    # when
    found = foreign_imports(source)
    # then
    assert found == ["sqlalchemy", "..db", "server.settings", "strawberry.types"]
