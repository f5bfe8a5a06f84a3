"""The tests tree keeps its shape: every test module sits in the layer that says what it runs
(unit, integration, process, browser), and no module imports a test module or a conftest.py; what
tests share lives in tests/support/, their fixtures in conftest.py."""

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
LAYERS = ("unit", "integration", "process", "browser")


def modules() -> Iterator[Path]:
    for path in sorted(TESTS.rglob("*.py")):
        if "node_modules" not in path.relative_to(TESTS).parts:
            yield path


def imported(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            yield node.module
            # `from tests import test_x` names the module in the import list instead.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def is_test_or_conftest(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "tests" and any(
        part == "conftest" or part.startswith("test_") for part in parts[1:]
    )


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    found = [
        f"{path.relative_to(TESTS)} imports {module}"
        for path in modules()
        for module in imported(path)
        if is_test_or_conftest(module)
    ]
    assert not found, "move what is shared into tests/support/:\n" + "\n".join(found)


def test_every_test_module_is_in_a_layer() -> None:
    misplaced = [
        str(path.relative_to(TESTS))
        for path in modules()
        if path.name.startswith("test_") and path.relative_to(TESTS).parts[0] not in LAYERS
    ]
    assert not misplaced


def test_the_check_sees_each_way_of_importing_a_test_module() -> None:
    assert is_test_or_conftest("tests.conftest")
    assert is_test_or_conftest("tests.integration.test_delivery")
    assert is_test_or_conftest("tests.unit.conftest")
    assert not is_test_or_conftest("tests.support.server")
    assert not is_test_or_conftest("deskhook.test_connection")
