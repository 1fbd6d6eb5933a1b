"""The webhook address policy (delivery/addresses.py) and the endpoint breaker (delivery/breaker.py):
pure rules, no I/O."""

import ipaddress

import pytest

from district_engine.delivery.addresses import blocked_reason, host_ip
from district_engine.delivery.breaker import Breaker

# Every way of writing an address inside the deployment that a URL's host can carry, with the
# address the C resolver reads it as.
BLOCKED = [
    ("127.0.0.1", "loopback"), ("2130706433", "loopback"), ("0x7f000001", "loopback"), ("0X7F000001", "loopback"),
    ("0177.0.0.1", "loopback"), ("0177.0000.0000.0001", "loopback"), ("127.1", "loopback"), ("127.0.1", "loopback"),
    ("0x7f.1", "loopback"), ("0x7f.0.0.0x1", "loopback"), ("017700000001", "loopback"), ("127.0.0.1.", "loopback"),
    ("0", "unspecified"), ("0.0.0.0", "unspecified"), ("0x0", "unspecified"),
    ("10.0.0.1", "private"), ("167772161", "private"), ("012.1", "private"), ("172.16.0.1", "private"),
    ("192.168.1.1", "private"), ("0xc0.0xa8.1.1", "private"),
    ("169.254.169.254", "link-local"), ("2852039166", "link-local"), ("0xa9fea9fe", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"), ("100.127.255.254", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("192.0.2.1", "reserved"), ("198.18.0.1", "reserved"),
    ("::1", "loopback"), ("[::1]", "loopback"), ("0:0:0:0:0:0:0:1", "loopback"), ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:7f00:1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"), ("::127.0.0.1", "loopback"), ("::10.0.0.1", "private"),
    ("64:ff9b::127.0.0.1", "loopback"), ("2002:7f00:1::", "loopback"), ("2002:a9fe:a9fe::1", "link-local"),
    ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"), ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("ff02::1", "multicast"), ("2001:db8::1", "reserved"), ("100::1", "reserved"), ("2001::1", "reserved"),
]
PUBLIC = ["8.8.8.8", "134744072", "0x08080808", "1.1.1.1", "93.184.215.14", "100.63.255.255", "100.128.0.1",
          "::ffff:8.8.8.8", "64:ff9b::808:808", "2606:4700:4700::1111", "2a00:1450::1"]


@pytest.mark.parametrize("host, why", BLOCKED)
def test_every_spelling_of_an_inside_address_is_blocked(host, why):
    ip = host_ip(host)
    assert ip is not None, host
    assert blocked_reason(ip) == why


@pytest.mark.parametrize("host", PUBLIC)
def test_public_addresses_pass(host):
    assert blocked_reason(host_ip(host)) is None


@pytest.mark.parametrize("host", ["example.com", "push.example.com.", "1.2.3.4.5", "256.1.1.1", "08.1", "0x1g",
                                  "127.0.0.1.example.com", "1.16777216", ""])
def test_names_and_non_numbers_are_left_to_the_resolver(host):
    assert host_ip(host) is None


def test_numeric_spellings_mean_what_the_c_resolver_reads():
    assert host_ip("127.1") == ipaddress.ip_address("127.0.0.1")
    assert host_ip("1.2.65535") == ipaddress.ip_address("1.2.255.255")
    assert host_ip("0x01.0x02.0x0304") == ipaddress.ip_address("1.2.3.4")


def test_the_breaker_opens_after_failures_in_a_row_and_probes_once_per_cooldown():
    b = Breaker(failures_to_open=3, cooldown_s=10, max_cooldown_s=40)
    for t in range(2):
        assert b.allow(t)
        b.record(False, t)
    b.record(True, 2)  # a success in between: in a row starts again
    for t in range(3, 6):
        assert b.allow(t)
        b.record(False, t)
    assert b.state(6) == "open" and not b.allow(14.9)
    assert b.allow(15) and not b.allow(15.1)  # half-open: one probe, the others wait for it
    b.record(False, 16)  # the probe failed: twice as long
    assert b.state(35.9) == "open" and b.state(36) == "half_open"
    assert b.allow(36)
    b.record(True, 36.5)
    assert b.state(36.5) == "closed" and b.allow(37) and b.allow(37)


def test_failures_of_requests_in_flight_when_it_opened_do_not_push_the_probe_back():
    b = Breaker(failures_to_open=2, cooldown_s=10)
    for _ in range(5):  # five in flight fail at once
        b.record(False, 0)
    assert b.open_until == 10 and b.allow(10)


def test_what_an_owner_sees_of_a_failure_is_a_class_never_the_socket_error():
    import asyncio
    import ssl

    import aiohttp
    from aiohttp.client_reqrep import ConnectionKey

    from district_engine.delivery.addresses import BlockedAddressError
    from district_engine.delivery.resolver import UnresolvedError
    from district_engine.delivery.sender import error_class

    key = ConnectionKey("10.0.0.7", 8080, False, True, None, None, None)
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused to 10.0.0.7:8080"))
    unreachable = aiohttp.ClientConnectorError(key, OSError(113, "No route to host"))
    cases = {BlockedAddressError("x", field="url"): "blocked_address", asyncio.TimeoutError(): "timeout",
             refused: "connection_refused", unreachable: "connection_failed",
             UnresolvedError("nope.example does not resolve"): "dns", ssl.SSLError("bad cert"): "tls",
             aiohttp.ServerDisconnectedError(): "connection_error"}
    for exc, expected in cases.items():
        assert error_class(exc) == expected, exc
