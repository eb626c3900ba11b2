"""What the container runs: the Dockerfile's command, read from the file itself."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

#: What the image and compose run: the service alone, never the demo (``make serve``), which
#: trains on synthetic data and prints an all-scope token.
PRODUCTION_COMMAND = [
    "uv", "run", "--no-sync", "dropout-risk", "serve", "--host", "0.0.0.0", "--port", "8000"
]  # fmt: skip


def image_command() -> list[str]:
    """The image's CMD."""
    (command,) = re.findall(r"^CMD (.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    return yaml.safe_load(command)
