"""planguard's image, built for real by the kind path's script (hack/kind/build-images.sh:
the project's Dockerfile FROM the local Debian base, PyPI through the host's CA bundle) and
run the way the chart runs it: as uid 65532 on a read-only root filesystem."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

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
    got = json.loads(labels.stdout)
    assert got["org.opencontainers.image.title"] == "planguard"
    assert got["org.opencontainers.image.version"] == "0.1.0"
    assert got["org.opencontainers.image.revision"] not in ("", "unknown")
    assert got["org.opencontainers.image.licenses"] == "Apache-2.0"
    # The image runs exactly what the tests ran: every pin of the run-time lock, and pip's
    # from the build lock; the build backend built planguard and left.
    pins = dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", (REPO / "requirements.lock").read_text(),
                           re.M))
    pins["pip"] = re.findall(r"^pip==(\S+)", (REPO / "requirements-build.lock").read_text(),
                             re.M)[0]
    freeze = _docker("run", "--rm", "--read-only", "--entrypoint", "/opt/planguard/bin/pip",
                     image, "list", "--format=freeze", "--disable-pip-version-check")
    installed = {n.lower().replace("_", "-"): v for n, v in
                 (line.split("==") for line in freeze.stdout.splitlines() if "==" in line)}
    wrong = {n: (v, installed.get(n)) for n, v in pins.items() if installed.get(n) != v}
    assert not wrong, wrong
    assert "setuptools" not in installed


def _id(ref: str) -> str:
    return _docker("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()


def test_image_is_built_on_the_base_it_names_by_id(image: str) -> None:
    base = _docker("image", "inspect", "-f",
                   '{{index .Config.Labels "org.opencontainers.image.base.name"}}', image)
    name = base.stdout.strip()
    assert re.fullmatch(r"planguard/debian:sha256-[0-9a-f]{64}", name), name
    assert _id(name) == "sha256:" + name.rsplit("-", 1)[1]  # the tag is the content's ID
    layers = [json.loads(_docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", ref).stdout)
              for ref in (image, name)]
    assert layers[0][:len(layers[1])] == layers[1]


def test_a_moved_base_tag_is_not_used(image: str, tmp_path: Path) -> None:
    """Another image under the base's plain tag (a rebuild, a `docker tag`) changes nothing:
    build-base.sh gives the base it recorded, by ID."""
    tag = "planguard/debian-moved-test:bookworm"
    recorded = _id(_docker("image", "inspect", "-f",
                           '{{index .Config.Labels "org.opencontainers.image.base.name"}}',
                           image).stdout.strip())
    env = {**os.environ, "PLANGUARD_CACHE": str(tmp_path), "PLANGUARD_BASE_IMAGE": tag}
    base = [str(REPO / "hack/kind/build-base.sh")]
    try:
        assert _docker("tag", recorded, tag).returncode == 0
        first = subprocess.run(base, env=env, capture_output=True, text=True, timeout=60)
        assert first.returncode == 0, first.stderr
        assert _id(first.stdout.strip()) == recorded
        assert _docker("tag", image, tag).returncode == 0  # other content, same tag
        again = subprocess.run(base, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        assert again.stdout == first.stdout
        assert _id(again.stdout.strip()) == recorded != _id(tag)
    finally:
        _docker("rmi", tag, f"planguard/debian-moved-test:sha256-{recorded[7:]}")
