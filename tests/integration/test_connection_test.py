"""Each way a connection test can fail gives its own clear message on the channel."""

from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_pb2
from tests.support.receiver import Answer, Receiver
from tests.support.server import AdminStub as Admin


async def status_of(admin: Admin, url: str) -> channel_pb2.ConnectionStatus:
    response = await admin.TestConnection(pb.TestConnectionRequest(url=url))
    status: channel_pb2.ConnectionStatus = response.connection_status
    return status


async def test_200_is_established(admin: Admin, receiver: Receiver) -> None:
    status = await status_of(admin, receiver.url())
    assert status.state == channel_pb2.CONNECTION_STATE_ESTABLISHED
    assert status.message == "Connection established successfully!"
    assert status.failure_reason == channel_pb2.FAILURE_REASON_UNSPECIFIED


async def test_500_names_the_status(admin: Admin, receiver: Receiver) -> None:
    receiver.respond(Answer(status=500))
    status = await status_of(admin, receiver.url())
    assert status.state == channel_pb2.CONNECTION_STATE_FAILED
    assert status.http_status == 500
    assert status.message == "the receiver answered HTTP 500 Internal Server Error"
    assert status.failure_reason == channel_pb2.FAILURE_REASON_HTTP_STATUS


async def test_timeout(admin: Admin, receiver: Receiver) -> None:
    receiver.respond(Answer(delay=5))
    status = await status_of(admin, receiver.url())
    assert status.failure_reason == channel_pb2.FAILURE_REASON_TIMEOUT
    assert status.message == "no complete answer within 0.5 s"
    assert status.http_status == 0


async def test_refused_port(admin: Admin, closed_port: int) -> None:
    status = await status_of(admin, f"https://localhost:{closed_port}/hook")
    assert status.failure_reason == channel_pb2.FAILURE_REASON_CONNECT
    assert "connection refused" in status.message
    assert str(closed_port) in status.message


async def test_untrusted_certificate(admin: Admin) -> None:
    async with Receiver() as stranger:  # its CA is not the one the server trusts
        status = await status_of(admin, stranger.url())
    assert status.failure_reason == channel_pb2.FAILURE_REASON_TLS
    assert status.message.startswith("TLS handshake failed: certificate verify failed")


async def test_unresolvable_host(admin: Admin) -> None:
    status = await status_of(admin, "https://nonexistent.invalid/hook")
    assert status.failure_reason == channel_pb2.FAILURE_REASON_DNS
    assert status.message.startswith("DNS lookup failed for nonexistent.invalid")
