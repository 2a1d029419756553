"""planguard's one-pass UPDATE encoder against dnspython's UpdateMessage: same sections,
a TSIG that verifies. Pure: no sockets."""

import dns.exception
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planguard.dns import wire

ZONE = dns.name.from_text("example.test.")
KEY = dns.tsig.Key("enactor-a.", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "hmac-sha256")
RING = {KEY.name: KEY}


def sections(msg: dns.message.Message) -> list[list[str]]:
    """Each section as sorted RR lines, absolute names, so encodings compare by meaning."""
    return [sorted(rr.to_text() for rr in sec) for sec in msg.sections]


def reference() -> dns.update.UpdateMessage:
    u = dns.update.UpdateMessage(ZONE, keyring=RING, keyname=KEY.name,
                                 keyalgorithm=KEY.algorithm)
    u.present("_planguard", "TXT", '"gen=3 by=a"')
    u.replace("_planguard", 0, "TXT", '"gen=4 by=a"')
    u.present("_planguard.api", "TXT", '"gen=3 plan=p-3 by=a"')
    u.present("api", "A", "10.0.0.1", "10.0.0.2")
    u.absent("api", "AAAA")
    u.replace("api", 60, "A", "10.0.0.3")
    u.replace("api", 60, "AAAA", "2001:db8::1")
    u.replace("_planguard.api", 0, "TXT", '"gen=4 plan=p-4 by=a"')
    u.absent("_planguard.new", "TXT")
    u.absent("new", "A")
    u.delete("new", "AAAA")
    return u


def ours() -> wire.SignedUpdate:
    u = wire.UpdateBuilder(ZONE)
    u.present("_planguard", wire.TXT, [wire.txt_rdata('"gen=3 by=a"')])
    u.replace("_planguard", wire.TXT, 0, [wire.txt_rdata('"gen=4 by=a"')])
    u.present("_planguard.api", wire.TXT, [wire.txt_rdata('"gen=3 plan=p-3 by=a"')])
    u.present("api", wire.A, [wire.address_rdata(wire.A, a) for a in ("10.0.0.1", "10.0.0.2")])
    u.absent("api", wire.AAAA)
    u.replace("api", wire.A, 60, [wire.address_rdata(wire.A, "10.0.0.3")])
    u.replace("api", wire.AAAA, 60, [wire.address_rdata(wire.AAAA, "2001:db8::1")])
    u.replace("_planguard.api", wire.TXT, 0, [wire.txt_rdata('"gen=4 plan=p-4 by=a"')])
    u.absent("_planguard.new", wire.TXT)
    u.absent("new", wire.A)
    u.delete("new", wire.AAAA)
    return u.sign(4242, KEY)


def test_same_message_as_dnspython_and_the_tsig_verifies():
    signed = ours()
    parsed = dns.message.from_wire(signed.wire, keyring=RING)  # raises if the MAC is wrong
    assert parsed.id == 4242 and parsed.opcode() == dns.opcode.UPDATE
    assert parsed.had_tsig and parsed.mac == signed.mac
    ref = dns.message.from_wire(reference().to_wire(), keyring=RING)
    assert sections(parsed) == sections(ref)


def test_a_tampered_message_fails_verification():
    signed = ours()
    bad = bytearray(signed.wire)
    bad[40] ^= 0x01
    with pytest.raises(dns.tsig.BadSignature):
        dns.message.from_wire(bytes(bad), keyring=RING)


def test_a_wrong_key_is_detected():
    other = dns.tsig.Key("enactor-a.", "b3RoZXItb3RoZXItb3RoZXItb3RoZXI=", "hmac-sha256")
    signed = wire.UpdateBuilder(ZONE).sign(1, other)
    with pytest.raises(dns.tsig.BadSignature):
        dns.message.from_wire(signed.wire, keyring=RING)


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200))
def test_txt_rdata_matches_dnspython_for_any_printable_text(s: str) -> None:
    text = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ref = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text).to_wire()
    assert wire.txt_rdata(text) == ref


def test_owner_names_are_compressed_against_the_zone_and_escapes_are_honoured():
    assert wire.owner("@") == b"\xc0\x0c"
    assert wire.owner("_planguard.api") == b"\x0a_planguard\x03api\xc0\x0c"
    assert wire.owner(r"a\.b") == b"\x03a.b\xc0\x0c"


@given(st.lists(st.text("abcXYZ09_-.\\*@ ", min_size=1, max_size=70), min_size=1,
                max_size=4).map(".".join))
def test_owner_matches_dnspython_for_any_name(name: str) -> None:
    try:
        ref = dns.name.from_text(name, origin=None)
    except dns.exception.DNSException:
        with pytest.raises(dns.exception.DNSException):
            wire.owner.__wrapped__(name)
        return
    if name in ("@", ""):
        return
    labels = b"".join(bytes([len(label)]) + label for label in ref.labels)
    assert wire.owner.__wrapped__(name) == labels + b"\xc0\x0c"


def test_a_message_over_64_kib_is_refused():
    u = wire.UpdateBuilder(ZONE)
    for i in range(3000):
        u.replace(f"endpoint-number-{i}", wire.A, 60, [wire.address_rdata(wire.A, "10.0.0.1")])
    with pytest.raises(ValueError, match="64 KiB"):
        u.sign(1, KEY)
