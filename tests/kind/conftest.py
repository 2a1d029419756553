"""The kind cluster, made (or reused) once per session by hack/kind-up.sh."""

from __future__ import annotations

import pytest
from kindharness import Kind

from harness import Cluster, hack_env, run_script


@pytest.fixture(scope="session")
def kind(pytestconfig: pytest.Config) -> Kind:
    try:
        out = run_script("kind-up.sh", timeout=3600)
    except Exception as e:
        pytest.fail(f"hack/kind-up.sh failed: {e}", pytrace=False)
    tr = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        for line in out.splitlines():
            if line.startswith("==>") or "dig @" in line:
                tr.write_line("kind-up: " + line)
    cache = hack_env("PLANGUARD_CACHE")
    name = "planguard"
    c = Cluster(f"{cache}/state/kind-{name}.kubeconfig", f"{hack_env('CP_BIN_DIR')}/kubectl")
    k = Kind(c, name, "")
    k.dns_ip = k.node_ip(f"{name}-control-plane")
    return k

