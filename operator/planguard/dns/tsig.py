"""TSIG keys from BIND's key-file format (what `tsig-keygen` prints)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import dns.name
import dns.tsig

_KEY = re.compile(
    r'key\s+"?(?P<name>[^"\s{]+)"?\s*\{\s*algorithm\s+"?(?P<alg>[\w.-]+)"?\s*;'
    r'\s*secret\s+"(?P<secret>[^"]+)"\s*;\s*\}\s*;', re.S,
)


class _Key(dns.tsig.Key):
    """dnspython's key, whose own repr prints the secret (a log line, a traceback)."""

    def __repr__(self) -> str:
        return f"<DNS key name='{self.name}', algorithm='{self.algorithm}', secret=<redacted>>"


@dataclass(frozen=True)
class TsigKey:
    name: str
    algorithm: str
    secret: str = field(repr=False)  # every config holding a key prints it redacted

    @cached_property
    def dns_key(self) -> dns.tsig.Key:
        """The one form the DNS code passes around (transfer, pipeline, signing)."""
        return _Key(self.keyname, self.secret, self.algorithm)

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        """For dnspython's own query functions (tests, tools)."""
        return {self.keyname: self.dns_key}

    @property
    def keyname(self) -> dns.name.Name:
        return dns.name.from_text(self.name)


def parse_key(text: str) -> TsigKey:
    m = _KEY.search(text)
    if not m:
        raise ValueError(
            'not a BIND key file: expected key "name" { algorithm ...; secret "..."; };'
        )
    return TsigKey(m["name"], m["alg"], m["secret"])


def load_key(path: str | Path) -> TsigKey:
    return parse_key(Path(path).read_text())
