"""Bearer-token authentication for every RPC except the health service."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import grpc

__all__ = ["TokenAuth", "OPEN_METHODS"]

OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class TokenAuth(grpc.aio.ServerInterceptor):
    """Rejects calls without `authorization: Bearer <token>`; compares in constant time, never logs it."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

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
        if hmac.compare_digest(sent.encode() if isinstance(sent, str) else sent, self._expected):
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
