"""Which URLs may receive pushes, checked at registration (the sender checks each connection
again, delivery/resolver.py): an absolute http(s) URL with a host, no credentials, and a host whose
every address is public (delivery/addresses.py) unless private addresses are allowed (development)."""

from __future__ import annotations

from urllib.parse import urlsplit

from district_engine.delivery import resolver
from district_engine.delivery.addresses import BlockedAddressError
from district_engine.errors import InvalidInputError

__all__ = ["check_endpoint_url"]

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def check_endpoint_url(url: str, allow_private: bool = False) -> str:
    """The URL if it may receive pushes, else InvalidInputError (BlockedAddressError for an address
    the engine must not call), field ``url``.

    A name is resolved and each of its addresses checked. A name that does not resolve (yet, or
    not from here) is accepted: there is nothing to call, and every connection checks again."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidInputError(f"not a URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("must be an absolute http:// or https:// URL with a host", field="url")
    if parts.username or parts.password:
        raise InvalidInputError("must not carry credentials; the signature authenticates the sender", field="url")
    if not parts.hostname.isascii():  # IDNA could map it to anything, digits included: say it plainly
        raise InvalidInputError("the host must be ASCII (an internationalized name in its xn-- form)", field="url")
    if allow_private:
        return url
    host = parts.hostname.rstrip(".")
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        raise BlockedAddressError(f"{host} is a loopback name; webhooks go to the public internet only", field="url")
    try:
        resolver.checked_addresses(host, port, allow_private=False)
    except resolver.UnresolvedError:
        pass
    return url
