"""The webhook reference's examples (docs/webhooks.md) are real bodies: each parses as
deskhook.v1.WebhookPayload, every event type has exactly one, and they are what the renderer
makes today."""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from google.protobuf import json_format

from deskhook.domain.events import TICKET_EVENT_TYPES
from deskhook.v1 import event_pb2

ROOT = Path(__file__).resolve().parents[2]
SECTION_START = "<!-- webhook-examples: the output of scripts/webhook_examples.py -->\n"
SECTION_END = "<!-- /webhook-examples -->"
JSON_BLOCK = re.compile(r"^```json\n(.*?)^```$", re.MULTILINE | re.DOTALL)


WEBHOOKS_PAGE = ROOT / "docs" / "webhooks.md"


def examples_section() -> str:
    page = WEBHOOKS_PAGE.read_text(encoding="utf-8")
    start = page.index(SECTION_START) + len(SECTION_START)
    return page[start : page.index(SECTION_END, start)]


def test_every_event_type_has_one_example_that_parses_as_a_webhook_payload() -> None:
    event_types: Counter[str] = Counter()
    for block in JSON_BLOCK.findall(examples_section()):
        payload = json_format.Parse(block, event_pb2.WebhookPayload(), ignore_unknown_fields=False)
        event_types[payload.event_type] += 1
    assert event_types == Counter(event_type.value for event_type in TICKET_EVENT_TYPES)


def test_examples_are_what_the_script_renders() -> None:
    script = ROOT / "scripts" / "webhook_examples.py"
    rendered = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        encoding="utf-8",
        check=True,
        timeout=60,
    ).stdout
    assert examples_section().strip() == rendered.strip(), (
        "docs/webhooks.md's examples are stale: paste the output of scripts/webhook_examples.py"
        " between the webhook-examples markers"
    )
