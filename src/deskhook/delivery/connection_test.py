"""The connection test: one signed `connection_test` request, judged like a delivery."""

from collections.abc import Sequence
from datetime import datetime

from deskhook.delivery.http_client import WebhookClient
from deskhook.delivery.payload import CONNECTION_TEST_EVENT_TYPE, connection_test_body
from deskhook.domain.channel_spec import CONNECTION_ESTABLISHED, ConnectionState, ConnectionStatus
from deskhook.domain.responses import HttpResponse
from deskhook.domain.signing import secret_key, webhook_headers


def connection_status(response: HttpResponse, checked_at: datetime) -> ConnectionStatus:
    if response.succeeded:
        return ConnectionStatus(
            ConnectionState.ESTABLISHED, CONNECTION_ESTABLISHED, response.http_status, checked_at
        )
    return ConnectionStatus(
        ConnectionState.FAILED, response.error, response.http_status, checked_at, response.failure
    )


class HttpConnectionTester:
    """The connection test over the webhook client; the server hands it to the channel use
    cases as their `ConnectionTester`."""

    def __init__(self, client: WebhookClient) -> None:
        self._client = client

    async def __call__(
        self,
        *,
        url: str,
        secrets: Sequence[str],
        channel_id: str,
        webhook_id: str,
        now: datetime,
    ) -> ConnectionStatus:
        body = connection_test_body(channel_id, webhook_id, now)
        headers = webhook_headers(
            keys=[secret_key(secret) for secret in secrets],
            webhook_id=webhook_id,
            timestamp=int(now.timestamp()),
            body=body,
            event_type=CONNECTION_TEST_EVENT_TYPE,
            attempt=1,
        )
        return connection_status(await self._client.post(url, body, headers), now)
