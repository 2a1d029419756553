"""A TSIG key never shows its secret: not in repr/str, not in a config that holds it, not
in a log line (text or JSON) that formats it, not in dnspython's key object."""

from __future__ import annotations

import base64
import io
import logging

import pytest

from planguard import logs
from planguard.dns.tsig import parse_key
from planguard.roles.enactor import EnactorConfig

SECRET = base64.b64encode(b"\x8f" * 32).decode()
KEY_FILE = f'key "planguard-enactor-az1" {{\n\talgorithm hmac-sha256;\n\tsecret "{SECRET}";\n}};\n'
RAW = base64.b64decode(SECRET)


def _shown(text: str) -> bool:
    return SECRET in text or SECRET.rstrip("=") in text or repr(RAW) in text


def test_key_and_its_holders_print_no_secret() -> None:
    key = parse_key(KEY_FILE)
    assert key.secret == SECRET  # the key works: only its printing is redacted
    assert key.dns_key.secret == RAW
    config = EnactorConfig(enactor_id="az1", key=key)
    for obj in (key, key.dns_key, config, key.keyring()):
        for text in (repr(obj), str(obj), f"{obj}", f"{obj!r}"):
            assert "planguard-enactor-az1" in text or obj is config
            assert not _shown(text), text


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_lines_print_no_secret(fmt: str) -> None:
    key = parse_key(KEY_FILE)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter() if fmt == "json" else logs.TextFormatter())
    log = logging.getLogger("test_tsig_repr")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("key %s dns %r config %s", key, key.dns_key,
                    EnactorConfig(enactor_id="az1", key=key), extra={"planguard": {"key": key}})
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "planguard-enactor-az1" in text
    assert not _shown(text), text
