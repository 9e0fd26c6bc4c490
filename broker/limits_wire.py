"""Limits at the wire, before any broker code sees a request.

- Size: messages over `max_message_bytes` and metadata over MAX_METADATA_BYTES are refused
  by gRPC itself with RESOURCE_EXHAUSTED; concurrent calls beyond MAX_CONCURRENT_RPCS_PER_WORKER
  per worker thread are refused with RESOURCE_EXHAUSTED instead of queueing without bound.
- Shape: bytes that do not decode as the method's request message are INVALID_ARGUMENT
  naming the message type. (gRPC's own handling reports a server fault, INTERNAL.)

The service is registered from its descriptor, so every RPC the proto declares is covered,
including ones added later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

# A bearer token is at most 8 KiB (broker/authn/jwt_verifier.py); headers beyond 16 KiB are
# not a legitimate call.
MAX_METADATA_BYTES = 16 * 1024
# Calls admitted at once per worker thread; the rest are refused fast (RESOURCE_EXHAUSTED)
# rather than waiting in an unbounded queue while their deadlines pass.
MAX_CONCURRENT_RPCS_PER_WORKER = 8


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_metadata_size", MAX_METADATA_BYTES),
    ]


def maximum_concurrent_rpcs(max_workers: int) -> int:
    return max_workers * MAX_CONCURRENT_RPCS_PER_WORKER


class Undecodable:
    """Stands in for a request whose bytes are not a valid message of the expected type."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def add_service(servicer: object, service: ServiceDescriptor, server: grpc.Server) -> None:
    """Registers `servicer`'s implementation of every method of `service` on `server`."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in service.methods:
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        behavior = getattr(servicer, method.name)
        serialize = response_class.SerializeToString
        if method.client_streaming:
            factory = (
                grpc.stream_stream_rpc_method_handler
                if method.server_streaming
                else grpc.stream_unary_rpc_method_handler
            )
            handlers[method.name] = factory(
                behavior,
                request_deserializer=request_class.FromString,
                response_serializer=serialize,
            )
            continue
        factory = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = factory(
            _guarded(behavior),
            request_deserializer=_tolerant(request_class),
            response_serializer=serialize,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)


def _tolerant(message_class: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    name = message_class.DESCRIPTOR.full_name

    def deserialize(data: bytes) -> Message | Undecodable:
        try:
            return message_class.FromString(data)
        except (DecodeError, ValueError, RuntimeError):
            return Undecodable(name)

    return deserialize


def _guarded(behavior: Callable[..., Any]) -> Callable[..., Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request: not a valid {request.type_name} message",
            )
        return behavior(request, context)

    return handle
