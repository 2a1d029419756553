"""The real `planguard agent` process: the check-in and nothing else (no control port for
any pod on the host network to stop the node's lease), and `planguard fleet`, the simulator
that has controls, refusing to listen anywhere but loopback."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import eventually, free_port

pytestmark = pytest.mark.integration


def _call(url: str, method: str = "GET", body: object = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, {}


def _planguard(*args: str) -> list[str]:
    return [sys.executable, "-m", "planguard.cli", *args]


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    key = secrets.token_hex(32).encode()
    (tmp_path / "key").write_bytes(key)
    port = free_port()
    p = subprocess.Popen(_planguard("agent", "--node", "n1", "--listen", f"127.0.0.1:{port}",
                                    "--checkin-key-file", str(tmp_path / "key")),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            _call(f"{base}/")
            return True
        except OSError:
            return False
    try:
        eventually(up, timeout=20, what="the agent serving")
        yield base, key
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_the_agent_proves_its_node_and_has_no_controls(agent: tuple[str, bytes]) -> None:
    from planguard.core.nodelease.checkin import verify

    base, key = agent
    nonce = secrets.token_hex(16)
    status, body = _call(f"{base}/nodes/n1/checkin?nonce={nonce}")
    assert status == 200 and verify(key, "n1", nonce, body["proof"]), body
    # The attack of issue 29: stop this node's check-ins from any pod.
    for control in ({"down": ["n1"]}, {"outage": True}, {"latency": 1e308}):
        assert _call(f"{base}/control", "POST", control)[0] in (404, 405)
    assert _call(f"{base}/nodes/n1/checkin", "POST", {"down": ["n1"]})[0] == 405
    status, body = _call(f"{base}/nodes/n1/checkin?nonce={nonce[::-1]}")
    assert status == 200 and verify(key, "n1", nonce[::-1], body["proof"])
    # It proves nothing for another node (a check-in aimed at the wrong agent), nor without
    # a fresh nonce.
    assert _call(f"{base}/nodes/n2/checkin?nonce={nonce}")[0] == 404
    assert _call(f"{base}/nodes/n1/checkin")[0] == 400
    assert _call(f"{base}/nodes/n1/checkin?nonce=" + "z" * 32)[0] == 400


def test_the_agent_takes_a_rotated_key_without_a_restart(
        agent: tuple[str, bytes], tmp_path: Path) -> None:
    from planguard.core.nodelease.checkin import verify

    base, _ = agent
    new = secrets.token_hex(32).encode()
    (tmp_path / "key.new").write_bytes(new)
    (tmp_path / "key.new").replace(tmp_path / "key")  # as the kubelet updates a Secret
    nonce = secrets.token_hex(16)
    status, body = _call(f"{base}/nodes/n1/checkin?nonce={nonce}")
    assert status == 200 and verify(new, "n1", nonce, body["proof"])


def test_no_key_no_agent(tmp_path: Path) -> None:
    (tmp_path / "short").write_text("too short\n")
    r = subprocess.run(_planguard("agent", "--node", "n1", "--listen", "127.0.0.1:1",
                                  "--checkin-key-file", str(tmp_path / "short")),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "at least 32" in r.stderr
    r = subprocess.run(_planguard("agent", "--node", "n1"), capture_output=True, text=True,
                       timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "--checkin-key-file" in r.stderr


@pytest.mark.parametrize("listen", ["0.0.0.0:18599", "[::]:18599", "10.0.0.1:18599",
                                    "localhost:18599"])
def test_the_fleet_listens_on_loopback_only(tmp_path: Path, listen: str) -> None:
    (tmp_path / "key").write_text(secrets.token_hex(32))
    r = subprocess.run(_planguard("fleet", "--nodes", "1", "--listen", listen,
                                  "--checkin-key-file", str(tmp_path / "key"),
                                  "--kubeconfig", str(tmp_path / "none")),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "loopback only" in r.stderr, r.stderr
