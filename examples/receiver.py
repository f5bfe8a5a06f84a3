"""A webhook receiver that verifies every request with the channel's signing secret.

Run: WEBHOOK_SECRET='whsec_...' python examples/receiver.py   (PORT=8000 by default)
Needs `pip install standardwebhooks` (deskhook's .venv has it)."""

import contextlib
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
seen: set[str] = set()  # webhook-ids handled; keep them in your database


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            # The raw bytes, before any JSON parsing: re-encoded JSON would not match.
            payload = webhook.verify(body, dict(self.headers))
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        webhook_id = self.headers["webhook-id"]
        if webhook_id not in seen:  # deliveries are at least once
            seen.add(webhook_id)
            print(payload["event_type"], payload.get("ticket", {}).get("unique_id", ""))
        self.send_response(204)
        self.end_headers()


server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Receiver)
with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how this receiver stops
    server.serve_forever()
