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
    """This template's folder, absolute, whichever way cookiecutter was pointed at it (`_repo_dir` may be relative).
    An absolute `_repo_dir` is taken as it is: a process that renders two checkouts imports this module only once.
    cruft gives no `_repo_dir` at all: it renders from one clone, this module's."""
    given = _repo_dir if isinstance(_repo_dir, str) else ""
    return given if given and Path(given).is_absolute() else str(TEMPLATE_FOLDER)


# The images the app's Dockerfiles start from, by digest: a tag is moved by each rebuild, a digest never is.
# Dependabot (the app's .github/dependabot.yml) proposes new digests as the tags move.
BASE_IMAGES = {
    "3.11": "python:3.11-slim-bookworm@sha256:0a310eeecf4e1f5a0743f9a6520c90c88d089c903ca5fd283f501e3a805f5f89",
    "3.12": "python:3.12-slim-bookworm@sha256:34386ef0cb081344d7ec1c103ba398e6e9f64e9ab3a1509accc92a4e24a07258",
    "3.13": "python:3.13-slim-bookworm@sha256:a1165e272e578941b84abc79e4ab38a0305cd12803a5c4247979ac7655f4d641",
}


@simple_filter
def base_image(python_version: str) -> str:
    """The pinned base image of `python_version` ('' for a version this template pins none of: the hook says so)."""
    return BASE_IMAGES.get(python_version, "")
