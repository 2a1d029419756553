"""The TSIG key files hack/ writes for the local servers are readable by their owner only:
another user on the machine (or a process running as one) cannot sign DNS updates."""

from __future__ import annotations

import stat
from pathlib import Path

from harness import Bind, PowerDns, hack_env


def test_bind_key_files_are_owner_only(bind: Bind) -> None:
    files = [*sorted(bind.keys.glob("*.key")), bind.keys.parent / "rndc.key"]
    assert len(files) > 2
    modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
    assert set(modes.values()) == {"0o400"}, modes
    assert oct(stat.S_IMODE(Path(bind.keys).stat().st_mode)) == "0o700"


def test_powerdns_database_with_the_imported_keys_is_owner_only(pdns: PowerDns) -> None:
    db = Path(hack_env("PDNS_DIR", "pdns")) / "pdns.sqlite3"
    assert db.exists()
    assert oct(stat.S_IMODE(db.parent.stat().st_mode)) == "0o700"


def test_control_plane_keys_and_kubeconfig_are_owner_only(cluster: object) -> None:
    """The local API server's CA and service-account signing keys, and the admin
    kubeconfig (it embeds the admin's private key): a cluster-admin credential each."""
    cp = Path(hack_env("PLANGUARD_STATE", "versions")) / "cp"
    files = [*sorted((cp / "pki").glob("*.key")), cp / "kubeconfig"]
    assert len(files) >= 4
    modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
    assert all(not int(m, 8) & 0o077 for m in modes.values()), modes
    assert oct(stat.S_IMODE((cp / "pki").stat().st_mode)) == "0o700"
