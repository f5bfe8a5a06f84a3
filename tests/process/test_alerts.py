"""The alert rules in deploy/prometheus and the dashboard in deploy/grafana: promtool accepts
them, they use only metrics deskhook exports, and every alert fires on the metrics of a real
failing run.

The run is a `deskhook serve` whose one channel's receiver answers 500 while events keep coming,
a few of them invalid. Its /metrics is scraped every SCRAPE_SECONDS, and a few times more once
it has stopped (what Prometheus records as `up` 0). `promtool test rules` replays those scrapes
one minute apart, as Prometheus would have stored them had the run lasted that long: the rules'
windows and `for:` are minutes, too long for a test to wait. Each alert is expected with its
labels and with its annotations as the rules file writes them, naming the run's channel."""

import asyncio
import json
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from deskhook.api.metrics import ServerMetrics
from deskhook.client import open_channel
from deskhook.domain.breaker import ChannelHealth
from deskhook.v1 import channel_admin_pb2_grpc, event_ingest_pb2_grpc
from tests.support.channels import add_channel
from tests.support.events import make_event
from tests.support.ingest import REJECTED, publish_stream
from tests.support.receiver import Answer, Receiver
from tests.support.serve_process import ServeProcess, delivery_flags, serve_process
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, IngestStub

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "deskhook-alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "deskhook.json"
# The job the rules expect deskhook scraped as.
JOB = "deskhook"
DATASOURCE = "${DS_PROMETHEUS}"
# Values for the dashboard's variables, to check its queries as PromQL.
DASHBOARD_VARIABLES = {"$__rate_interval": "5m", "$job": JOB, "$channel": ".*"}

# Real seconds between two scrapes; promtool replays them a minute apart.
SCRAPE_SECONDS = 0.4
# Enough replayed minutes for the slowest alert, DeskhookDeliveriesPilingUp: more than 50
# pending from the 6th scrape on (VALID_PER_SCRAPE more after each), then 15 minutes of growth.
LIVE_SCRAPES = 26
# Once the server has stopped: DeskhookReplicaDown waits 2 minutes.
DOWN_SCRAPES = 4
# Published after each scrape: 1 in 11 rejected is above DeskhookIngestRejections' 5%.
VALID_PER_SCRAPE = 10
INVALID_PER_SCRAPE = 1
SCRAPE_TIMEOUT = aiohttp.ClientTimeout(total=5)
PROMTOOL_SECONDS = 30

DESKHOOK_METRIC = re.compile(r"\bdeskhook_[a-z0-9_]+\b")
LABEL_TEMPLATE = re.compile(r"\{\{\s*\$labels\.(\w+)\s*\}\}")

# A scrape's samples by series, `name{label="value",...}`, labelled as Prometheus stores them.
Samples = dict[str, float]


@dataclass(frozen=True)
class FailingRun:
    instance: str  # the metrics endpoint's host:port, Prometheus's `instance` label
    channel_id: str
    # One a scrape, SCRAPE_SECONDS apart; None where the endpoint did not answer.
    scrapes: list[Samples | None]


@dataclass(frozen=True)
class Expectation:
    """At `minute` of the replay, `alertname` fires once with `labels` from its expression,
    or, with None, not at all."""

    alertname: str
    minute: int
    labels: Mapping[str, str] | None


@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: `ensure_promtool` in scripts/lib/bootstrap.sh installs"
            " it (Debian's prometheus package)"
        )
    return path


def run_promtool(promtool: str, *args: str) -> None:
    result = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=PROMTOOL_SECONDS, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def alert_rules() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return {rule["alert"]: rule for group in document["groups"] for rule in group["rules"]}


def exported_metrics() -> set[str]:
    """The sample names deskhook's /metrics serves, with a channel for the per-channel gauges."""
    metrics = ServerMetrics()
    metrics.set_channels({"ch_example": (ChannelHealth(), 0)})
    text = generate_latest(metrics.registry).decode()
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def deskhook_metrics(expressions: Iterable[str]) -> set[str]:
    return {name for expression in expressions for name in DESKHOOK_METRIC.findall(expression)}


def test_promtool_accepts_the_rules_and_they_use_only_exported_metrics(promtool: str) -> None:
    run_promtool(promtool, "check", "rules", str(RULES))
    rules = alert_rules().values()
    assert deskhook_metrics(rule["expr"] for rule in rules) <= exported_metrics()
    for rule in rules:
        assert rule["for"], rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description"} <= rule["annotations"].keys(), rule["alert"]
        if "channel_id" in rule["expr"]:
            assert "$labels.channel_id" in rule["annotations"]["description"], rule["alert"]


