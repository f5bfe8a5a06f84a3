// A webhook receiver that verifies every request with the channel's signing secret.
//
// Run: (cd examples && npm ci) once, then
//      WEBHOOK_SECRET='whsec_...' node examples/receiver.js   (PORT=8000 by default)
// Needs Node.js 20+ and `standardwebhooks` (examples/package.json).

import { createServer } from "node:http";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
const seen = new Set(); // webhook-ids handled; keep them in your database

createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    let payload;
    try {
      // The raw bytes, before any JSON parsing: re-encoded JSON would not match.
      payload = webhook.verify(Buffer.concat(chunks), request.headers);
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      response.writeHead(400).end();
      return;
    }
    const webhookId = request.headers["webhook-id"];
    if (!seen.has(webhookId)) {
      // deliveries are at least once
      seen.add(webhookId);
      console.log(payload.event_type, payload.ticket?.unique_id ?? "");
    }
    response.writeHead(204).end();
  });
}).listen(Number(process.env.PORT ?? 8000), "127.0.0.1");
