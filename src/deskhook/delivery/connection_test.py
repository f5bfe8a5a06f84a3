"""The connection test: one signed `connection_test` request, judged like a delivery."""

from datetime import datetime

from deskhook.delivery.http_client import WebhookClient
from deskhook.delivery.payload import CONNECTION_TEST_EVENT_TYPE, connection_test_body
from deskhook.domain.channel_spec import (
    CONNECTION_ESTABLISHED,
    ConnectionState,
    ConnectionStatus,
    ConnectionTest,
)
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

    async def __call__(self, test: ConnectionTest) -> ConnectionStatus:
        body = connection_test_body(test.channel_id, test.webhook_id, test.now)
        headers = webhook_headers(
            keys=[secret_key(secret) for secret in test.secrets],
            webhook_id=test.webhook_id,
            timestamp=int(test.now.timestamp()),
            body=body,
            event_type=CONNECTION_TEST_EVENT_TYPE,
            attempt=1,
        )
        return connection_status(await self._client.post(test.url, body, headers), test.now)
