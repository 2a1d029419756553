"""Where health checks may go: allowed ranges, metadata never, loopback only explicitly."""

from __future__ import annotations

import re

import pytest

from planguard.core.dnsplan.targets import (
    DEFAULT_ALLOWED,
    TargetPolicy,
    parse_cidrs,
    path_problem,
    slice_address,
)

DEFAULT = TargetPolicy(parse_cidrs(DEFAULT_ALLOWED))
EVERYTHING = TargetPolicy(parse_cidrs("0.0.0.0/0,::/0"))


@pytest.mark.parametrize("address", [
    "169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254", "100.100.100.200",
    "168.63.129.16", "FD00:EC2::254"])
def test_metadata_and_link_local_are_refused_even_when_everything_is_allowed(address) -> None:
    why = EVERYTHING.refusal(address)
    assert why is not None and "metadata" in why and "never go there" in why
    assert DEFAULT.refusal(address) is not None


def test_the_message_says_why() -> None:
    assert EVERYTHING.refusal("169.254.169.254") == (
        "target 169.254.169.254 is a metadata/link-local address; health checks never go there")


@pytest.mark.parametrize("address", ["10.1.2.3", "172.18.0.5", "192.168.1.1", "fd00:10:244::5"])
def test_private_ranges_are_allowed_by_default(address) -> None:
    assert DEFAULT.refusal(address) is None


@pytest.mark.parametrize("address", ["203.0.113.7", "100.64.0.1", "2001:db8::1", "8.8.8.8"])
def test_others_are_refused_unless_listed(address) -> None:
    why = DEFAULT.refusal(address)
    assert why is not None and "allowedCIDRs" in why
    assert EVERYTHING.refusal(address) is None


def test_loopback_only_when_a_loopback_range_is_listed() -> None:
    assert EVERYTHING.refusal("127.0.0.1") is not None  # 0.0.0.0/0 does not open loopback
    assert EVERYTHING.refusal("::1") is not None
    assert DEFAULT.refusal("127.0.0.1") is not None
    narrow = TargetPolicy(parse_cidrs("127.0.0.16/28"))
    assert narrow.refusal("127.0.0.17") is None
    assert narrow.refusal("127.0.0.1") is not None
    assert TargetPolicy(parse_cidrs("::1/128")).refusal("::1") is None


@pytest.mark.parametrize("address", [
    "64:ff9b::169.254.169.254", "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::1",
    "2001:0:4136:e378:8000:63bf:5601:5601", "64:ff9b::127.0.0.1", "64:ff9b::100.100.100.200"])
def test_translated_ipv6_reaching_metadata_or_loopback_is_refused(address) -> None:
    why = EVERYTHING.refusal(address)
    assert why is not None and "inside" in why, (address, why)


def test_translated_ipv6_reaching_elsewhere_follows_the_list() -> None:
    assert EVERYTHING.refusal("64:ff9b::10.0.0.1") is None
    assert DEFAULT.refusal("64:ff9b::10.0.0.1") is not None  # not in fc00::/7


def test_mapped_and_malformed_addresses_are_refused() -> None:
    assert EVERYTHING.refusal("::ffff:169.254.169.254") is not None
    assert EVERYTHING.refusal("::ffff:10.0.0.1") is not None
    assert EVERYTHING.refusal("metadata.google.internal") is not None


def test_parse_cidrs_names_the_bad_one() -> None:
    assert parse_cidrs(" 10.0.0.0/8, ,fc00::/7") == parse_cidrs(["10.0.0.0/8", "fc00::/7"])
    with pytest.raises(ValueError, match=re.escape("'10.0.0.1/8'")):
        parse_cidrs("10.0.0.1/8")
    with pytest.raises(ValueError, match="'x'"):
        parse_cidrs("x")


@pytest.mark.parametrize("path", ["/healthz", "/", "/a/b?c=d&e=%20", "/~x/" + "a" * 1000])
def test_relative_paths_pass(path) -> None:
    assert path_problem(path) is None


@pytest.mark.parametrize("path", [
    "http://169.254.169.254/latest/meta-data/", "//169.254.169.254/", "healthz", "",
    "/a b", "/a\r\nHost: x", "/a\tb", "/é", "/" + "a" * 1024, "\\\\x"])
def test_hostile_paths_are_refused(path) -> None:
    assert path_problem(path) is not None


def test_slice_addresses_follow_the_plan_rules() -> None:
    assert slice_address("10.0.0.1") == ("10.0.0.1", None)
    assert slice_address("2001:DB8::1") == ("2001:db8::1", None)  # the plan's canonical text
    for bad in ("169.254.169.254", "0.0.0.1", "240.0.0.1", "224.0.0.1", "::ffff:10.0.0.1",
                "fe80::1", "my-host.example", ""):
        addr, why = slice_address(bad)
        assert addr is None and why, bad
