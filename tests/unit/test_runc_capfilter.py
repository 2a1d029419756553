"""hack/kind/runc-capfilter: the runc wrapper that makes `docker run --privileged` (and so
kind's nodes) work where the capability bounding set lacks some capability."""

from __future__ import annotations

import json
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

from harness import REPO


def _load() -> ModuleType:
    loader = SourceFileLoader("runc_capfilter", str(REPO / "hack/kind/runc-capfilter"))
    spec = spec_from_loader("runc_capfilter", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


capfilter = _load()
# This machine's bounding set: every capability up to CHECKPOINT_RESTORE but SYS_RESOURCE.
STATUS = "Name:\tx\nCapPrm:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n"


def test_bounding_set_reads_the_mask_by_capability_number() -> None:
    allowed = capfilter.bounding_set(STATUS)
    assert "CAP_SYS_RESOURCE" not in allowed
    assert {"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHECKPOINT_RESTORE"} <= allowed
    assert len(allowed) == 40


def test_filter_process_cuts_every_set_and_says_whether_it_changed() -> None:
    allowed = capfilter.bounding_set(STATUS)
    process = {"capabilities": {k: ["CAP_SYS_ADMIN", "CAP_SYS_RESOURCE"]
                                for k in ("bounding", "effective", "permitted", "ambient")}}
    assert capfilter.filter_process(process, allowed)
    assert all(v == ["CAP_SYS_ADMIN"] for v in process["capabilities"].values())
    assert not capfilter.filter_process(process, allowed)  # already within the set
    assert not capfilter.filter_process({"args": ["sh"]}, allowed)  # no capabilities at all


def test_target_finds_the_bundle_or_the_process_file() -> None:
    base = ["--root", "/run/runc", "--log", "/x/log.json", "--log-format", "json"]
    assert capfilter.target([*base, "create", "--bundle", "/b", "--pid-file", "p", "id"]) == (
        "/b/config.json", "process")
    assert capfilter.target([*base, "run", "--bundle=/b2", "id"]) == ("/b2/config.json", "process")
    assert capfilter.target([*base, "create", "id"]) == ("./config.json", "process")
    assert capfilter.target([*base, "exec", "--process", "/tmp/p.json", "--detach", "id"]) == (
        "/tmp/p.json", None)
    assert capfilter.target([*base, "start", "id"]) is None
    assert capfilter.target([*base, "exec", "id", "true"]) is None


def test_rewrite_edits_config_json_in_place(tmp_path: Path) -> None:
    allowed = capfilter.bounding_set(STATUS)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"ociVersion": "1.0.2", "process": {"capabilities": {
        "bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"]}}}))
    capfilter.rewrite(str(config), allowed, "process")
    doc = json.loads(config.read_text())
    assert doc["process"]["capabilities"]["bounding"] == ["CAP_CHOWN"]
    assert doc["ociVersion"] == "1.0.2"
    spec = tmp_path / "process.json"
    spec.write_text(json.dumps({"capabilities": {"effective": ["CAP_SYS_RESOURCE"]}}))
    capfilter.rewrite(str(spec), allowed, None)
    assert json.loads(spec.read_text())["capabilities"]["effective"] == []
