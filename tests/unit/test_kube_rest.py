"""kube/rest.py without a server: which credentials a kubeconfig gives, paths, errors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from planguard.core import timefmt
from planguard.kube import rest


def kubeconfig(tmp_path: Path, **user: object) -> str:
    cfg = {
        "current-context": "a",
        "contexts": [{"name": "a", "context": {"cluster": "c1", "user": "u1"}},
                     {"name": "b", "context": {"cluster": "c2", "user": "u1",
                                               "namespace": "team-b"}}],
        "clusters": [
            {"name": "c1", "cluster": {"server": "https://127.0.0.1:6443/",
                                       "certificate-authority": "ca.pem"}},
            {"name": "c2", "cluster": {"server": "https://10.0.0.1",
                                       "certificate-authority-data":
                                           base64.b64encode(b"CA PEM").decode(),
                                       "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u1", "user": user or {"token": "t0k"}}],
    }
    p = tmp_path / "kubeconfig"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def test_the_current_context_with_a_file_path_relative_to_the_kubeconfig(
        tmp_path: Path) -> None:
    c = rest.from_kubeconfig(kubeconfig(tmp_path))
    assert c.server == "https://127.0.0.1:6443"
    assert c.ca_file == str(tmp_path / "ca.pem")
    assert (c.token, c.namespace, c.insecure) == ("t0k", "default", False)


def test_a_named_context_with_inline_data_written_to_a_private_file(tmp_path: Path) -> None:
    data = base64.b64encode(b"CERT").decode()
    c = rest.from_kubeconfig(kubeconfig(tmp_path, **{"client-certificate-data": data,
                                                     "client-key": "key.pem"}), "b")
    assert (c.server, c.namespace, c.insecure, c.token) == (
        "https://10.0.0.1", "team-b", True, None)
    assert c.ca_file and Path(c.ca_file).read_bytes() == b"CA PEM"
    assert c.cert_file and Path(c.cert_file).read_bytes() == b"CERT"
    assert Path(c.cert_file).parent.stat().st_mode & 0o077 == 0  # only this user reads it
    assert c.key_file == str(tmp_path / "key.pem")


@pytest.mark.parametrize(("user", "context", "says"), [
    ({"exec": {"command": "aws"}}, None, "credential plugin"),
    ({"token": "x"}, "nope", "context 'nope' not found"),
])
def test_what_cannot_be_used_is_said(tmp_path: Path, user: dict, context: str | None,
                                     says: str) -> None:
    with pytest.raises(rest.ConfigError, match=says):
        rest.from_kubeconfig(kubeconfig(tmp_path, **user), context)


def test_a_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(rest.ConfigError, match="cannot read kubeconfig"):
        rest.from_kubeconfig(str(tmp_path / "absent"))


def test_paths_of_core_and_group_resources() -> None:
    assert rest.path("v1", "nodes", name="n1") == "/api/v1/nodes/n1"
    assert rest.path("v1", "events", "ns") == "/api/v1/namespaces/ns/events"
    assert rest.path("planguard.io/v1alpha1", "dnsplans", "ns", "z-1", "status") == \
        "/apis/planguard.io/v1alpha1/namespaces/ns/dnsplans/z-1/status"


def test_an_error_carries_the_servers_own_message() -> None:
    e = rest._error(404, "Not Found", b'{"kind":"Status","message":"x \\"y\\" not found"}')
    assert (e.status, e.message, str(e)) == (404, 'x "y" not found',
                                             'Not Found (404): x "y" not found')
    assert rest._error(502, "Bad Gateway", b"<html>").message == "<html>"


def test_micro_time_always_has_six_fractional_digits() -> None:
    assert timefmt.micro(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == \
        "2026-01-02T03:04:05.000000Z"