def panels_of(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in panels:
        yield panel
        yield from panels_of(panel.get("panels", []))


def with_variables(expression: str) -> str:
    for variable, value in DASHBOARD_VARIABLES.items():
        expression = expression.replace(variable, value)
    return expression


def test_dashboard_queries_exported_metrics_through_its_datasource_variable(
    promtool: str, tmp_path: Path
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = dashboard["templating"]["list"]
    assert {"type": "datasource", "name": "DS_PROMETHEUS"}.items() <= variables[0].items()
    panels = [panel for panel in panels_of(dashboard["panels"]) if panel["type"] != "row"]
    targets = [target for panel in panels for target in panel["targets"]]
    assert all(panel["datasource"]["uid"] == DATASOURCE for panel in panels)
    assert all(target["datasource"]["uid"] == DATASOURCE for target in targets)
    expressions = [target["expr"] for target in targets]
    variable_queries = [variable["definition"] for variable in variables[1:]]
    assert deskhook_metrics(expressions + variable_queries) <= exported_metrics()
    # promtool parses PromQL only within rules: each query becomes a recording rule.
    records = [
        {"record": f"dashboard:query_{index}", "expr": with_variables(expression)}
        for index, expression in enumerate(expressions)
    ]
    # JSON is YAML: promtool reads it as such.
    rules = tmp_path / "dashboard-queries.yml"
    rules.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": records}]}))
    run_promtool(promtool, "check", "rules", str(rules))


def series_name(name: str, labels: Mapping[str, str]) -> str:
    pairs = ",".join(f"{key}={json.dumps(value)}" for key, value in sorted(labels.items()))
    return f"{name}{{{pairs}}}"


async def scrape(session: aiohttp.ClientSession, instance: str) -> Samples | None:
    """One scrape's samples, with the `job` and `instance` labels Prometheus adds; None when
    nothing answers, which Prometheus records as `up` 0."""
    try:
        async with session.get(f"http://{instance}/metrics") as response:
            response.raise_for_status()
            text = await response.text()
    except aiohttp.ClientConnectionError:
        return None
    target = {"job": JOB, "instance": instance}
    return {
        series_name(sample.name, {**sample.labels, **target}): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def paced(count: int) -> AsyncIterator[int]:
    """0 to `count` - 1, one every SCRAPE_SECONDS, as evenly as Prometheus scrapes."""
    start = time.monotonic()
    for tick in range(count):
        await asyncio.sleep(max(0.0, start + tick * SCRAPE_SECONDS - time.monotonic()))
        yield tick


async def publish_batch(ingest: IngestStub, batch: int) -> None:
    """VALID_PER_SCRAPE events for the channel and INVALID_PER_SCRAPE that are rejected."""
    valid = [make_event(f"alerts-{batch}-{n}") for n in range(VALID_PER_SCRAPE)]
    invalid = [make_event(f"alerts-{batch}-invalid-{n}") for n in range(INVALID_PER_SCRAPE)]
    for event in invalid:
        event.ticket.department_id = 0
    acks = await publish_stream(ingest, valid + invalid)
    assert [ack.result == REJECTED for ack in acks].count(True) == INVALID_PER_SCRAPE


async def scrape_while_publishing(
    session: aiohttp.ClientSession, grpc_port: int, instance: str
) -> list[Samples | None]:
    """LIVE_SCRAPES scrapes, each followed by a batch of events: the first sees the server
    before any, as Prometheus would have."""
    scrapes: list[Samples | None] = []
    async with open_channel(f"127.0.0.1:{grpc_port}", INGEST_TOKEN) as channel:
        ingest = event_ingest_pb2_grpc.EventIngestStub(channel)
        async for batch in paced(LIVE_SCRAPES):
            scrapes.append(await scrape(session, instance))
            await publish_batch(ingest, batch)
    return scrapes


def metrics_port(served: ServeProcess) -> int:
    for line in served.log_lines:
        if '"listening"' in line:
            return int(json.loads(line)["metrics_port"])
    raise AssertionError("no listening line in:\n" + "".join(served.log_lines))


async def create_channel(grpc_port: int, receiver: Receiver) -> str:
    async with open_channel(f"127.0.0.1:{grpc_port}", ADMIN_TOKEN) as channel:
        channel_id, _ = await add_channel(
            channel_admin_pb2_grpc.ChannelAdminStub(channel), receiver
        )
    return channel_id


async def failing_run(tmp_path: Path, receiver: Receiver) -> FailingRun:
    """A server delivering to a receiver that answers 500, scraped while events come and for a
    while after it stopped."""
    receiver.respond(Answer(status=500))
    ca_bundle = receiver.write_ca(tmp_path / "receiver-ca.pem")
    flags = delivery_flags(ADMIN_TOKEN, INGEST_TOKEN, ca_bundle)
    async with aiohttp.ClientSession(timeout=SCRAPE_TIMEOUT) as session:
        async with serve_process(str(tmp_path / "deskhook.db"), flags) as served:
            instance = f"127.0.0.1:{metrics_port(served)}"
            channel_id = await create_channel(served.port, receiver)
            scrapes = await scrape_while_publishing(session, served.port, instance)
        scrapes += [await scrape(session, instance) async for _ in paced(DOWN_SCRAPES)]
    return FailingRun(instance, channel_id, scrapes)


def replayed_value(samples: Samples | None, series: str) -> str:
    # Missing from a scrape, or every series of a failed one: Prometheus marks it stale.
    if samples is None or series not in samples:
        return "stale"
    return repr(samples[series])


def input_series(run: FailingRun) -> list[dict[str, str]]:
    """Every series scraped, a value a minute, and Prometheus's `up` for the scrapes."""
    names = sorted({name for samples in run.scrapes if samples is not None for name in samples})
    scraped = [
        {"series": name, "values": " ".join(replayed_value(s, name) for s in run.scrapes)}
        for name in names
    ]
    up = " ".join("0" if samples is None else "1" for samples in run.scrapes)
    target = {"job": JOB, "instance": run.instance}
    return [*scraped, {"series": series_name("up", target), "values": up}]


def expectations(run: FailingRun) -> list[Expectation]:
    last_live = LIVE_SCRAPES - 1
    last_down = last_live + DOWN_SCRAPES
    channel = {"job": JOB, "channel_id": run.channel_id}
    return [
        Expectation("DeskhookChannelCircuitOpen", last_live, channel),
        Expectation("DeskhookDeliveriesAllFailing", last_live, {"job": JOB}),
        Expectation("DeskhookDeliveriesPilingUp", last_live, channel),
        Expectation("DeskhookIngestRejections", last_live, {"job": JOB}),
        Expectation("DeskhookReplicaDown", last_live, None),
        Expectation("DeskhookReplicaDown", last_down, {"job": JOB, "instance": run.instance}),
    ]


def rendered(template: str, labels: Mapping[str, str]) -> str:
    """An annotation as Prometheus expands it for an alert with `labels`."""
    text = LABEL_TEMPLATE.sub(lambda match: labels[match[1]], template)
    assert "{{" not in text, f"only {{{{ $labels.NAME }}}} is rendered here: {template}"
    return text


def alert_rule_test(rule: Mapping[str, Any], expectation: Expectation) -> dict[str, Any]:
    expected: list[dict[str, dict[str, str]]] = []
    if expectation.labels is not None:
        annotations = rule["annotations"].items()
        expected.append(
            {
                "exp_labels": {**expectation.labels, **rule["labels"]},
                "exp_annotations": {
                    key: rendered(text, expectation.labels) for key, text in annotations
                },
            }
        )
    return {
        "eval_time": f"{expectation.minute}m",
        "alertname": expectation.alertname,
        "exp_alerts": expected,
    }


def unit_tests(run: FailingRun, expected: Sequence[Expectation]) -> dict[str, Any]:
    """`promtool test rules` input: the run's scrapes a minute apart, and the alerts expected."""
    rules = alert_rules()
    return {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series(run),
                "alert_rule_test": [alert_rule_test(rules[e.alertname], e) for e in expected],
            }
        ],
    }


async def test_every_alert_fires_on_the_metrics_of_a_real_failing_run(
    promtool: str, tmp_path: Path, receiver: Receiver
) -> None:
    run = await failing_run(tmp_path, receiver)
    assert all(samples is not None for samples in run.scrapes[:LIVE_SCRAPES])
    assert all(samples is None for samples in run.scrapes[LIVE_SCRAPES:])

    expected = expectations(run)
    # A rule added to the file needs its proof here.
    assert {e.alertname for e in expected if e.labels is not None} == alert_rules().keys()
    unit_test = tmp_path / "deskhook-alerts.test.yml"
    unit_test.write_text(json.dumps(unit_tests(run, expected), indent=2))
    await asyncio.to_thread(run_promtool, promtool, "test", "rules", str(unit_test))
