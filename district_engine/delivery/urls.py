"""Which URLs may receive pushes. Pure. An operator's endpoint must not point the engine at its
own network (loopback, private, link-local addresses: a request forgery risk) unless allowed; an
admin's may (an app backend next door)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from district_engine.errors import InvalidInputError

__all__ = ["check_endpoint_url"]

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def check_endpoint_url(url: str, allow_private: bool = False) -> str:
    """The URL if it is an absolute http(s) URL with a host (and, unless ``allow_private``, not a
    loopback, private, link-local or unspecified address by literal or by name); else InvalidInputError."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidInputError(f"not a URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("must be an absolute http:// or https:// URL with a host", field="url")
    if parts.username or parts.password:
        raise InvalidInputError("must not carry credentials; the signature authenticates the sender", field="url")
    if not allow_private:
        host = parts.hostname.rstrip(".").lower()
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if host in _LOCAL_NAMES or host.endswith(".localhost") or (
                ip is not None and (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified
                                    or ip.is_reserved or ip.is_multicast)):
            raise InvalidInputError("must not be a loopback, private or link-local address", field="url")
    return url
