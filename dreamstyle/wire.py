"""What the engine and its clients agree on beyond the proto: how big data chunks and messages may be."""

from __future__ import annotations

__all__ = ["CHUNK_BYTES", "MAX_MESSAGE_BYTES", "MESSAGE_SIZE_OPTIONS"]

CHUNK_BYTES = 1 << 20
"""File bytes in each message of an upload or a download."""

MAX_MESSAGE_BYTES = 8 << 20
"""The largest message either side sends or accepts: a chunk and its fields, with room to spare."""

MESSAGE_SIZE_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)
"""The gRPC channel and server options that apply MAX_MESSAGE_BYTES."""
