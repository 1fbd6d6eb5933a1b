"""Which addresses a webhook may connect to: the one address policy, used at registration and at
every connection. Pure: hosts and addresses in, verdicts out (resolving names is resolver.py's job).

An endpoint URL is chosen by an operator or a channel, and the sender connects from inside the
deployment, so an address inside it (loopback, the private networks, the cloud metadata service on
link-local 169.254.169.254, a carrier-grade NAT range, ...) would let a tenant make the engine call
what only the engine should reach. Only global unicast addresses pass. IPv6 forms that carry an
IPv4 address (mapped ``::ffff:a.b.c.d``, compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``) are judged by that IPv4 address. Hosts are read as the C resolver reads them
(``inet_aton``), so every numeric spelling of an address is that address: ``2130706433``,
``0x7f000001``, ``0177.0.0.1``, ``127.1`` and ``0`` are all loopback or unspecified.
"""

from __future__ import annotations

import ipaddress
import re

from district_engine.errors import InvalidInputError

__all__ = ["BlockedAddressError", "IPAddress", "blocked_reason", "host_ip", "check_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# (network, why), first match wins. Explicit rather than ``ip.is_global``, whose tables changed
# between Python patch releases (3.11.10 among them) and which calls multicast global.
_V4 = [(ipaddress.ip_network(n), why) for n, why in (
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "reserved"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "reserved"),
    ("203.0.113.0/24", "reserved"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # and the broadcast address 255.255.255.255
)]
_V6 = [(ipaddress.ip_network(n), why) for n, why in (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    ("100::/64", "reserved"),  # discard
    ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo among them
    ("2001:db8::/32", "reserved"),  # documentation
    ("fc00::/7", "private"),  # unique local
    ("fe80::/10", "link-local"),
    ("fec0::/10", "private"),  # site-local, deprecated
    ("ff00::/8", "multicast"),
)]
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_V4_PART = re.compile(r"0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*")


class BlockedAddressError(InvalidInputError):
    """A webhook URL's host is, or resolves to, an address the engine must not connect to."""

    code = "blocked_address"


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def blocked_reason(ip: IPAddress) -> str | None:
    """Why the sender must not connect to ``ip`` ("loopback", "private", ...), or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ip if ip.scope_id is None else ipaddress.IPv6Address(ip.compressed.split("%")[0])
        v4 = _embedded_v4(ip)
        if v4 is not None:
            return blocked_reason(v4)
        table = _V6
    else:
        table = _V4
    why = next((why for net, why in table if ip in net), None)
    if why is None and isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST:
        why = "reserved"
    return why


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a numeric host means to the C resolver: 1 to 4 parts, each decimal, octal
    (leading 0) or hex (0x); the last part fills the bytes left. None if it is not one."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":  # a trailing dot, as in a fully qualified name
        parts.pop()
    if not 1 <= len(parts) <= 4 or not all(_V4_PART.fullmatch(p) for p in parts):
        return None
    values = [int(p[2:] or "0", 16) if p.startswith("0x") else int(p, 8) if p.startswith("0") else int(p)
              for p in parts]
    *head, last = values
    if any(v > 255 for v in head) or last >= 1 << (8 * (5 - len(values))):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def host_ip(host: str) -> IPAddress | None:
    """The address a URL's host names by itself (an IPv6 literal without brackets, or an IPv4
    address in any numeric spelling), or None for a name that must be resolved."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    return _inet_aton(host)


def check_ip(ip: IPAddress, host: str) -> None:
    """Raise BlockedAddressError (field ``url``) when the sender must not connect to ``ip``, which
    ``host`` is or resolves to. The message does not show a resolved address: names inside the
    deployment's DNS are not the caller's to learn."""
    why = blocked_reason(ip)
    if why is not None:
        verb = "is" if host_ip(host) is not None else "resolves to"
        raise BlockedAddressError(f"{host} {verb} a {why} address; webhooks go to the public internet only",
                                  field="url")
