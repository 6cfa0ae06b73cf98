"""Requests that do not parse as their message (a string that is not UTF-8, a client built from another
proto) are answered INVALID_ARGUMENT saying so, not gRPC's UNKNOWN naming its parser's exception."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

__all__ = ["WellFormedRequests"]

_HANDLERS = {  # (request streaming, response streaming): gRPC's constructor of such a handler
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class _Malformed:
    """A request that did not parse, and why; the call it reaches aborts."""

    def __init__(self, detail: str) -> None:
        self.detail = detail


async def _refuse(request: object, context: grpc.aio.ServicerContext) -> None:
    if isinstance(request, _Malformed):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.detail)


async def _each_refused(requests: AsyncIterator[object], context: grpc.aio.ServicerContext) -> AsyncIterator[object]:
    async for request in requests:
        await _refuse(request, context)
        yield request


class WellFormedRequests(grpc.aio.ServerInterceptor):
    """Checks the requests of `service`'s methods (health and reflection keep gRPC's own answers)."""

    def __init__(self, service: str) -> None:
        self._prefix = f"/{service}/"

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(self._prefix):
            return handler
        parse, method = handler.request_deserializer, details.method
        behaviour = handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream

        def deserialize(data: bytes) -> object:
            try:
                return parse(data)
            except DecodeError as exc:
                return _Malformed(f"request: not a {method} message ({exc}); send strings as UTF-8 and build the "
                                  "client from this engine's engine.proto")

        async def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if handler.request_streaming:
                return _each_refused(request, context)
            await _refuse(request, context)
            return request

        if inspect.isasyncgenfunction(behaviour):  # a stream of replies yielded (not written through the context)
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                async for reply in behaviour(await checked(request, context), context):
                    yield reply
        else:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                return await behaviour(await checked(request, context), context)
        make = _HANDLERS[handler.request_streaming, handler.response_streaming]
        return make(call, request_deserializer=deserialize, response_serializer=handler.response_serializer)
