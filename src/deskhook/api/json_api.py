"""The JSON API: the gRPC services over HTTP/1.1 in the Connect protocol
(https://connectrpc.com/docs/protocol), for clients without gRPC, `curl` and the console
(docs/design.md §12). A unary method takes `POST /<package.Service>/<Method>` with a JSON (or
binary protobuf) body and answers in kind, an error as Connect's JSON error with its HTTP
status; a server-streaming method takes and answers enveloped messages
(`application/connect+json`) and ends with an end-of-stream message, which carries its error.
Every call runs through `RpcBridge`: the gRPC server's own interceptors and servicers."""

import base64
import contextlib
import json
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import grpc
from aiohttp import hdrs, web
from google.protobuf import json_format
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from deskhook.api.errors import status_with_reason
from deskhook.api.rpc_bridge import CallFailed, Ended, Metadata, RpcBridge
from deskhook.api.sign_in_limit import SignInLimiter

# A request's body at most, as gRPC's default receive limit.
MAX_REQUEST_BYTES: Final = 4 * 1024 * 1024
# The Connect protocol's HTTP status for each code (its "Error Codes" table).
HTTP_STATUS: Final = {
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
JSON, PROTO = "json", "proto"
# Connect's codecs by the content type that names them.
UNARY_CODECS: Final = {"application/json": JSON, "application/proto": PROTO}
STREAM_CODECS: Final = {"application/connect+json": JSON, "application/connect+proto": PROTO}
END_STREAM: Final = 0x02
# Request headers that describe the request's body or connection, not the call: kept out of the
# metadata the interceptors see.
NOT_METADATA: Final = frozenset(
    {"accept", "accept-encoding", "connect-protocol-version", "connection", "content-encoding"}
    | {"content-length", "content-type", "host", "transfer-encoding", "user-agent"}
)


@dataclass(frozen=True)
class Method:
    path: str
    request: type[Message]
    server_streaming: bool

    @property
    def codecs(self) -> Mapping[str, str]:
        return STREAM_CODECS if self.server_streaming else UNARY_CODECS


def served_methods(*services: ServiceDescriptor) -> dict[str, Method]:
    """The methods of `services` that HTTP/1.1 can carry: unary and server-streaming ones."""
    return {
        f"/{service.full_name}/{method.name}": Method(
            f"/{service.full_name}/{method.name}",
            GetMessageClass(method.input_type),
            method.server_streaming,
        )
        for service in services
        for method in service.methods
        if not method.client_streaming
    }


class JsonApi:
    def __init__(
        self, bridge: RpcBridge, methods: Mapping[str, Method], sign_ins: SignInLimiter
    ) -> None:
        self._bridge = bridge
        self._methods = methods
        # The JSON API is where browsers sign in: an address that keeps offering refused
        # tokens is turned away for a while.
        self._sign_ins = sign_ins

    def serves(self, path: str) -> bool:
        return path in self._methods

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        method = self._methods[request.path]
        if request.method != hdrs.METH_POST:
            raise web.HTTPMethodNotAllowed(request.method, [hdrs.METH_POST])
        codec = method.codecs.get(request.content_type)
        if codec is None:
            raise web.HTTPUnsupportedMediaType(headers={"Accept-Post": ", ".join(method.codecs)})
        if method.server_streaming:
            return await self._stream(request, method, codec)
        try:
            self._admit(request)
            body = await read_body(request)
            response = await self._unary(request, method, decode(body, method.request, codec))
        except CallFailed as failed:
            return web.Response(
                status=HTTP_STATUS.get(failed.ended.code, 500),
                body=json.dumps(error_json(failed.ended)),
                content_type="application/json",
            )
        return web.Response(body=encode(response, codec), content_type=request.content_type)

    def _admit(self, request: web.BaseRequest) -> None:
        if not self._sign_ins.allows(request.remote):
            raise refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "too many refused tokens from this address; try again in a minute",
                "SIGN_IN_RATE_LIMITED",
            )

    def _counted(self, request: web.BaseRequest, failed: CallFailed) -> CallFailed:
        """`failed`, its refused token counted against the caller's address."""
        if failed.ended.code is grpc.StatusCode.UNAUTHENTICATED:
            self._sign_ins.refused(request.remote)
        return failed

    async def _unary(self, request: web.BaseRequest, method: Method, message: Message) -> Message:
        try:
            return await self._bridge.unary(method.path, metadata(request), message)
        except CallFailed as failed:
            raise self._counted(request, failed) from None

    async def _stream(
        self, request: web.BaseRequest, method: Method, codec: str
    ) -> web.StreamResponse:
        # A streaming call answers 200 whatever comes: how it ended is in its last message. Its
        # headers go out when the servicer says (a log watch once it is registered), or with
        # the first message.
        answer = web.StreamResponse(headers={hdrs.CONTENT_TYPE: request.content_type})

        async def headers() -> None:
            if not answer.prepared:
                await answer.prepare(request)

        # A client gone before the end is told nothing more; its call ends as cancelled.
        with contextlib.suppress(ConnectionResetError):
            end = await self._relay(request, method, codec, answer, headers)
            await headers()
            await answer.write(envelope(END_STREAM, json.dumps(end).encode()))
            await answer.write_eof()
        return answer

    async def _relay(
        self,
        request: web.BaseRequest,
        method: Method,
        codec: str,
        answer: web.StreamResponse,
        headers: Callable[[], Awaitable[None]],
    ) -> dict[str, Any]:
        """Each response of the call, enveloped; what the end-of-stream message says."""
        try:
            self._admit(request)
            message = decode(unwrapped(await read_body(request)), method.request, codec)
            # Closed however the loop ends (the client gone mid-write too), so that the call
            # ends at once.
            async with contextlib.aclosing(
                self._bridge.server_stream(method.path, metadata(request), message, headers)
            ) as responses:
                async for response in responses:
                    await headers()
                    await answer.write(envelope(0, encode(response, codec)))
        except CallFailed as failed:
            return {"error": error_json(self._counted(request, failed).ended)}
        return {}


