// The JSON API (docs/design.md §12), the console's only way to the server: POST with the
// token in a header, never in a URL; no cookies, no referrer.
export class ApiError extends Error {
  constructor(status, code, message, reason) {
    super(message);
    this.status = status;
    this.code = code;
    this.reason = reason;
  }
}

export async function call(token, method, request) {
  const response = await fetch(`deskhook.v1.ChannelAdmin/${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify(request),
    credentials: "omit",
    referrerPolicy: "no-referrer",
    cache: "no-store",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const info = (answer.details || []).find((d) => d.type === "google.rpc.ErrorInfo");
    throw new ApiError(
      response.status,
      answer.code || "unknown",
      answer.message || response.statusText,
      info && info.debug ? info.debug.reason : undefined,
    );
  }
  return answer;
}

// A stream's error comes in its last message, its HTTP status being 200: the statuses the
// console acts on, by code.
const STREAM_STATUS = { unauthenticated: 401, permission_denied: 403, not_found: 404 };

// A Connect server stream (docs/design.md §12): each enveloped message is handed to `onMessage`
// as it comes; returns when the stream ends (an error in its last message is thrown), or when
// `signal` aborts.
export async function watch(token, method, request, onMessage, signal) {
  const body = new TextEncoder().encode(JSON.stringify(request));
  const framed = new Uint8Array(5 + body.length);
  new DataView(framed.buffer).setUint32(1, body.length);
  framed.set(body, 5);
  const response = await fetch(`deskhook.v1.ChannelAdmin/${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/connect+json", Authorization: `Bearer ${token}` },
    body: framed,
    credentials: "omit",
    referrerPolicy: "no-referrer",
    cache: "no-store",
    signal,
  });
  const reader = response.body.getReader();
  let buffered = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buffered.length + value.length);
    joined.set(buffered);
    joined.set(value, buffered.length);
    buffered = joined;
    while (buffered.length >= 5) {
      const size = new DataView(buffered.buffer, buffered.byteOffset).getUint32(1);
      if (buffered.length < 5 + size) break;
      const flags = buffered[0];
      const message = JSON.parse(new TextDecoder().decode(buffered.subarray(5, 5 + size)));
      buffered = buffered.slice(5 + size);
      if (flags & 0x02) {
        if (message.error) {
          const status = STREAM_STATUS[message.error.code] || 500;
          throw new ApiError(status, message.error.code, message.error.message, undefined);
        }
        return;
      }
      onMessage(message);
    }
  }
}
