"""Builds that are the same tomorrow as today: images from a base pinned by digest installing only locked, hashed
packages, actions pinned to commits, and Dependabot keeping all three current."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from {{ cookiecutter.app_name }}.config import read_yaml
from {{ cookiecutter.app_name }}.deploy.manifests import APP_IMAGE

from .support.data import APP_ROOT
from .test_deployment import tool

DOCKERFILES = ("docker/Dockerfile", "docker/mlflow.Dockerfile")
LOCKS = ("requirements.txt", "requirements-dev.txt", "requirements-tracking-server.txt")
PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
ACTION = re.compile(r"^\s*-?\s*uses:\s*(?P<action>\S+?)(?:\s+#\s*(?P<release>\S+))?\s*$")


def locked(lock: str) -> dict[str, list[tuple[str, int]]]:
    """package -> its pinned versions (one per Python-version marker) with how many hashes each has."""
    pins: dict[str, list[tuple[str, int]]] = {}
    entry = None
    for line in (APP_ROOT / lock).read_text().splitlines():
        if match := PINNED.match(line):
            entry = [match["version"], 0]
            pins.setdefault(canonicalize_name(match["name"]), []).append(entry)
        elif line.strip().startswith("--hash=sha256:") and entry is not None:
            entry[1] += 1
        elif line.strip() and not line.startswith((" ", "#")):
            pytest.fail(f"{lock}: {line!r} is not pinned with ==")
    return {name: [tuple(entry) for entry in entries] for name, entries in pins.items()}


def run_steps(dockerfile: str) -> list[str]:
    """The shell commands of a Dockerfile's RUN instructions, one by one, continuation lines joined."""
    text = (APP_ROOT / dockerfile).read_text().replace("\\\n", " ")
    runs = [line.removeprefix("RUN ") for line in text.splitlines() if line.startswith("RUN ")]
    return [" ".join(step.split()) for run in runs for step in run.split("&&")]


def declared() -> dict[str, list[Requirement]]:
    """lock file -> the requirements of pyproject.toml it must satisfy."""
    project = tomllib.loads((APP_ROOT / "pyproject.toml").read_text())
    groups = {name: [Requirement(r) for r in items] for name, items in project["dependency-groups"].items()}
    runtime = [Requirement(r) for r in project["project"]["dependencies"]]
    return {
        "requirements.txt": runtime + groups["build"],
        "requirements-dev.txt": runtime + groups["build"] + groups["dev"],
        "requirements-tracking-server.txt": groups["tracking-server"] + groups["build"],
    }


@pytest.mark.unit
@pytest.mark.parametrize("lock", LOCKS)
def test_a_lock_file_pins_every_package_with_hashes_within_the_ranges_of_pyproject(lock):
    pins = locked(lock)

    assert all(hashes for entries in pins.values() for _, hashes in entries), "a package without --hash"
    outside = [
        f"{requirement.name}=={version} is outside {requirement.specifier}"
        for requirement in declared()[lock]
        for version, _ in pins.get(canonicalize_name(requirement.name), [("missing", 0)])
        if version not in requirement.specifier
    ]
    assert outside == [], f"{lock} is stale: run python local/lock_requirements.py"


@pytest.mark.unit
def test_the_app_s_client_and_the_tracking_server_run_one_mlflow_version():
    client = locked("requirements.txt")["mlflow-skinny"]
    server = locked("requirements-tracking-server.txt")
    manifest = (APP_ROOT / "k8s" / "mlflow.yml").read_text()
    image_tag = re.search(r"image: \S+/mlflow-server:(\S+)", manifest)[1]
    build_tag = re.search(r"mlflow-server:(\S+) \.", (APP_ROOT / "docker" / "mlflow.Dockerfile").read_text())[1]

    assert {version for version, _ in client + server["mlflow"] + server["mlflow-skinny"]} == {image_tag}
    assert build_tag == image_tag


