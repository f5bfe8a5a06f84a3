<?php
// A publisher that sends the events of a JSON Lines file (one deskhook.v1.Event in proto3 JSON a
// line) to deskhook's JSON API, one PublishEvent call each, and prints each ack.
//
// Run: DESKHOOK_TOKEN=dev-ingest php examples/publish.php examples/events.jsonl
//      (an ingest token; DESKHOOK_API_URL=http://127.0.0.1:8080, the console's port, by default).
//      Exits 1 if any event was refused.
// Needs PHP 8 with curl (Debian: php-cli php-curl).

$api = getenv('DESKHOOK_API_URL') ?: 'http://127.0.0.1:8080';
$curl = curl_init("$api/deskhook.v1.EventIngest/PublishEvent");
curl_setopt_array($curl, [
    CURLOPT_POST => true,
    CURLOPT_HTTPHEADER => [
        'Content-Type: application/json',
        'Authorization: Bearer ' . getenv('DESKHOOK_TOKEN'),
    ],
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_TIMEOUT => 30,
]);
$failed = false;
foreach (file($argv[1], FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
    // The line goes into the request as it is: proto3 JSON already.
    curl_setopt($curl, CURLOPT_POSTFIELDS, '{"event": ' . $line . '}');
    $answer = curl_exec($curl);
    if ($answer === false) {
        fwrite(STDERR, 'publishing failed: ' . curl_error($curl) . "\n");
        exit(1);
    }
    $answer = json_decode($answer, true);
    $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    if ($status === 200) {
        // Proto3 JSON leaves out fields at their default: no matchedChannels means 0.
        $ack = $answer['ack'];
        $matched = $ack['matchedChannels'] ?? 0;
        echo "{$ack['eventId']} {$ack['result']} matched_channels=$matched\n";
    } else {
        // Connect's error: its code (invalid_argument for an event refused, unauthenticated,
        // ...) and a message naming the problem.
        $failed = true;
        $eventId = json_decode($line, true)['event_id'] ?? '';
        echo "$eventId ", $answer['code'] ?? "HTTP $status", ': ', $answer['message'] ?? '', "\n";
    }
}
exit($failed ? 1 : 0);
