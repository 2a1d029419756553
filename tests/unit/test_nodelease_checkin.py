"""What makes a check-in count (core/nodelease/checkin.py): the proof only the key's holder can give
for that node and nonce, and where the lease manager asks: the node's InternalIP, never
where an annotation points (loopback for the fleet simulator apart, when allowed)."""

import pytest

from planguard.core.contract import AGENT_ANNOTATION
from planguard.core.nodelease import checkin

KEY = b"k" * 32
NONCE = "0123456789abcdef" * 2


def _node(*addresses: tuple[str, str], url: str | None = None) -> dict:
    meta: dict = {"name": "w1"}
    if url is not None:
        meta["annotations"] = {AGENT_ANNOTATION: url}
    return {"metadata": meta,
            "status": {"addresses": [{"type": t, "address": a} for t, a in addresses]}}


def test_the_proof_is_for_that_node_that_nonce_and_that_key() -> None:
    p = checkin.proof(KEY, "w1", NONCE)
    assert checkin.verify(KEY, "w1", NONCE, p)
    assert not checkin.verify(KEY, "w2", NONCE, p)  # another node's agent
    assert not checkin.verify(KEY, "w1", "f" * 32, p)  # a replayed answer
    assert not checkin.verify(b"x" * 32, "w1", NONCE, p)  # another key
    # No ambiguity between the node's name and the nonce.
    assert checkin.proof(KEY, "w1a", "b" * 32) != checkin.proof(KEY, "w1", "ab" + "b" * 31)
    for wrong in (None, 1, "", p.upper()[:-1], {"proof": p}):
        assert not checkin.verify(KEY, "w1", NONCE, wrong)


def test_keys_and_nonces_too_short_or_not_hex_are_refused() -> None:
    assert checkin.parse_key(b"  " + KEY + b"\n") == KEY
    for short in (b"", b"\n", b"x" * 31):
        with pytest.raises(ValueError, match="at least 32"):
            checkin.parse_key(short)
    assert checkin.nonce_ok(NONCE) and checkin.nonce_ok("A" * 128)
    for bad in ("", "ab", "g" * 32, "a" * 129, "0x" + "a" * 30, "a" * 31 + " "):
        assert not checkin.nonce_ok(bad), bad


def test_the_internal_ip_and_the_agents_port_and_path() -> None:
    n = _node(("Hostname", "w1"), ("InternalIP", "172.18.0.3"))
    t = checkin.target(n, 10251, False)
    assert t is not None and t.url() == "http://172.18.0.3:10251/nodes/w1/checkin"


def test_an_ipv6_address_is_bracketed() -> None:
    t = checkin.target(_node(("InternalIP", "fc00::3")), 9, False)
    assert t is not None and t.url() == "http://[fc00::3]:9/nodes/w1/checkin"


def test_no_internal_ip_no_target() -> None:
    assert checkin.target(_node(("ExternalIP", "192.0.2.1")), 10251, False) is None
    assert checkin.target(_node(("InternalIP", "node.example")), 10251, False) is None


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]:80/",
    "http://10.0.0.1:10251/nodes/w1/checkin",
    "http://localhost:18500/nodes/w1/checkin",  # a name, resolved by who knows
    "https://127.0.0.1:18500/nodes/w1/checkin",
    "http://127.0.0.1/nodes/w1/checkin",  # no port
    "http://[::1:18500/",
])
def test_an_annotation_never_aims_the_lease_manager_elsewhere(url: str) -> None:
    n = _node(("InternalIP", "172.18.0.3"), url=url)
    for allowed in (False, True):
        t = checkin.target(n, 10251, allowed)
        assert t is not None and t.url() == "http://172.18.0.3:10251/nodes/w1/checkin"


def test_loopback_annotations_only_when_allowed_and_with_our_own_path() -> None:
    n = _node(url="http://127.0.0.1:18500/control?x=1")
    assert checkin.target(n, 10251, False) is None
    t = checkin.target(n, 10251, True)
    assert t is not None and t.url() == "http://127.0.0.1:18500/nodes/w1/checkin"
    t6 = checkin.target(_node(url="http://[::1]:7/nodes/w1/checkin"), 10251, True)
    assert t6 is not None and t6.url() == "http://[::1]:7/nodes/w1/checkin"


def test_a_node_name_cannot_leave_the_checkin_path() -> None:
    assert checkin.checkin_path("a/../../control") == "/nodes/a%2F..%2F..%2Fcontrol/checkin"
