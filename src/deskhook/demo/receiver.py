"""The demo's webhook endpoint, doing what a customer's would: verify every request with the
public Standard Webhooks library, reject what does not verify, and answer 200 to the rest.

It also stumbles once, on purpose: the first attempt of the first event of type `stumble_on`
gets a 503, so the demo shows deskhook retrying."""

from collections import defaultdict
from dataclasses import dataclass
from http import HTTPStatus

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

PATH = "/webhooks"


@dataclass(frozen=True)
class Arrival:
    """One request as the receiver judged it: whether its signature verified, and the status the
    receiver answered with."""

    verified: bool
    status: int = HTTPStatus.OK


class VerifyingReceiver:
    def __init__(self, stumble_on: str = "") -> None:
        self.stumble_on = stumble_on
        # Each request by its webhook-id and attempt number, to match it with its log entry.
        self.arrivals: dict[tuple[str, str], Arrival] = {}
        # The webhook-ids verified for each event type: retries of one delivery count once.
        self.verified: defaultdict[str, set[str]] = defaultdict(set)
        self.rejected = 0
        # Requests answered before the secret was known: the test CreateChannel runs.
        self.connection_tests = 0
        self.port = 0
        self._webhook: Webhook | None = None
        self._stumbled = False
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def trust(self, signing_secret: str) -> None:
        """Verifies every later request with `signing_secret`."""
        self._webhook = Webhook(signing_secret)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self._webhook is None:
            # CreateChannel tests the connection before it hands out the secret.
            self.connection_tests += 1
            return web.Response(text="ok")
        key = (request.headers.get("webhook-id", ""), request.headers.get("x-deskhook-attempt", ""))
        try:
            payload = self._webhook.verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.rejected += 1
            self.arrivals[key] = Arrival(verified=False, status=HTTPStatus.UNAUTHORIZED)
            return web.Response(status=HTTPStatus.UNAUTHORIZED, text="signature does not verify")
        event_type = str(payload["event_type"])
        if event_type == self.stumble_on and not self._stumbled:
            self._stumbled = True
            self.arrivals[key] = Arrival(True, HTTPStatus.SERVICE_UNAVAILABLE)
            return web.Response(status=HTTPStatus.SERVICE_UNAVAILABLE, text="busy, try again")
        self.arrivals[key] = Arrival(True)
        self.verified[event_type].add(key[0])
        return web.Response(text="ok")