@pytest.mark.unit
@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_an_image_starts_from_a_base_pinned_by_digest_and_installs_only_its_lock_file(dockerfile):
    bases = re.findall(r"^FROM (\S+)", (APP_ROOT / dockerfile).read_text(), re.MULTILINE)
    installs = [step for step in run_steps(dockerfile) if step.startswith("pip install")]

    assert bases and all(re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", base) for base in bases), bases
    assert len(installs) == 2, installs
    locked_install, app_install = installs
    assert re.fullmatch(r"pip install --no-deps --require-hashes --requirement \S*requirements\S*\.txt", locked_install)
    assert re.fullmatch(r"pip install --no-deps --no-build-isolation \S+", app_install)


@pytest.mark.unit
def test_every_image_the_cluster_pulls_from_elsewhere_is_pinned_by_digest():
    own = read_yaml(APP_ROOT / "config" / "app_config.yml")["container_registry"]
    manifests = "\n".join(path.read_text() for path in sorted((APP_ROOT / "k8s").rglob("*.yml")))
    images = re.findall(r"^\s+image: (\S+)", manifests, re.MULTILINE)

    theirs = [image for image in images if image != APP_IMAGE and not image.startswith(own)]
    assert theirs, "no image from elsewhere: has the manifests' layout changed?"
    assert [image for image in theirs if not re.search(r"@sha256:[0-9a-f]{64}$", image)] == []


@pytest.mark.unit
def test_every_action_is_pinned_to_a_commit_and_names_its_release():
    files = sorted((APP_ROOT / ".github").rglob("*.yml"))
    uses = [
        (path.name, match["action"], match["release"])
        for path in files
        for line in path.read_text().splitlines()
        if (match := ACTION.match(line))
    ]

    remote = [(name, action, release) for name, action, release in uses if not action.startswith("./")]
    assert remote, "no action found: has the workflows' layout changed?"
    commit = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
    unpinned = [f"{name}: {action}" for name, action, release in remote
                if not commit.fullmatch(action) or not (release or "").startswith("v")]  # fmt: skip
    assert unpinned == []


@pytest.mark.unit
def test_dependabot_keeps_the_actions_the_base_images_and_the_lock_files_current():
    config = APP_ROOT / ".github" / "dependabot.yml"
    checked = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(config)],
                             capture_output=True, text=True)  # fmt: skip
    updates = {(u["package-ecosystem"], u["directory"]) for u in yaml.safe_load(config.read_text())["updates"]}

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert updates == {("github-actions", "/"), ("docker", "/docker"), ("pip", "/")}


@pytest.mark.ecosystem
def test_the_image_s_install_steps_give_exactly_the_locked_packages_in_a_fresh_venv(tmp_path):
    """docker/Dockerfile's pip steps, as written, in a venv of this Python (no Docker engine runs here)."""
    context = tmp_path / "context"
    context.mkdir()
    for part in ("requirements.txt", "pyproject.toml", "src"):
        source = APP_ROOT / part
        shutil.copytree(source, context / part) if source.is_dir() else shutil.copy2(source, context / part)
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    pip = str(tmp_path / "venv" / "bin" / "pip")
    steps = [step for step in run_steps("docker/Dockerfile") if step.startswith("pip install")]

    for step in steps:
        finished = subprocess.run([pip, *step.split()[1:], "--quiet"], cwd=context, capture_output=True, text=True)
        assert finished.returncode == 0, f"{step}: {finished.stderr[-3000:]}"
    frozen = subprocess.run([pip, "list", "--format=freeze"], capture_output=True, text=True, check=True).stdout
    installed = {canonicalize_name(line.split("==")[0]): line.split("==")[1] for line in frozen.split()}

    pins, app = locked("requirements.txt"), canonicalize_name("{{ cookiecutter.app_name }}")
    unlocked = [
        f"{name}=={version}"
        for name, version in installed.items()
        if name not in ("pip", app) and version not in [pinned for pinned, _ in pins.get(name, [])]
    ]
    assert app in installed and unlocked == []


WITHOUT_MODULES = """
import sys
for module in sys.argv[1:]:
    sys.modules[module] = None  # as if not installed: importing it raises ImportError
import {{ cookiecutter.app_name }}.tracking_server.registry_guard
"""


@pytest.mark.unit
def test_the_tracking_server_image_holds_everything_its_sign_in_rule_imports():
    """docker/mlflow.Dockerfile installs the app's package without the app's dependencies, for registry_guard.py: it
    must load with the tracking server's lock alone."""
    server = set(locked("requirements-tracking-server.txt"))
    providers = importlib.metadata.packages_distributions()  # top-level module -> the distributions that provide it
    absent = [module for module, names in providers.items()
              if not server & {canonicalize_name(n) for n in names}
              and {canonicalize_name(n) for n in names} & set(locked("requirements.txt"))]  # fmt: skip

    finished = subprocess.run([sys.executable, "-c", WITHOUT_MODULES, *absent], capture_output=True, text=True)

    assert "lightgbm" in absent
    assert finished.returncode == 0, "keep registry_guard.py's imports light:\n" + finished.stderr[-2000:]


@pytest.mark.unit
def test_the_vendored_chart_library_is_the_release_its_readme_names():
    vendor = APP_ROOT / "src" / "{{ cookiecutter.app_name }}" / "web" / "ui" / "static" / "vendor"
    named = re.search(r"^\| chart\.umd\.min\.js \|.*\| (\d+\.\d+\.\d+) \|", (vendor / "README.md").read_text(), re.M)
    header = (vendor / "chart.umd.min.js").read_text(encoding="utf-8")[:200]

    assert named, "vendor/README.md names no version of chart.umd.min.js"
    assert f" * Chart.js v{named[1]}\n" in header, header
