"""The Kubernetes REST API over urllib3: credentials from a kubeconfig or the Pod's
ServiceAccount, JSON in and out, a timeout on every request.

planguard makes a dozen kinds of call (its own objects and their status, Events, Leases,
Nodes, one ConfigMap). The official client's ~250 model modules cost every process
25-40 MiB resident for none of them (an enactor was 86 MiB before reading a plan), so the
calls are spelled out here. kopf reads the same kubeconfig or ServiceAccount for its
watches (roles/runtime.py).
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
import yaml

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Connect and read limits of one request: the API server answers in milliseconds, so a
# call silent for a minute is a server or network in trouble, and the caller decides again.
TIMEOUT = urllib3.Timeout(connect=10.0, read=60.0)
# As client-go and the official client: a refused or dropped connection is tried again
# (any method: nothing reached the server), a read error only for idempotent methods, and
# a 429/503 with Retry-After (API priority and fairness, a starting server) after it.
RETRIES = urllib3.Retry(total=3, backoff_factor=0.2, raise_on_status=False,
                        respect_retry_after_header=True)
TOKEN_REREAD = 60.0  # a projected ServiceAccount token is rotated by the kubelet


class ConfigError(Exception):
    """No usable credentials; the message says which file or field and why."""


class ApiError(Exception):
    """The API server answered with an error status; `message` is its own explanation."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{reason or status} ({status}): {message}")
        self.status, self.reason, self.message = status, reason, message


@dataclass(frozen=True)
class Credentials:
    server: str
    namespace: str = "default"  # the context's, or the ServiceAccount's own
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None  # read again every TOKEN_REREAD seconds
    insecure: bool = False