def unwrapped(body: bytes) -> bytes:
    """The one message of a streaming request's body."""
    if len(body) < 5 or body[0] or struct.unpack(">I", body[1:5])[0] != len(body) - 5:
        raise refused(
            grpc.StatusCode.INVALID_ARGUMENT,
            "the request must be one enveloped, uncompressed message",
            "MALFORMED_REQUEST",
        )
    return body[5:]


def refused(code: grpc.StatusCode, message: str, reason: str) -> CallFailed:
    """A call the JSON API refuses itself, with the same kind of status and `ErrorInfo` as one
    the services refuse."""
    return CallFailed(Ended.of_status(status_with_reason(code, message, reason)))


async def read_body(request: web.BaseRequest) -> bytes:
    if (request.content_length or 0) <= MAX_REQUEST_BYTES:
        body = await request.content.read(MAX_REQUEST_BYTES + 1)
        if len(body) <= MAX_REQUEST_BYTES:
            return body
    raise refused(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"the request is larger than {MAX_REQUEST_BYTES} bytes",
        "REQUEST_TOO_LARGE",
    )


def metadata(request: web.BaseRequest) -> Metadata:
    return tuple(
        (name.lower(), value)
        for name, value in request.headers.items()
        if name.lower() not in NOT_METADATA
    )


def decode(body: bytes, kind: type[Message], codec: str) -> Message:
    message = kind()
    try:
        if codec == PROTO:
            message.ParseFromString(body)
        else:
            # Unknown fields are skipped, as Connect's own servers do: an older server keeps
            # answering a newer client.
            json_format.Parse(body or b"{}", message, ignore_unknown_fields=True)
    except (json_format.ParseError, DecodeError, UnicodeDecodeError, RecursionError) as error:
        raise refused(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the request is not a valid {kind.DESCRIPTOR.full_name}: {error}",
            "MALFORMED_REQUEST",
        ) from None
    return message


def encode(message: Message, codec: str) -> bytes:
    if codec == PROTO:
        return message.SerializeToString()
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":")).encode()


def envelope(flags: int, data: bytes) -> bytes:
    return struct.pack(">BI", flags, len(data)) + data


def error_json(ended: Ended) -> dict[str, Any]:
    """Connect's error: its code's name, the message, and each status detail with its type,
    its bytes and, for people reading it, its JSON."""
    # Connect spells one code differently from gRPC.
    code = "canceled" if ended.code is grpc.StatusCode.CANCELLED else ended.code.name.lower()
    error: dict[str, Any] = {"code": code, "message": ended.message}
    if ended.details:
        error["details"] = [
            {
                "type": detail.TypeName(),
                "value": base64.b64encode(detail.value).decode().rstrip("="),
                "debug": json_format.MessageToDict(detail),
            }
            for detail in ended.details
        ]
    return error
