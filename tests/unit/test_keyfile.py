"""A key file read again when it changes, as the kubelet swaps a Secret volume's files."""

import os
from pathlib import Path

import pytest

from planguard.core.nodelease.checkin import parse_key
from planguard.keyfile import KeyFile


def _swap(path: Path, content: bytes) -> None:
    """What the kubelet does to a Secret volume: new file, then an atomic rename."""
    tmp = path.with_suffix(".new")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def test_a_rotated_key_is_read_again(tmp_path: Path) -> None:
    p = tmp_path / "key"
    p.write_bytes(b"a" * 32 + b"\n")
    k = KeyFile(str(p), parse_key)
    assert k.get() == b"a" * 32
    _swap(p, b"b" * 40)
    assert k.get() == b"b" * 40


def test_a_broken_update_keeps_the_last_good_key(tmp_path: Path) -> None:
    p = tmp_path / "key"
    p.write_bytes(b"a" * 32)
    k = KeyFile(str(p), parse_key)
    _swap(p, b"short")
    assert k.get() == b"a" * 32
    p.unlink()
    assert k.get() == b"a" * 32
    _swap(p, b"c" * 32)
    assert k.get() == b"c" * 32


def test_no_good_key_at_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        KeyFile(str(tmp_path / "missing"), parse_key)
    (tmp_path / "short").write_bytes(b"x")
    with pytest.raises(ValueError, match="at least 32"):
        KeyFile(str(tmp_path / "short"), parse_key)
