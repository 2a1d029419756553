"""No container engine runs here, so the image's install steps run in a fresh virtual
environment instead: the same `pip install .` the Dockerfile runs, then the entrypoint."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import REPO

pytestmark = pytest.mark.integration


def test_dockerfile_install_steps_work_in_a_fresh_venv(tmp_path: Path) -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm AS build$", dockerfile, re.M)
    assert re.search(r"^USER 65532:65532$", dockerfile, re.M)
    assert 'ENTRYPOINT ["planguard"]' in dockerfile
    install = re.search(r"^RUN (pip install .*)$", dockerfile, re.M)
    assert install is not None
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    args = install.group(1).replace("--prefix=/install ", "").split()
    subprocess.run([str(venv / "bin" / args[0]), *args[1:-1], str(REPO)], check=True,
                   capture_output=True, timeout=600)
    out = subprocess.run([str(venv / "bin" / "planguard"), "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("planguard ")
    replay = subprocess.run([str(venv / "bin" / "planguard"), "replay"], capture_output=True,
                            text=True)
    assert replay.returncode == 0 and "planguard: SAFE" in replay.stdout  # bundled scenario
    dev = subprocess.run([str(venv / "bin" / "python"), "-c", "import pytest"],
                         capture_output=True)
    assert dev.returncode != 0  # the image carries no development tools
