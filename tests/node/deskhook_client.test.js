// A Node.js client of deskhook, built from protos/ alone as any other-language client would be:
// it creates a channel, streams events in, watches and lists the webhook log, and meets the
// server's errors. tests/process/test_node_client.py starts the server and a receiver and runs this
// with their addresses and tokens in the environment.

import assert from "node:assert/strict";
import { randomInt, randomUUID } from "node:crypto";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this through tests/process/test_node_client.py`);
  }
  return value;
}

const ADDRESS = required("DESKHOOK_ADDRESS");
const ADMIN_TOKEN = required("DESKHOOK_ADMIN_TOKEN");
const INGEST_TOKEN = required("DESKHOOK_INGEST_TOKEN");
const RECEIVER_URL = required("DESKHOOK_RECEIVER_URL");
const CALL_SECONDS = 10;

// The protos import only google/protobuf well-known types, which proto-loader bundles.
const definition = protoLoader.loadSync(
  ["deskhook/v1/channel_admin.proto", "deskhook/v1/event_ingest.proto"],
  {
    includeDirs: [fileURLToPath(new URL("../../protos", import.meta.url))],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  },
);
const { deskhook } = grpc.loadPackageDefinition(definition);

// A department of its own and fresh event ids: nothing else on the server matches or collides.
const DEPARTMENT = randomInt(1_000_000, 2_000_000);
const RUN = randomUUID();

function bearer(token) {
  const metadata = new grpc.Metadata();
  if (token) {
    metadata.set("authorization", `Bearer ${token}`);
  }
  return metadata;
}

function deadline() {
  return { deadline: Date.now() + CALL_SECONDS * 1000 };
}

function unary(client, method, request, token) {
  return new Promise((resolve, reject) => {
    client[method](request, bearer(token), deadline(), (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

function ticketEvent(suffix, eventType, detail = {}) {
  return {
    event_id: `${RUN}-${suffix}`,
    event_type: eventType,
    occurred_at: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
    ticket: {
      id: 1001,
      unique_id: "HD-1001",
      title: "Printer on fire",
      department_id: DEPARTMENT,
      client: { id: 5, name: "Ada", kind: "PERSON_KIND_CLIENT" },
    },
    ...detail,
  };
}

// Resolves with every entry the watch streamed once each of `eventIds` has a delivered entry.
function deliveredEntries(watch, eventIds) {
  return new Promise((resolve, reject) => {
    const waiting = new Set(eventIds);
    const entries = [];
    watch.on("data", ({ entry }) => {
      entries.push(entry);
      if (entry.outcome === "DELIVERY_OUTCOME_DELIVERED") {
        waiting.delete(entry.event_id);
      }
      if (waiting.size === 0) {
        resolve(entries);
      }
    });
    // Also the deadline, so a delivery that never comes fails the test instead of hanging it.
    watch.on("error", reject);
  });
}

let admin;
let ingest;
let created;

before(async () => {
  const insecure = grpc.credentials.createInsecure();
  admin = new deskhook.v1.ChannelAdmin(ADDRESS, insecure);
  ingest = new deskhook.v1.EventIngest(ADDRESS, insecure);
  created = await unary(
    admin,
    "CreateChannel",
    {
      channel: {
        name: "node-client",
        url: RECEIVER_URL,
        department_id: DEPARTMENT,
        subscriptions: [
          "EVENT_TYPE_TICKET_CREATE",
          "EVENT_TYPE_TICKET_ANSWER",
          "EVENT_TYPE_TICKET_STATUS_CHANGE",
        ],
        retries_enabled: true,
      },
      request_id: RUN,
    },
    ADMIN_TOKEN,
  );
});

after(() => {
  admin?.close();
  ingest?.close();
});

test("CreateChannel saves the channel, tests the connection and shows the secret", () => {
  const { channel, signing_secret } = created;
  assert.match(channel.id, /\S/);
  assert.match(signing_secret, /^whsec_/);
  assert.equal(channel.department_id, String(DEPARTMENT));
  assert.equal(channel.enabled, true);
  assert.equal(channel.connection_status.state, "CONNECTION_STATE_ESTABLISHED");
});

test("PublishEvents acks every event and the matched ones are delivered and logged", async () => {
  const channelId = created.channel.id;
  const watch = admin.WatchDeliveryLog({ channel_id: channelId }, bearer(ADMIN_TOKEN), deadline());
  // Headers mean the watcher is registered: every later attempt reaches it.
  await once(watch, "metadata");

  const events = [
    ticketEvent("create", "EVENT_TYPE_TICKET_CREATE"),
    ticketEvent("answer", "EVENT_TYPE_TICKET_ANSWER", { post: { id: 77, text: "Rebooted?" } }),
    ticketEvent("status", "EVENT_TYPE_TICKET_STATUS_CHANGE", {
      change: { field: "status", old_value: "open", new_value: "pending" },
    }),
    ticketEvent("close", "EVENT_TYPE_TICKET_CLOSE"),
    ticketEvent("create", "EVENT_TYPE_TICKET_CREATE"),
    ticketEvent("rating", "EVENT_TYPE_TICKET_RATING", { rating: { score: 9 } }),
  ];
  const delivered = events.slice(0, 3).map((event) => event.event_id);
  const watched = deliveredEntries(watch, delivered);

  const stream = ingest.PublishEvents(bearer(INGEST_TOKEN), deadline());
  const acks = [];
  stream.on("data", (response) => acks.push(...response.acks));
  const ended = once(stream, "end");
  for (const event of events) {
    stream.write({ events: [event] });
  }
  stream.end();
  await ended;

  assert.deepEqual(
    acks.map(({ event_id, result, matched_channels, field }) => [
      event_id.slice(RUN.length + 1),
      result,
      matched_channels,
      field,
    ]),
    [
      ["create", "EVENT_ACK_RESULT_ACCEPTED", 1, ""],
      ["answer", "EVENT_ACK_RESULT_ACCEPTED", 1, ""],
      ["status", "EVENT_ACK_RESULT_ACCEPTED", 1, ""],
      ["close", "EVENT_ACK_RESULT_ACCEPTED", 0, ""],
      ["create", "EVENT_ACK_RESULT_DUPLICATE", 1, ""],
      ["rating", "EVENT_ACK_RESULT_REJECTED", 0, "rating.score"],
    ],
  );
  assert.match(acks[5].reason, /1 to 5/);

  const streamed = await watched;
  watch.cancel();
  assert.deepEqual(streamed.map((entry) => entry.event_id).sort(), [...delivered].sort());

  const { entries } = await unary(
    admin,
    "ListDeliveryLog",
    { channel_id: channelId },
    ADMIN_TOKEN,
  );
  assert.deepEqual(entries.map((entry) => entry.event_id).sort(), [...delivered].sort());
  for (const entry of entries) {
    assert.equal(entry.outcome, "DELIVERY_OUTCOME_DELIVERED");
    assert.equal(entry.http_status, 200);
    assert.equal(entry.attempt, 1);
    assert.equal(entry.ticket_number, "HD-1001");
    assert.match(entry.webhook_id, /^msg_/);
  }
});

test("errors come back as gRPC status codes", async () => {
  await assert.rejects(unary(admin, "GetChannel", { id: `${RUN}-missing` }, ADMIN_TOKEN), {
    code: grpc.status.NOT_FOUND,
  });
  await assert.rejects(unary(admin, "ListChannels", {}, null), {
    code: grpc.status.UNAUTHENTICATED,
  });
  await assert.rejects(unary(admin, "ListChannels", {}, INGEST_TOKEN), {
    code: grpc.status.PERMISSION_DENIED,
  });
});
