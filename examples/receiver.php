<?php
// A webhook receiver that verifies every request with the channel's signing secret.
//
// Run: WEBHOOK_SECRET='whsec_...' php -S 127.0.0.1:8000 examples/receiver.php
// Needs PHP 8 (Debian: php-cli). Under php-fpm or Apache the same code runs per request.

const TOLERANCE_SECONDS = 5 * 60; // against replays; keep this machine's clock in sync

// Standard Webhooks: one of the space-separated `v1,` signatures in the request's headers must
// be the base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}", keyed with the
// secret's bytes after `whsec_`.
function verified(string $secret, string $body): bool
{
    $id = $_SERVER['HTTP_WEBHOOK_ID'] ?? '';
    $timestamp = $_SERVER['HTTP_WEBHOOK_TIMESTAMP'] ?? '';
    if (!ctype_digit($timestamp) || abs(time() - (int) $timestamp) > TOLERANCE_SECONDS) {
        return false;
    }
    $key = base64_decode(substr($secret, strlen('whsec_')), true);
    $expected = 'v1,' . base64_encode(hash_hmac('sha256', "$id.$timestamp.$body", $key, true));
    foreach (explode(' ', $_SERVER['HTTP_WEBHOOK_SIGNATURE'] ?? '') as $signature) {
        if (hash_equals($expected, $signature)) {
            return true;
        }
    }
    return false;
}

// The raw bytes, before any JSON parsing: re-encoded JSON would not match.
$body = file_get_contents('php://input');
if (!verified(getenv('WEBHOOK_SECRET'), $body)) {
    http_response_code(400);
    return;
}
$payload = json_decode($body, true);
$id = $_SERVER['HTTP_WEBHOOK_ID'];

// Deliveries are at least once: handle each webhook-id once. Keep the ids in your database;
// here they are lines of a file, locked since a server may run requests side by side.
$seen = fopen(getenv('SEEN_IDS_FILE') ?: sys_get_temp_dir() . '/webhook-ids-seen', 'c+');
flock($seen, LOCK_EX);
if (!in_array($id, explode("\n", stream_get_contents($seen)), true)) {
    fwrite($seen, "$id\n");
    $line = $payload['event_type'] . ' ' . ($payload['ticket']['unique_id'] ?? '');
    // The server's standard output: `echo` would write into the answer.
    file_put_contents('php://stdout', "$line\n");
}
fclose($seen);
http_response_code(204);
