"""The tests' own layering: shared helpers live in ``tests/support/``.

Test modules and ``conftest.py`` files import helpers from ``tests.support`` only: never from
a ``conftest.py`` (pytest loads those itself; importing one runs it a second time as another
module), from another test module, or from ``bench/``. The benches may import from
``tests.support``; ``tests.support`` never imports a bench, a conftest or a test module.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _imported(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (absolute names, relative ones resolved), with its line."""
    package = ".".join(path.relative_to(ROOT).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            name = ".".join(part for part in (base, node.module or "") if part)
            found.append((node.lineno, name))
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def _forbidden(name: str) -> bool:
    """A module a test, a conftest or a support module must not import."""
    parts = name.split(".")
    if parts[0] in ("bench", "conftest") or "conftest" in parts:
        return True
    # tests.support.x is the only part of tests/ to import from.
    return parts[0] == "tests" and len(parts) > 1 and parts[1] != "support"


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_tests_import_helpers_only_from_tests_support():
    wrong = [
        f"{path.relative_to(ROOT)} line {line}: {name}"
        for path in _python_files(TESTS)
        for line, name in _imported(path)
        if _forbidden(name)
    ]
    assert not wrong, "move what these import to tests/support/"


def test_the_benches_may_use_tests_support_but_nothing_else_of_the_tests():
    wrong = [
        f"{path.relative_to(ROOT)} line {line}: {name}"
        for path in _python_files(ROOT / "bench")
        for line, name in _imported(path)
        if name.split(".")[0] == "tests" and _forbidden(name)
    ]
    assert not wrong


def test_the_check_sees_what_it_must_refuse():
    assert _forbidden("bench.load_service")
    assert _forbidden("tests.service.conftest")
    assert _forbidden("tests.service.fhir.test_inbound")
    assert _forbidden("conftest")
    assert not _forbidden("tests.support.servers")
    assert not _forbidden("service.app")
