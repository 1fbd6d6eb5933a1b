"""Resolving webhook hosts, checked: the I/O half of the address policy (addresses.py). Both the
registration check and every connection of the sender resolve through ``lookup`` here, and the
sender connects to the very addresses that were checked (``CheckedResolver``), so a name cannot
resolve to a public address when checked and to a private one when connected (DNS rebinding)."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from aiohttp.abc import AbstractResolver

from district_engine.delivery.addresses import IPAddress, check_ip, host_ip

__all__ = ["lookup", "checked_addresses", "CheckedResolver", "UnresolvedError"]

# getaddrinfo blocks and has no timeout of its own: it runs on threads of its own, so a slow DNS
# server holds these and never the threads that run the engine's Redis calls (asyncio's default
# executor, which asyncio.to_thread shares).
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook-dns")


class UnresolvedError(OSError):
    """The name did not resolve (no such name, or no answer in time)."""


def lookup(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (the system resolver, as a connection would use it).
    Tests replace this function to make a name resolve where they want."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnresolvedError(f"{host} does not resolve: {exc.strerror}") from None
    return list(dict.fromkeys(host_ip(info[4][0]) for info in infos))


def checked_addresses(host: str, port: int, allow_private: bool, timeout_s: float = 5.0) -> list[IPAddress]:
    """The addresses to connect to for ``host``, every one of them allowed; BlockedAddressError if
    any is not (one bad address is enough: a client may pick any of them), UnresolvedError if the
    name does not resolve within ``timeout_s``."""
    ip = host_ip(host)
    if ip is not None:
        addresses = [ip]
    else:
        future = _POOL.submit(lookup, host.rstrip("."), port)
        try:
            addresses = future.result(timeout=timeout_s)
        except FutureTimeout:
            raise UnresolvedError(f"{host} did not resolve in {timeout_s:g} s") from None
    if not allow_private:
        for a in addresses:
            check_ip(a, host)
    return addresses


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver for the sender: the addresses it returns are checked and are what aiohttp
    connects to, while the request keeps the name for its Host header, TLS SNI and certificate
    check. aiohttp does not call a resolver for an IP literal: the sender checks those itself."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict]:
        addresses = await asyncio.get_running_loop().run_in_executor(
            _POOL, checked_addresses, host, port, self.allow_private)
        return [{"hostname": host, "host": str(a), "port": port, "proto": 0, "flags": socket.AI_NUMERICHOST,
                 "family": socket.AF_INET6 if a.version == 6 else socket.AF_INET} for a in addresses]

    async def close(self) -> None:
        pass
