"""What makes a node's check-in count: where the lease manager asks, and the answer only
the node's agent can give.

The lease manager sends a fresh random nonce; the agent answers
HMAC-SHA256(key, node name + nonce) with the check-in key that only agents and the lease
manager hold (a Secret). A lease is renewed only on the right answer for that node, so
neither a pod that squats the agent's port nor a check-in aimed at another node's agent
makes a dead node look alive. Where the lease manager asks is the node's InternalIP and
the agent's port, never a URL that whoever may annotate a Node chose (the fleet
simulator's loopback URLs apart, when the operator allows them).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import string
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planguard.core.contract import AGENT_ANNOTATION

MIN_KEY_BYTES = 32
NONCE_HEX = 32  # 16 random bytes, hex: what the lease manager sends
MAX_NONCE_HEX = 128  # what an agent accepts; a longer nonce proves nothing more
# Domain separation: a check-in proof is never valid as any other HMAC over this key.
_CONTEXT = b"planguard-checkin\0"


def parse_key(raw: bytes) -> bytes:
    """The check-in key from a file's bytes (surrounding whitespace dropped); a short or
    empty key is refused rather than used."""
    key = raw.strip()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the check-in key has {len(key)} bytes; at least {MIN_KEY_BYTES} "
                         "are needed")
    return key


def nonce_ok(nonce: str) -> bool:
    return NONCE_HEX <= len(nonce) <= MAX_NONCE_HEX and all(
        c in string.hexdigits for c in nonce)


def proof(key: bytes, node: str, nonce: str) -> str:
    """The agent's answer for `node` to `nonce` (hex)."""
    msg = _CONTEXT + node.encode() + b"\0" + nonce.encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def verify(key: bytes, node: str, nonce: str, answer: object) -> bool:
    """Whether `answer` proves that the agent of `node` saw `nonce` (constant time)."""
    return isinstance(answer, str) and hmac.compare_digest(
        answer.encode(), proof(key, node, nonce).encode())


@dataclass(frozen=True)
class Target:
    host: str  # an IP literal: nothing is resolved
    port: int
    path: str

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"


def checkin_path(node: str) -> str:
    return f"/nodes/{urllib.parse.quote(node, safe='')}/checkin"


def target(node: Mapping[str, Any], port: int, loopback_annotations: bool) -> Target | None:
    """Where to check `node` in: its agent at its InternalIP and `port`. With
    `loopback_annotations` (the fleet simulator, many agents in one local process), the
    Node's agent-url annotation instead, if it names a loopback IP literal; any other
    annotation is ignored, so annotating a Node never aims the lease manager elsewhere."""
    name = node["metadata"]["name"]
    if loopback_annotations:
        url = ((node["metadata"].get("annotations") or {}).get(AGENT_ANNOTATION) or "")
        loop = _loopback(url, name)
        if loop:
            return loop
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            try:
                ip = ipaddress.ip_address(a.get("address", ""))
            except ValueError:
                return None
            return Target(str(ip), port, checkin_path(name))
    return None


def _loopback(url: str, node: str) -> Target | None:
    try:
        u = urllib.parse.urlsplit(url)
        ip = ipaddress.ip_address(u.hostname or "")
        port = u.port
    except ValueError:
        return None
    if u.scheme != "http" or not ip.is_loopback or not port:
        return None
    return Target(str(ip), port, checkin_path(node))  # the path is ours, not the annotation's
