"""/metrics, /healthz and /readyz name every tenant's zones: a role serves them on its pod
IP only ($POD_IP, which the chart sets; --listen-address overrides), not on every address
of its network namespace. 127.0.0.2 stands for the pod IP, 127.0.0.1 for the rest."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from harness import Bind, Processes, eventually, free_port


def _get(host: str, port: int, path: str) -> int | str:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except urllib.error.URLError as e:  # refused: nothing listens there
        return type(e.reason).__name__


@pytest.mark.parametrize("how", ["POD_IP", "--listen-address"])
def test_probes_and_metrics_only_on_the_pod_ip(procs: Processes, bind: Bind, ns: str,
                                               how: str) -> None:
    metrics, health = free_port(), free_port()
    env, args = ({"POD_IP": "127.0.0.2"}, ()) if how == "POD_IP" else (
        {"POD_IP": "127.0.0.3"}, ("--listen-address", "127.0.0.2"))
    procs.start("cleanup", "cleanup", "-n", ns, "--tsig-key", bind.key("planguard-cleanup"),
                *args, env=env, metrics_port=metrics, liveness_port=health)
    eventually(lambda: _get("127.0.0.2", health, "/healthz") == 200, timeout=30)
    assert _get("127.0.0.2", metrics, "/metrics") == 200
    for host in ("127.0.0.1", "127.0.0.3"):
        for port, path in ((metrics, "/metrics"), (health, "/healthz"), (health, "/readyz")):
            assert _get(host, port, path) == "ConnectionRefusedError", (host, path)
