"""Jinja filters for cookiecutter.json and the hooks; cookiecutter loads them through its `_extensions` key."""

from pathlib import Path

from cookiecutter.utils import simple_filter


@simple_filter
def absolute_path(path: str) -> str:
    """`path` as an absolute path, read from the folder cookiecutter runs in ('' stays ''): the hooks run elsewhere."""
    return str(Path(path).expanduser().resolve()) if path.strip() else ""


# Resolved when cookiecutter loads this module, from the folder it was started in. cookiecutter hands the hooks the
# template's folder as it was typed (`cookiecutter retrain-template`) and runs them from the new app's folder, where a
# relative path leads nowhere.
TEMPLATE_FOLDER = Path(__file__).resolve().parent


@simple_filter
def template_folder(_repo_dir: str) -> str:
    """This template's folder, absolute, whichever way cookiecutter was pointed at it (`_repo_dir` may be relative)."""
    return str(TEMPLATE_FOLDER)
