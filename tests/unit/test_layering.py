"""The layers of operator/planguard (docs/explanation/architecture.md), checked on every run:
each module's imports, read with `ast` (in functions and under TYPE_CHECKING too), against
what its layer may import. A wrong import fails here, naming the module, line and import."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "planguard"

# What core/ may not import although it is in the standard library: every module that talks
# to the world or runs work of its own, so a decision in core/ can only be a function of
# its arguments (the roles do the I/O and pass the results in).
CORE_IO = {
    "socket": "network I/O",
    "ssl": "network I/O",
    "select": "waits on file descriptors",
    "selectors": "waits on file descriptors",
    "asyncio": "an event loop and its I/O",
    "http": "HTTP clients and servers",
    "urllib.request": "HTTP client",
    "urllib.error": "belongs to the HTTP client",
    "ftplib": "network I/O",
    "smtplib": "network I/O",
    "subprocess": "runs programs",
    "multiprocessing": "runs processes",
    "concurrent": "runs work on threads or processes",
    "threading": "runs threads (a decision is called by one, never starts one)",
    "signal": "process signals",
    "os": "files, environment and processes",
    "shutil": "files",
    "tempfile": "files",
    "pathlib": "files",
    "io": "files and streams",
    "sqlite3": "files",
    "logging": "a decision returns what happened; the role logs it",
}
# Exceptions, each with its reason. Nothing else of the list above is used in core/.
CORE_IO_ALLOWED = {
    # Heartbeats arrive from every loop's own thread: a Lock guards them, no thread is started.
    ("planguard.core.liveness", "threading"),
}
# Third-party packages core/ may use: none (pure Python on the standard library).
CORE_THIRD_PARTY: set[str] = set()
# Installed for the tests and benches only (pyproject's dev extra, tests/, bench/): a
# module of the operator that imported one would fail in the image.
TEST_ONLY = {"tests", "bench", "conftest", "harness", "faults", "pytest", "hypothesis",
             "kubernetes"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file; `from a import b` yields
    `a.b` too, since b may be a module (`from planguard.core import conditions`)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}"
            yield node.lineno, base


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_rules(name: str) -> Iterator[tuple[str, str]]:
    """(forbidden prefix, why) for the module `name`."""
    for prefix in TEST_ONLY:
        yield prefix, "tests and benches are not part of the operator"
    if within(name, "planguard.core"):
        for prefix in ("dns", "kube", "roles", "sim"):
            yield f"planguard.{prefix}", "core/ decides; the adapters and roles sit above it"
        for prefix in ("cli", "ctl", "agent", "fleet", "metrics", "probe_server", "logs",
                       "targetchecks", "keyfile"):
            yield f"planguard.{prefix}", "core/ imports only core/"
        for prefix, why in CORE_IO.items():
            if (name, prefix) not in CORE_IO_ALLOWED:
                yield prefix, f"core/ is pure: {prefix} is {why}"
    if within(name, "planguard.core.dnsplan"):
        yield "planguard.core.nodelease", "DNS plans and node leases are separate products"
    if within(name, "planguard.core.nodelease"):
        yield "planguard.core.dnsplan", "node leases and DNS plans are separate products"
    if within(name, "planguard.dns") or within(name, "planguard.kube"):
        for prefix in ("roles", "sim"):
            yield f"planguard.{prefix}", "the adapters sit below the roles and the simulator"
    if within(name, "planguard.roles"):
        yield "planguard.sim", "the roles run in production; the simulator drives them, not back"


def violations(path: Path) -> list[str]:
    name = module_name(path)
    rules = list(layer_rules(name))
    found, seen = [], set()
    for line, imported in imports(path):
        for prefix, why in rules:
            # `from a import b` is reported once, as a.b (b may be a module).
            if within(imported, prefix) and (line, prefix) not in seen:
                seen.add((line, prefix))
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} imports "
                             f"{imported}: {why}")
        top = imported.split(".")[0]
        if (within(name, "planguard.core") and top != "planguard"
                and top not in sys.stdlib_module_names and top not in CORE_THIRD_PARTY):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} imports "
                         f"{imported}: core/ uses the standard library only")
    if within(name, "planguard.core"):
        found += [f"{path.relative_to(PACKAGE.parent)}:{line}: {name} sleeps ({what}): "
                  "core/ is given the time, it never waits" for line, what in sleeps(path)]
    return sorted(set(found))


def sleeps(path: Path) -> Iterator[tuple[int, str]]:
    """`time.sleep(...)` or `from time import sleep`: the clock is injected, never waited on."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Attribute) and node.attr == "sleep"
                and isinstance(node.value, ast.Name) and node.value.id == "time"):
            yield node.lineno, "time.sleep"
        if isinstance(node, ast.ImportFrom) and node.module == "time" and any(
                a.name == "sleep" for a in node.names):
            yield node.lineno, "from time import sleep"


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_imports_respect_the_layers(path: Path) -> None:
    found = violations(path)
    assert not found, "wrong imports (the rules: layer_rules above):\n" + "\n".join(found)


def test_every_layer_is_seen() -> None:
    """The walk finds the packages the rules name (a rule over nothing cannot fail)."""
    names = {module_name(p) for p in modules()}
    for package in ("core", "core.dnsplan", "core.nodelease", "dns", "kube", "roles", "sim"):
        assert any(within(n, f"planguard.{package}") and n != f"planguard.{package}"
                   for n in names), package


def test_a_wrong_import_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself: a module of each kind of mistake is reported with its line."""
    root = tmp_path / "planguard"
    bad = {
        "core/dnsplan/bad.py": "from planguard.core.nodelease import scheduler\n",
        "core/nodelease/bad.py": "import planguard.core.dnsplan.model\n",
        "core/io.py": "def f():\n    import socket\n    time.sleep(1)\n",
        "core/rel.py": "from ..dns import wire\n",
        "core/dep.py": "import yaml\n",
        "dns/bad.py": "from planguard.roles import enactor\n",
        "roles/bad.py": "from planguard.sim.world import World\n",
        "agent.py": "from tests.harness import eventually\n",
    }
    for rel, text in bad.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    monkeypatch.setitem(globals(), "PACKAGE", root)
    found = {rel: violations(root / rel) for rel in bad}
    assert found["core/dnsplan/bad.py"] == [
        "planguard/core/dnsplan/bad.py:1: planguard.core.dnsplan.bad imports "
        "planguard.core.nodelease.scheduler: DNS plans and node leases are separate products",
    ]
    assert any("imports planguard.core.dnsplan.model" in f for f in found["core/nodelease/bad.py"])
    assert any(":2:" in f and "imports socket" in f for f in found["core/io.py"])
    assert any(":3:" in f and "sleeps (time.sleep)" in f for f in found["core/io.py"])
    assert any("imports planguard.dns.wire" in f for f in found["core/rel.py"])
    assert any("standard library only" in f for f in found["core/dep.py"])
    assert any("imports planguard.roles.enactor" in f for f in found["dns/bad.py"])
    assert any("imports planguard.sim.world" in f for f in found["roles/bad.py"])
    assert any("imports tests.harness" in f for f in found["agent.py"])
