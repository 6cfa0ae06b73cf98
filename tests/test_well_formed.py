"""The check that answers an unparsable request INVALID_ARGUMENT wraps each kind of method as it is written:
a stream yielded by an async generator, or one written through the context by a coroutine."""

import asyncio

import grpc
import pytest
from google.protobuf.message import DecodeError

from engine.well_formed import WellFormedRequests

SERVICE = "test.Echo"


async def _yielded(request: bytes, context: grpc.aio.ServicerContext):
    yield request


async def _written(request: bytes, context: grpc.aio.ServicerContext) -> None:
    await context.write(request)


async def _serve_and_call(behaviour, message: bytes) -> list[bytes]:
    def parse(data: bytes) -> bytes:
        if data.startswith(b"\xff"):
            raise DecodeError("not a message")
        return data

    handler = grpc.unary_stream_rpc_method_handler(behaviour, request_deserializer=parse, response_serializer=bytes)
    server = grpc.aio.server(interceptors=[WellFormedRequests(SERVICE)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"Stream": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_stream(f"/{SERVICE}/Stream", request_serializer=bytes, response_deserializer=bytes)
            return [reply async for reply in call(message, timeout=10)]
    finally:
        await server.stop(None)


@pytest.mark.parametrize("behaviour", [_yielded, _written])
def test_each_kind_of_streaming_method_answers_and_refuses_in_words(behaviour):
    assert asyncio.run(_serve_and_call(behaviour, b"hello")) == [b"hello"]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        asyncio.run(_serve_and_call(behaviour, b"\xff\xff"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"request: not a /{SERVICE}/Stream message (not a message)" in refused.value.details()
