"""A ChannelAdmin stub that calls the JSON API (docs/design.md §12) instead of gRPC, with the
gRPC stub's methods and errors: a test written against one runs against the other, and shows
both answer alike."""

import json
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from deskhook.v1 import channel_admin_pb2

SERVICE = channel_admin_pb2.DESCRIPTOR.services_by_name["ChannelAdmin"]
END_STREAM = 0x02


def rpc_error(error: dict[str, Any]) -> grpc.aio.AioRpcError:
    """A Connect error as the gRPC stub would raise it."""
    name = "CANCELLED" if error["code"] == "canceled" else error["code"].upper()
    return grpc.aio.AioRpcError(
        grpc.StatusCode[name], grpc.aio.Metadata(), grpc.aio.Metadata(), error.get("message")
    )


class JsonWatch:
    """A Connect server stream of WatchDeliveryLog, with the calls a test makes of gRPC's
    stream: its headers, whether it ended already, its first message, cancel. A refused watch
    ends with its error at once; an accepted one waits for an attempt, so once the headers are
    in, `stir` makes one."""

    def __init__(
        self, response: Awaitable[aiohttp.ClientResponse], stir: Callable[[], Awaitable[None]]
    ) -> None:
        self._response = response
        self._stir = stir
        self._open: aiohttp.ClientResponse | None = None
        self._first: tuple[int, dict[str, Any]] | None = None

    async def initial_metadata(self) -> None:
        self._open = await self._response
        await self._stir()
        header = await self._open.content.readexactly(5)
        flags, size = struct.unpack(">BI", header)
        self._first = flags, json.loads(await self._open.content.readexactly(size))

    def done(self) -> bool:
        return self._first is not None and bool(self._first[0] & END_STREAM)

    async def read(self) -> dict[str, Any]:
        assert self._first is not None
        flags, message = self._first
        if flags & END_STREAM and "error" in message:
            raise rpc_error(message["error"])
        return message

    def cancel(self) -> None:
        if self._open is not None:
            self._open.close()


class JsonAdminStub:
    """ChannelAdmin over the JSON API on `session`'s base URL, with `token`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: str,
        stir: Callable[[], Awaitable[None]],
    ) -> None:
        self._session = session
        self._headers = {"Authorization": f"Bearer {token}"}
        self._stir = stir

    def __getattr__(self, name: str) -> Callable[[Message], Any]:
        method = SERVICE.methods_by_name[name]
        path = f"/{SERVICE.full_name}/{name}"
        if method.server_streaming:
            return lambda request: self._watch(path, request)
        response_type = GetMessageClass(method.output_type)

        async def unary(request: Message) -> Message:
            async with self._session.post(
                path,
                data=json_format.MessageToJson(request),
                headers={**self._headers, "Content-Type": "application/json"},
            ) as response:
                answer = await response.json(content_type=None)
            if response.status != 200:
                raise rpc_error(answer)
            return json_format.ParseDict(answer, response_type())

        return unary

    def _watch(self, path: str, request: Message) -> JsonWatch:
        data = json_format.MessageToJson(request).encode()
        response = self._session.post(
            path,
            data=struct.pack(">BI", 0, len(data)) + data,
            headers={**self._headers, "Content-Type": "application/connect+json"},
        )
        return JsonWatch(response, self._stir)
