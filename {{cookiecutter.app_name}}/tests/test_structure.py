"""The package's shape, as the README shows it: every part listed, imports pointing one way, and the environment
variables read in one place, each declared; and the README and docs/ themselves: short, with working links."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from {{ cookiecutter.app_name }} import __main__ as app_main
from {{ cookiecutter.app_name }}.config import Variables

from .support.data import APP_ROOT

pytestmark = pytest.mark.unit

PACKAGE = "{{ cookiecutter.app_name }}"
SOURCE = APP_ROOT / "src" / PACKAGE
ENTRY_POINTS = {"__init__", "__main__"}  # the package itself, and `python -m` (the command tree, which uses all)


def readme_parts() -> list[str]:
    """The package's parts in the order the README lists them: `config/` as config, `provenance.py` as provenance."""
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


def test_no_module_but_config_reads_environment_variables():
    readers = [
        f"{module.relative_to(SOURCE)}:{number}: {line.strip()}"
        for module in modules()
        if module != SOURCE / "config" / "variables.py"
        for number, line in enumerate(module.read_text().splitlines(), 1)
        if re.search(r"\bos\.environ\b|\bgetenv\b|\benviron\[", line)
    ]
    assert readers == [], "read it in config/variables.py (declared in Variables) and hand the value over"


def test_the_environment_variables_on_the_configuration_page_are_the_declared_ones():
    page = (APP_ROOT / "docs" / "configuration.md").read_text()
    table = page.split("| environment variable | what it does | when it is unset |\n|---|---|---|\n", 1)[1]
    rows = table.split("\n\n", 1)[0].splitlines()
    declared = [f"| `{f.name.upper()}` | {f.metadata['does']} | {f.metadata['unset']} |" for f in fields(Variables)]
    assert rows == declared


README_MAX_LINES = 400  # the overview, the quick start and the way round; the reference lives in docs/
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")  # [text](target), not ![image](...)


def outside_code(markdown: str) -> list[str]:
    """The lines of `markdown` outside fenced code blocks (whose `# comments` are no headings, `[a](b)` no links)."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of `markdown`: lowercased, punctuation but `-` dropped, spaces as `-`,
    and `-1`, `-2`, ... after a heading's second, third, ... occurrence."""
    seen: dict[str, int] = {}
    found = set()
    for line in outside_code(markdown):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return found


def test_the_readme_is_short_with_contents_and_the_links_of_it_and_of_docs_lead_somewhere():
    readme = APP_ROOT / "README.md"
    pages = [readme, *sorted((APP_ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        prose = re.sub(r"`[^`]*`", "``", "\n".join(outside_code(page.read_text())))  # a code span's [a](b) is no link
        for target in LINK.findall(prose):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not a file of the app
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(APP_ROOT)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
                broken.append(f"{page.relative_to(APP_ROOT)}: {target} (no such heading)")

    lines = readme.read_text().splitlines()
    assert broken == []
    assert len(lines) <= README_MAX_LINES, "move reference material to docs/"
    assert "## Contents" in lines
    assert [page.name for page in pages[1:] if f"(docs/{page.name})" not in readme.read_text()] == []
    assert len(pages) > 1


def test_every_command_is_listed_with_python_m_and_answers_help(capsys):
    listed = {line.split()[0] for line in app_main.__doc__.splitlines()[2:] if line[:1].isalpha()}
    answers = {}
    for name in app_main.COMMANDS:
        with pytest.raises(SystemExit) as exited:
            app_main.main([name, "--help"])
        answers[name] = (exited.value.code, f"-m {PACKAGE} {name}" in capsys.readouterr().out)

    assert listed - {"Every"} == set(app_main.COMMANDS)
    assert answers == {name: (0, True) for name in app_main.COMMANDS}


def test_the_command_list_starts_without_loading_training_the_registry_or_the_web_app():
    started = subprocess.run([sys.executable, "-X", "importtime", "-m", PACKAGE, "--help"],
                             capture_output=True, text=True, cwd=APP_ROOT)  # fmt: skip
    imported = {line.rsplit("|", 1)[1].strip() for line in started.stderr.splitlines() if line.startswith("import")}

    assert started.returncode == 0 and "run-server" in started.stdout
    assert not imported & {"mlflow", "lightgbm", "sklearn", "flask", "pandas"}


def test_the_scripts_in_local_are_entry_points_to_the_command_tree():
    scripts = [path for path in (APP_ROOT / "local").rglob("*.py") if not path.name.startswith("benchmark_")]
    not_entry_points = [
        path.relative_to(APP_ROOT)
        for path in [*scripts, APP_ROOT / "local_retrain.py"]
        if not re.search(rf"^from {PACKAGE}\.cli\.\w+ import \w+_command$", path.read_text(), re.MULTILINE)
        or len([line for line in path.read_text().splitlines() if line.startswith(("def ", "class "))]) > 0
    ]
    assert not_entry_points == []
