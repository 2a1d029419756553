"""Where the lease manager checks a node in when no annotation says: its agent on the
node's InternalIP (the chart's hostNetwork DaemonSet), never the kubelet's port."""

from planguard.roles.leases import agent_url


def _node(*addresses: tuple[str, str]) -> dict:
    return {"metadata": {"name": "w1"},
            "status": {"addresses": [{"type": t, "address": a} for t, a in addresses]}}


def test_the_internal_ip_and_the_agents_port_and_path() -> None:
    n = _node(("Hostname", "w1"), ("InternalIP", "172.18.0.3"))
    assert agent_url(n, 10251) == "http://172.18.0.3:10251/nodes/w1/checkin"


def test_an_ipv6_address_is_bracketed() -> None:
    assert agent_url(_node(("InternalIP", "fc00::3")), 9) == "http://[fc00::3]:9/nodes/w1/checkin"


def test_no_internal_ip_no_url() -> None:
    assert agent_url(_node(("ExternalIP", "192.0.2.1")), 10251) == ""
