"""planguard's image, built for real by the kind path's script (hack/kind/build-images.sh:
the project's Dockerfile FROM the local Debian base, PyPI through the host's CA bundle) and
run the way the chart runs it: as uid 65532 on a read-only root filesystem."""

from __future__ import annotations

import subprocess

import pytest

from harness import REPO

pytestmark = pytest.mark.integration


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image() -> str:
    up = subprocess.run([str(REPO / "hack/kind/docker-up.sh")], capture_output=True, text=True,
                        timeout=300)
    assert up.returncode == 0, up.stderr
    built = subprocess.run([str(REPO / "hack/kind/build-images.sh"), "local"],
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    return built.stdout.split()[0]


def _run(image: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _docker("run", "--rm", "--read-only", "--cap-drop", "ALL", "--network", "none",
                   image, *args)


def test_image_runs_non_root_on_a_read_only_root(image: str) -> None:
    user = _docker("image", "inspect", "-f", "{{.Config.User}}", image)
    assert user.stdout.strip() == "65532:65532"
    version = _run(image, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("planguard ")
    # kopf names its peer after the user: a uid with no passwd entry crashed every role.
    who = _docker("run", "--rm", "--read-only", "--entrypoint", "python3", image, "-c",
                  "import getpass; print(getpass.getuser())")
    assert who.stdout.strip() == "planguard", who.stderr
    replay = _run(image, "replay")  # the bundled scenario: reads package data, writes nothing
    assert replay.returncode == 0, replay.stderr
    assert "planguard: SAFE" in replay.stdout


def test_image_carries_no_development_tools(image: str) -> None:
    dev = _docker("run", "--rm", "--read-only", "--entrypoint", "python3", image, "-c",
                  "import pytest")
    assert dev.returncode != 0 and "No module named 'pytest'" in dev.stderr
    roles = _run(image, "--help")
    for role in ("enactor", "cleanup", "planner", "leases"):
        assert role in roles.stdout


def test_image_has_oci_labels_and_the_locked_versions(image: str) -> None:
    labels = _docker("image", "inspect", "-f", "{{json .Config.Labels}}", image)
    import json

    got = json.loads(labels.stdout)
    assert got["org.opencontainers.image.title"] == "planguard"
    assert got["org.opencontainers.image.version"] == "0.1.0"
    assert got["org.opencontainers.image.revision"] not in ("", "unknown")
    assert got["org.opencontainers.image.licenses"] == "Apache-2.0"
    # The image runs exactly what the tests ran: every pin of constraints.txt.
    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines()
                if "==" in line)
    freeze = _docker("run", "--rm", "--read-only", "--entrypoint", "/opt/planguard/bin/pip",
                     image, "list", "--format=freeze", "--disable-pip-version-check")
    installed = {n.lower().replace("_", "-"): v for n, v in
                 (line.split("==") for line in freeze.stdout.splitlines() if "==" in line)}
    wrong = {n: (v, installed.get(n)) for n, v in pins.items() if installed.get(n) != v}
    assert not wrong, wrong
