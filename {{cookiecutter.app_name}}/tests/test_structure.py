"""The package's shape, as the README's "Where things are" shows it: every part listed, imports pointing one way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .conftest import APP_ROOT

pytestmark = pytest.mark.unit

PACKAGE = "{{ cookiecutter.app_name }}"
SOURCE = APP_ROOT / "src" / PACKAGE
ENTRY_POINTS = {"__init__", "__main__"}  # the package itself, and `python -m` (the command tree, which uses all)


def readme_parts() -> list[str]:
    """The package's parts in the order the README lists them: `config.py` as config, `ml/` as ml."""
    readme = (APP_ROOT / "README.md").read_text()
    tree = readme.split("## Where things are", 1)[1].split("```")[1]
    listed = tree.split(f"src/{PACKAGE}/", 1)[1].split("\ntests/", 1)[0]
    return [re.sub(r"(\.py|/)$", "", line.split()[0]) for line in listed.splitlines() if re.match(r"^  \S", line)]


def part_of(module: Path) -> str:
    return module.relative_to(SOURCE).parts[0].removesuffix(".py")


def imported_parts(module: Path) -> set[str]:
    """The package's parts that `module` imports, relative imports resolved."""
    package = module.relative_to(SOURCE).parent.parts
    found = set()
    for node in ast.walk(ast.parse(module.read_text(), str(module))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            names = [*base, *node.module.split(".")] if node.module else [*base, *(a.name for a in node.names)]
            if names:
                found.update([names[0]] if node.module or base else names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == PACKAGE:
            rest = node.module.split(".")[1:]
            found.update(rest[:1] or [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith(PACKAGE + "."))
    return found


def modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_the_readme_lists_every_part_of_the_package_and_nothing_else():
    on_disk = {part_of(m) for m in modules()} - ENTRY_POINTS
    listed = readme_parts()
    assert sorted(listed) == sorted(on_disk), "the README's tree and src/ disagree"


def test_each_part_imports_only_the_parts_listed_above_it():
    order = {part: index for index, part in enumerate(readme_parts())}
    upward = [
        f"{module.relative_to(SOURCE)} imports {used}"
        for module in modules()
        if part_of(module) not in ENTRY_POINTS
        for used in sorted(imported_parts(module) - {part_of(module)})
        if order.get(used, len(order)) >= order[part_of(module)]
    ]
    assert upward == [], "an import points up the README's list (or at a part it does not list)"
