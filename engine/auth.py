"""Who may call the engine: bearer tokens on every RPC but health, TLS, and the refusal to serve an
open engine off loopback unless the operator says `--insecure`."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

log = logging.getLogger(__name__)

__all__ = ["OPEN_METHODS", "TokenAuth", "UnsafeConfig", "check_exposure", "is_loopback", "server_credentials"]

OPEN_METHODS = ("/grpc.health.v1.Health/",)


class UnsafeConfig(Exception):
    """The engine would be reachable off this machine without TLS and a token."""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (a wildcard such as 0.0.0.0 is not)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, tls: bool, insecure: bool) -> None:
    """Raises UnsafeConfig when `host` is off loopback and TLS or a token is missing, unless `insecure`."""
    if is_loopback(host) or (token and tls):
        return
    if insecure:
        log.warning("serving on %s without TLS or a token: the operator chose --insecure", host)
        return
    missing = " and ".join(name for name, ok in (("TLS (--tls-cert/--tls-key)", tls), ("a token (--token-file)", token)) if not ok)
    raise UnsafeConfig(
        f"refusing to serve on {host} without {missing}: anyone on the network could use this engine. "
        "Give them, bind to 127.0.0.1, or pass --insecure to accept the risk."
    )


def server_credentials(cert: Path, key: Path) -> grpc.ServerCredentials:
    """TLS credentials from PEM files."""
    return grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])


class TokenAuth(grpc.aio.ServerInterceptor):
    """Rejects calls without `authorization: Bearer <token>`; compares in constant time, never logs it."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

        async def deny(request: object, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong engine token (see --token-file)")

        self._deny = deny

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if details.method.startswith(OPEN_METHODS):
            return await continuation(details)
        sent = dict(details.invocation_metadata or ()).get("authorization", "")
        sent = sent.encode() if isinstance(sent, str) else sent
        scheme, _, credentials = sent.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(credentials, self._expected):  # RFC 6750: any case
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return None
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._deny)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._deny)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._deny)
        return grpc.stream_stream_rpc_method_handler(self._deny)
