"""The locks every install uses (hack/lock.py writes them): each package pinned to one
version with its files' hashes, the build backend pinned in pyproject.toml and in its lock,
the locks consistent with pyproject.toml's ranges, and every install from a lock made
with pip's --require-hashes. Drift in any of these fails here, before an image is built."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCKS = ("requirements.lock", "requirements-build.lock", "requirements-dev.lock")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)$")
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")
Locks = dict[str, dict[str, tuple[str, list[str]]]]


def parse_lock(text: str) -> dict[str, tuple[str, list[str]]]:
    """Name -> (version, hashes); refuses anything but `name==version` followed by hashes."""
    pins: dict[str, tuple[str, list[str]]] = {}
    for entry in text.replace("\\\n", " ").splitlines():
        words = entry.split("#", 1)[0].split()
        if not words:
            continue
        pin = PIN.match(words[0])
        assert pin, f"not an exact pin: {entry!r}"
        name = canonicalize_name(pin[1])
        assert name not in pins, f"{name} pinned twice"
        assert words[1:], f"{name} has no --hash"
        bad = [w for w in words[1:] if not HASH.match(w)]
        assert not bad, f"{name}: not a sha256 hash: {bad}"
        pins[name] = (pin[2], words[1:])
    return pins


@pytest.fixture(scope="module")
def locks() -> Locks:
    return {lock: parse_lock((REPO / lock).read_text()) for lock in LOCKS}


@pytest.fixture(scope="module")
def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_line_of_every_lock_is_pinned_and_hashed(locks: Locks) -> None:
    assert all(locks.values())
    names = [name for pins in locks.values() for name in pins]
    assert len(names) == len(set(names)), "a package pinned in two locks"


@pytest.mark.parametrize("entry", [
    "kopf>=1.44.6 \\\n    --hash=sha256:" + "a" * 64,
    "kopf==1.45.2",
    "kopf==1.45.2 \\\n    --hash=md5:" + "a" * 32,
    "kopf==1.45.2 \\\n    --hash=sha256:" + "a" * 63,
    "kopf==1.45.2 --hash=sha256:" + "a" * 64 + " --index-url=http://mirror.invalid/",
    "-e . --hash=sha256:" + "a" * 64,
    "kopf==1.45.2 --hash=sha256:" + "a" * 64 + "\nkopf==1.45.2 --hash=sha256:" + "b" * 64,
])
def test_a_lock_without_exact_pins_or_hashes_is_refused(entry: str) -> None:
    with pytest.raises(AssertionError):
        parse_lock(entry)


def exact_pin(spec: str) -> tuple[str, str]:
    """(name, version) of a requirement that allows one exact version only."""
    req = Requirement(spec)
    only = list(req.specifier)
    assert len(only) == 1 and only[0].operator == "==" and "*" not in only[0].version, spec
    return canonicalize_name(req.name), only[0].version


def test_the_build_backend_is_pinned_and_locked(pyproject: dict[str, object], locks: Locks) -> None:
    build = pyproject["build-system"]
    assert isinstance(build, dict)
    for spec in build["requires"]:
        name, version = exact_pin(spec)
        assert locks["requirements-build.lock"][name][0] == version
    assert "pip" in locks["requirements-build.lock"]


@pytest.mark.parametrize("spec", ["setuptools>=77", "setuptools", "setuptools==84.*",
                                  "setuptools==84.2.1,<85", "setuptools~=84.2"])
def test_a_build_backend_with_a_range_is_refused(spec: str) -> None:
    with pytest.raises(AssertionError):
        exact_pin(spec)


def test_the_locks_satisfy_pyproject(pyproject: dict[str, object], locks: Locks) -> None:
    project = pyproject["project"]
    assert isinstance(project, dict)
    run = locks["requirements.lock"]
    both = {**run, **locks["requirements-dev.lock"]}
    for spec, pins in [(s, run) for s in project["dependencies"]] + [
            (s, both) for s in project["optional-dependencies"]["dev"]]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{spec} is not locked: run hack/lock.py"
        assert req.specifier.contains(pins[name][0], prereleases=True), (spec, pins[name][0])


def _commands(path: Path) -> list[str]:
    text = path.read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if not line.lstrip().startswith("#")]


@pytest.mark.parametrize("script", ["Dockerfile", "hack/install-python.sh"])
def test_every_install_from_a_lock_requires_hashes(script: str) -> None:
    from_lock = re.compile(r"-r\s+\S*\.lock")
    installs = [part for command in _commands(REPO / script)
                for part in re.split(r"&&|;", command) if from_lock.search(part)]
    assert installs
    for part in installs:
        assert "--require-hashes" in part, part
