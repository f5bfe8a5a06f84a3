// A publisher that streams the events of a JSON Lines file (one deskhook.v1.Event in proto3 JSON
// a line, field names as in the .proto) over gRPC, as the helpdesk core does, and prints each ack.
//
// Run: (cd examples && npm ci) once, then
//      DESKHOOK_TOKEN=dev-ingest node examples/publish.js examples/events.jsonl
//      (an ingest token; DESKHOOK_SERVER=127.0.0.1:50051 by default). Exits 1 if any event was
//      rejected.
// Needs Node.js 20+, @grpc/grpc-js and @grpc/proto-loader (examples/package.json) and deskhook's
// protos/ (elsewhere, set PROTOS to your copy of that folder).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const PROTOS = process.env.PROTOS ?? fileURLToPath(new URL("../protos", import.meta.url));
const definition = protoLoader.loadSync("deskhook/v1/event_ingest.proto", {
  includeDirs: [PROTOS],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
const { deskhook } = grpc.loadPackageDefinition(definition);

// proto-loader takes messages as plain objects, which proto3 JSON is but for two well-known
// types: a Timestamp is {seconds, nanos} there, not RFC 3339 text, and a Struct holds Values
// (named in lowerCamelCase, as protobufjs bundles them, whatever keepCase says).
function timestamp(text) {
  const fraction = /\.(\d+)/.exec(text)?.[1] ?? "";
  const seconds = Math.floor(Date.parse(text) / 1000);
  return { seconds: String(seconds), nanos: Number(fraction.padEnd(9, "0")) };
}

function value(json) {
  if (json === null) return { nullValue: "NULL_VALUE" };
  if (Array.isArray(json)) return { listValue: { values: json.map(value) } };
  switch (typeof json) {
    case "boolean":
      return { boolValue: json };
    case "number":
      return { numberValue: json };
    case "string":
      return { stringValue: json };
    default:
      return { structValue: struct(json) };
  }
}

function struct(json) {
  const fields = Object.entries(json).map(([key, item]) => [key, value(item)]);
  return { fields: Object.fromEntries(fields) };
}

function message(json, typeName) {
  if (typeName === "google.protobuf.Timestamp") return timestamp(json);
  if (typeName === "google.protobuf.Struct") return struct(json);
  // deskhook's own types are named without their package in the descriptors.
  const { type } = definition[typeName] ?? definition[`deskhook.v1.${typeName}`];
  const converted = {};
  for (const [name, item] of Object.entries(json)) {
    const field = type.field.find((candidate) => candidate.name === name);
    if (field?.type === "TYPE_MESSAGE") {
      const convert = (part) => message(part, field.typeName);
      converted[name] = Array.isArray(item) ? item.map(convert) : convert(item);
    } else {
      converted[name] = item;
    }
  }
  return converted;
}

const ingest = new deskhook.v1.EventIngest(
  process.env.DESKHOOK_SERVER ?? "127.0.0.1:50051",
  grpc.credentials.createInsecure(),
);
const metadata = new grpc.Metadata();
metadata.set("authorization", `Bearer ${process.env.DESKHOOK_TOKEN}`);

const stream = ingest.PublishEvents(metadata);
// Acks come in the order the events were sent, each once its event is stored.
stream.on("data", ({ acks }) => {
  for (const { event_id, result, matched_channels, reason } of acks) {
    if (result === "EVENT_ACK_RESULT_REJECTED") {
      process.exitCode = 1;
      console.log(event_id, result, reason); // the reason names the field
    } else {
      console.log(event_id, result, `matched_channels=${matched_channels}`);
    }
  }
});
stream.on("end", () => ingest.close());
stream.on("error", (error) => {
  console.error(`publishing failed: ${error.message}`);
  process.exitCode = 1;
});

for (const line of readFileSync(process.argv[2], "utf8").split("\n")) {
  if (line.trim()) {
    stream.write({ events: [message(JSON.parse(line), "deskhook.v1.Event")] });
  }
}
stream.end();