def load(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """As kubectl chooses: the Pod's ServiceAccount inside a Pod unless a kubeconfig or a
    context is named (or $KUBECONFIG set), else the kubeconfig's (current) context."""
    if kubeconfig is None and context is None and "KUBECONFIG" not in os.environ \
            and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster()
    return from_kubeconfig(kubeconfig, context)


def in_cluster() -> Credentials:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get(
        "KUBERNETES_SERVICE_PORT", "443")
    token = SERVICE_ACCOUNT / "token"
    if not host or not token.exists():
        raise ConfigError("not in a Pod with a ServiceAccount token "
                          f"(KUBERNETES_SERVICE_HOST={host!r}, {token} missing)")
    ns_file = SERVICE_ACCOUNT / "namespace"
    ca = SERVICE_ACCOUNT / "ca.crt"
    return Credentials(
        server=f"https://{f'[{host}]' if ':' in host else host}:{port}",
        namespace=ns_file.read_text().strip() if ns_file.exists() else "default",
        ca_file=str(ca) if ca.exists() else None, token_file=str(token))


def from_kubeconfig(path: str | None = None, context: str | None = None) -> Credentials:
    """A kubeconfig's context: server and CA, a client certificate or a token. Credential
    plugins (exec, auth-provider) are not run: give such a user a token or a certificate."""
    if path is None:
        env = os.environ.get("KUBECONFIG", "")
        path = next((p for p in env.split(os.pathsep) if p), None) or str(
            Path.home() / ".kube" / "config")
    try:
        cfg = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read kubeconfig {path}: {e}") from e
    name = context or cfg.get("current-context")
    if not name:
        raise ConfigError(f"kubeconfig {path} has no current-context; name one with --context")
    ctx = _named(cfg, "contexts", name, path).get("context") or {}
    cluster = _named(cfg, "clusters", ctx.get("cluster"), path).get("cluster") or {}
    user = _named(cfg, "users", ctx.get("user"), path).get("user") or {} \
        if ctx.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise ConfigError(f"user {ctx.get('user')!r} in {path} uses a credential plugin, "
                          "which planguard does not run; give it a token or a client "
                          "certificate")
    if not cluster.get("server"):
        raise ConfigError(f"cluster {ctx.get('cluster')!r} in {path} has no server")
    base = Path(path).resolve().parent
    return Credentials(
        server=str(cluster["server"]).rstrip("/"),
        namespace=ctx.get("namespace") or "default",
        ca_file=_file(cluster, "certificate-authority", base),
        cert_file=_file(user, "client-certificate", base),
        key_file=_file(user, "client-key", base),
        token=user.get("token"),
        token_file=str(base / user["tokenFile"]) if user.get("tokenFile") else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify")))


def _named(cfg: dict[str, Any], section: str, name: Any, path: str) -> dict[str, Any]:
    for entry in cfg.get(section) or []:
        if entry.get("name") == name:
            return dict(entry)
    raise ConfigError(f"{section[:-1]} {name!r} not found in kubeconfig {path}")


_data_dir: str | None = None
_data_lock = threading.Lock()


def _file(section: dict[str, Any], key: str, base: Path) -> str | None:
    """A PEM's path: the field's own file, or its inline `-data` written to a private
    temporary file (ssl reads certificates and keys only from files)."""
    if section.get(key):
        return str(base / section[key])
    data = section.get(f"{key}-data")
    if not data:
        return None
    global _data_dir
    with _data_lock:
        if _data_dir is None:
            _data_dir = tempfile.mkdtemp(prefix="planguard-kube-")  # mode 0700
            atexit.register(shutil.rmtree, _data_dir, True)
        fd, name = tempfile.mkstemp(dir=_data_dir, suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data))
    return name


class Client:
    """One API server, a pool of kept-alive connections (at least as many as threads
    calling at once, or urllib3 closes the extra ones and the next request pays a new TLS
    handshake). Thread-safe."""

    def __init__(self, creds: Credentials, user_agent: str, pool_size: int = 10) -> None:
        self.creds, self.user_agent = creds, user_agent
        self.host = creds.server
        kw: dict[str, Any] = {"maxsize": pool_size, "retries": RETRIES, "timeout": TIMEOUT}
        if creds.server.startswith("https://"):
            ctx = ssl.create_default_context(cafile=creds.ca_file)
            if creds.insecure:
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                kw["cert_reqs"] = "CERT_NONE"
            if creds.cert_file:
                ctx.load_cert_chain(creds.cert_file, creds.key_file)
            kw["ssl_context"] = ctx
        self._pool = urllib3.connection_from_url(creds.server, **kw)
        self._token, self._token_read = creds.token, -1e9

    def _headers(self, content_type: str | None) -> dict[str, str]:
        h = {"User-Agent": self.user_agent, "Accept": JSON}
        if content_type:
            h["Content-Type"] = content_type
        token = self._bearer()
        if token:
            h["Authorization"] = f"Bearer {token}"
        return h

    def _bearer(self) -> str | None:
        f = self.creds.token_file
        if f and time.monotonic() - self._token_read > TOKEN_REREAD:
            self._token, self._token_read = Path(f).read_text().strip(), time.monotonic()
        return self._token

    def _send(self, method: str, path: str, query: dict[str, Any] | None, body: Any,
              content_type: str, timeout: urllib3.Timeout | None,
              preload: bool) -> urllib3.BaseHTTPResponse:
        url = path + ("?" + urlencode({k: _q(v) for k, v in query.items() if v is not None})
                      if query else "")
        data = None if body is None else body if isinstance(body, bytes) else \
            json.dumps(body, separators=(",", ":")).encode()
        resp = self._pool.urlopen(method, url, body=data,
                                  headers=self._headers(content_type if data else None),
                                  timeout=timeout or TIMEOUT, preload_content=preload,
                                  redirect=False)
        if resp.status >= 400:
            raw = resp.data if preload else resp.read()
            resp.release_conn()
            raise _error(resp.status, resp.reason or "", raw)
        return resp

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                body: Any = None, content_type: str = JSON,
                timeout: urllib3.Timeout | None = None) -> bytes:
        """The answer's bytes, unparsed (a write answers with the whole object, maybe
        megabytes, that the caller seldom needs). Raises ApiError on an error status."""
        return bytes(self._send(method, path, query, body, content_type, timeout, True).data)

    def json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.request(method, path, **kw))
        return out

    def stream(self, path: str, query: dict[str, Any],
               timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
        """A GET whose body is read as it arrives (a watch); the caller closes it."""
        return self._send("GET", path, query, None, JSON, timeout, False)


def _q(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _error(status: int, reason: str, raw: bytes) -> ApiError:
    try:
        message = json.loads(raw or b"{}").get("message") or reason
    except (ValueError, AttributeError):
        message = raw.decode(errors="replace")[:500] or reason
    return ApiError(status, reason, str(message))


# -- paths ---------------------------------------------------------------------------------
def path(group_version: str, resource: str, namespace: str | None = None,
         name: str | None = None, sub: str | None = None) -> str:
    """`/api/v1/...` for the core group ("v1"), `/apis/<group>/<version>/...` otherwise."""
    p = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    if namespace is not None:
        p += f"/namespaces/{quote(namespace, safe='')}"
    p += f"/{resource}"
    if name is not None:
        p += f"/{quote(name, safe='')}"
    if sub is not None:
        p += f"/{sub}"
    return p
