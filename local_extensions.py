"""Jinja filters for cookiecutter.json; cookiecutter loads them through its `_extensions` key."""

from pathlib import Path

from cookiecutter.utils import simple_filter


@simple_filter
def absolute_path(path: str) -> str:
    """`path` as an absolute path, read from the folder cookiecutter runs in ('' stays ''): the hooks run elsewhere."""
    return str(Path(path).expanduser().resolve()) if path.strip() else ""
