"""The deskhook process: the gRPC services, health and reflection over one open store."""

import asyncio
import os
import random
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

import grpc
import structlog
from grpc_health.v1 import health_pb2
from opentelemetry.trace import Tracer

from deskhook.api import grpc_server
from deskhook.api.auth import TokenRules, is_loopback_address
from deskhook.api.channel_admin import ChannelAdminServicer
from deskhook.api.console_http import ConsoleEndpoint
from deskhook.api.event_ingest import EventIngestServicer
from deskhook.api.grpc_server import StartupError
from deskhook.api.health import HealthService
from deskhook.api.http_endpoint import EndpointLimits, HttpEndpoint
from deskhook.api.json_api import JsonApi, served_methods
from deskhook.api.log_feed import LogFeed
from deskhook.api.metrics import ServerMetrics
from deskhook.api.metrics_http import MetricsEndpoint
from deskhook.api.rpc_bridge import HandlerTable, RpcBridge
from deskhook.api.sign_in_limit import SignInLimiter
from deskhook.config import Settings
from deskhook.core.access_tokens import AccessTokens
from deskhook.core.channel_service import ChannelService
from deskhook.core.ingest import IngestCommitter
from deskhook.core.operational_channel import keep_operational_channel
from deskhook.core.pruner import Pruner
from deskhook.core.webhook_log import WebhookLog
from deskhook.delivery.connection_test import HttpConnectionTester
from deskhook.delivery.http_client import (
    SYSTEM_RESOLVER,
    HttpLimits,
    ResolverFactory,
    WebhookClient,
)
from deskhook.delivery.operational import OperationalNotices
from deskhook.delivery.scheduler import DeliveryScheduler, SchedulerLimits
from deskhook.domain.breaker import DEFAULT_POLICY, BreakerPolicy
from deskhook.domain.delivery import Attempt
from deskhook.domain.sign_in import SignInPolicy
from deskhook.domain.url_policy import UrlPolicy, UrlRefused, check_url
from deskhook.store.base import Store, StoreListener
from deskhook.store.directory import ChannelDirectory
from deskhook.store.location import redacted
from deskhook.store.open import open_store
from deskhook.store.sqlite.connection import BUSY_TIMEOUT_MS
from deskhook.tracing import INSTRUMENTATION, traces_from_environment
from deskhook.v1 import channel_admin_pb2, event_ingest_pb2

# StartupError is raised where the gRPC server binds, and told of here, where it starts.
__all__ = ["DeskhookServer", "StartupError", "Tuning", "serve"]

log = structlog.get_logger("deskhook.server")

# In-flight RPCs get this long to finish on shutdown before they are cancelled.
SHUTDOWN_GRACE_SECONDS: Final = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Tuning:
    """Internals that are not settings: tests shorten the limits, drive the clock and answer
    DNS lookups themselves."""

    http_limits: HttpLimits = field(default_factory=HttpLimits)
    resolver: ResolverFactory = SYSTEM_RESOLVER
    scheduler_limits: SchedulerLimits = field(default_factory=SchedulerLimits)
    metrics_limits: EndpointLimits = field(default_factory=EndpointLimits)
    # Browsers keep a few connections each, and a live log holds one.
    console_limits: EndpointLimits = field(
        default_factory=lambda: EndpointLimits(max_connections=256)
    )
    breaker: BreakerPolicy = DEFAULT_POLICY
    # Refused tokens one address may offer the JSON API.
    sign_ins: SignInPolicy = field(default_factory=SignInPolicy)
    clock: Callable[[], datetime] = utc_now
    jitter: Callable[[], float] = random.random
    # Spans of ingest and delivery; None: none made.
    tracer: Tracer | None = None
    # How long a SQLite statement waits for another process's lock before UNAVAILABLE.
    busy_timeout_ms: int = BUSY_TIMEOUT_MS


class _Services(NamedTuple):
    committer: IngestCommitter
    channels: ChannelService
    access_tokens: AccessTokens


class DeskhookServer:
    """Start with `start()`, stop with `stop()`; `port` is the bound gRPC port,
    `metrics_port` the metrics endpoint's and `console_port` the console's (0 when off), useful
    with port 0."""

    def __init__(self, settings: Settings, tuning: Tuning = Tuning()) -> None:
        self.settings = settings
        self.tuning = tuning
        self._tokens = TokenRules(settings.admin_tokens, settings.ingest_tokens)
        # Built once the store is open: checking account tokens needs it.
        self._grpc: grpc.aio.Server | None = None
        self._health = HealthService()
        self._policy = UrlPolicy(settings.allow_http, settings.allow_networks)
        # Settings has checked that the CA bundle loads.
        self._client = WebhookClient(
            self._policy, tuning.http_limits, settings.ca_bundle, resolver=tuning.resolver
        )
        self._store: Store | None = None
        self._committer: IngestCommitter | None = None
        self.directory: ChannelDirectory | None = None
        self.scheduler: DeliveryScheduler | None = None
        self.pruner: Pruner | None = None
        self._metrics = ServerMetrics()
        self._metrics_endpoint: MetricsEndpoint | None = None
        self._console_endpoint: ConsoleEndpoint | None = None
        self._feed = LogFeed()
        # True from SERVING until stop() begins: what /readyz answers.
        self._serving = False
        # Once "listening" is logged: a start that failed logs no "stopped" either.
        self._listening = False
        self.port = 0
        self.metrics_port = 0
        self.console_port = 0

    async def start(self) -> None:
        open_services = self._open_services()
        self._check_operational_url()
        store = self._store = await open_store(
            self.settings.database, self.settings.database_pool_size, self.tuning.busy_timeout_ms
        )
        # Told once the database opened: a database that does not is the one line to read.
        if open_services:
            log.warning("open without tokens, on loopback only", services=open_services)
        try:
            await self._start_serving(store)
        except BaseException:
            await self.stop(grace=0)
            raise

    def _check_operational_url(self) -> None:
        """The operational URL is held to the rules of every channel's URL: refused before
        anything starts, rather than at its first notice."""
        if self.settings.operational_url:
            try:
                check_url(self.settings.operational_url, self._policy)
            except UrlRefused as refused:
                raise StartupError(f"operational_url: {refused.message}") from None

    def _open_services(self) -> list[str]:
        """The services without tokens. Such a service is open to anyone who can reach the
        port: that is allowed only on loopback, for local use."""
        open_services = self._tokens.open_services()
        for address in (self.settings.listen, self.settings.console_listen):
            if open_services and address and not is_loopback_address(address):
                raise StartupError(
                    f"no tokens are configured for {', '.join(open_services)}, so the server "
                    f"listens on loopback only, not {address}; set --admin-token and "
                    "--ingest-token (DESKHOOK_ADMIN_TOKENS, DESKHOOK_INGEST_TOKENS) to listen"
                    " there"
                )
        return open_services

    async def _start_serving(self, store: Store) -> None:
        directory = self.directory = ChannelDirectory(store)
        services = await self._build_services(store, directory)
        settings = self.settings
        chain = grpc_server.interceptors(self._tokens, services.access_tokens)
        server = self._grpc = grpc_server.new_server(chain, settings.max_ingest_streams)
        handlers = self._register(server, store, services)
        self.port = grpc_server.bind(server, settings.listen, settings.tls_cert, settings.tls_key)
        if settings.metrics_listen:
            self.metrics_port = await self._serve_metrics(directory, services.channels)
        if settings.console_listen:
            self.console_port = await self._serve_console(RpcBridge(handlers.handlers, chain))
        await server.start()
        for service in ("", *grpc_server.SERVICE_NAMES):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._serving = True
        self._listening = True
        log.info(
            "listening",
            address=settings.listen,
            port=self.port,
            metrics_address=settings.metrics_listen,
            metrics_port=self.metrics_port,
            console_address=settings.console_listen,
            console_port=self.console_port,
            tls=settings.tls_cert is not None,
            database=redacted(settings.database),
            schema_version=await store.schema_version(),
        )

    async def _build_services(self, store: Store, directory: ChannelDirectory) -> _Services:
        """Start the services behind the RPCs: ingest, delivery, the channels and retention."""
        clock = self.tuning.clock
        # Set whenever deliveries may have become due on any channel (a redelivery, another
        # replica's commit); the scheduler wakes on it. Ingest tells it the channels instead.
        deliveries_due = asyncio.Event()
        # Listening before the first read of the channels: no change falls between the two.
        await store.listen(
            StoreListener(
                deliveries_due=deliveries_due.set, channels_changed=directory.request_refresh
            )
        )
        await keep_operational_channel(
            store, self.settings.operational_url, self.settings.operational_secret, clock()
        )
        await directory.refresh()
        notices = (
            OperationalNotices(
                store,
                console_url=self.settings.console_url,
                now=clock,
                # Late-bound: the scheduler is built next, with the notices.
                on_commit=lambda channel_ids: scheduler.due_on(channel_ids),  # noqa: PLW0108
            )
            if self.settings.operational_url
            else None
        )
        scheduler = self.scheduler = DeliveryScheduler(
            store,
            directory,
            self._client,
            now=clock,
            jitter=self.tuning.jitter,
            random_bytes=secrets.token_bytes,
            wake=deliveries_due,
            limits=self.tuning.scheduler_limits,
            breaker=self.tuning.breaker,
            on_attempt=self._on_attempt(self._feed),
            tracer=self.tuning.tracer,
            notices=notices,
        )
        committer = self._committer = IngestCommitter(
            store,
            directory,
            now=clock,
            on_commit=self.scheduler.due_on,
            on_acked=self._metrics.count_ingested,
            tracer=self.tuning.tracer,
        )
        committer.start()
        channels = ChannelService(
            store,
            HttpConnectionTester(self._client),
            self._policy,
            now=clock,
            random_bytes=secrets.token_bytes,
            on_change=directory.refresh,
            on_redeliver=deliveries_due.set,
            health_of=self.scheduler.health,
            max_channels_per_account=self.settings.max_channels_per_account,
        )
        await self.scheduler.start()
        self.pruner = Pruner(store, timedelta(days=self.settings.retention_days), now=clock)
        self.pruner.start()
        access_tokens = AccessTokens(
            store,
            now=clock,
            random_bytes=secrets.token_bytes,
            console_url=self.settings.console_url,
        )
        await access_tokens.start()
        return _Services(committer, channels, access_tokens)

    def _register(self, server: grpc.aio.Server, store: Store, services: _Services) -> HandlerTable:
        """Put the services on the gRPC server, behind their RPCs; the same servicers' handlers
        for the JSON API."""
        admin = ChannelAdminServicer(
            services.channels, WebhookLog(store), self._feed, services.access_tokens
        )
        ingest = EventIngestServicer(
            services.committer,
            self.tuning.clock,
            self._metrics.count_rejected,
            self.settings.max_ingest_streams,
            self.tuning.tracer,
        )
        grpc_server.register(server, admin, ingest, self._health)
        handlers = HandlerTable()
        grpc_server.register_services(handlers, admin, ingest)
        return handlers

    def _on_attempt(self, feed: LogFeed) -> Callable[[Attempt], None]:
        def publish(record: Attempt) -> None:
            # Counted here rather than by a feed watcher: a watcher skips entries when behind.
            self._metrics.observe_attempt(record)
            feed.publish(record)

        return publish

    async def _serve_metrics(self, directory: ChannelDirectory, channels: ChannelService) -> int:
        async def refresh_channels() -> None:
            ids = [channel.id for channel in directory.channels()]
            self._metrics.set_channels(await channels.health(ids))

        endpoint = self._metrics_endpoint = MetricsEndpoint(
            self._metrics.registry,
            before_scrape=refresh_channels,
            ready=lambda: self._serving,
            limits=self.tuning.metrics_limits,
        )
        return await _listen(endpoint, self.settings.metrics_listen, "--metrics-listen", "metrics")

    async def _serve_console(self, bridge: RpcBridge) -> int:
        services = [
            channel_admin_pb2.DESCRIPTOR.services_by_name["ChannelAdmin"],
            event_ingest_pb2.DESCRIPTOR.services_by_name["EventIngest"],
        ]
        endpoint = self._console_endpoint = ConsoleEndpoint(
            JsonApi(
                bridge,
                served_methods(*services),
                SignInLimiter(self.tuning.clock, self.tuning.sign_ins),
            ),
            self.tuning.console_limits,
            self.settings.console_frame_ancestors,
            loopback_names_only=bool(self._tokens.open_services()),
        )
        return await _listen(
            endpoint, self.settings.console_listen, "--console-listen", "the console"
        )

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop within about `grace` seconds: RPCs and delivery attempts in flight share it."""
        deadline = time.monotonic() + grace
        self._serving = False
        # Health first, so load balancers stop sending before the port closes.
        await self._health.enter_graceful_shutdown()
        # Log watchers end here, health watchers above; the grace is for RPCs that end.
        self._feed.close()
        if self._console_endpoint is not None:
            await self._console_endpoint.stop()
            self._console_endpoint = None
        if self._grpc is not None:
            await self._grpc.stop(grace)
        # After the port closed: no new events, and every event already received is committed.
        if self._committer is not None:
            await self._committer.stop()
            self._committer = None
        if self.scheduler is not None:
            await self.scheduler.stop(max(deadline - time.monotonic(), 0.0))
            self.scheduler = None
        if self.pruner is not None:
            await self.pruner.stop()
            self.pruner = None
        if self.directory is not None:
            await self.directory.close()
            self.directory = None
        await self._client.close()
        # Up until the store closes, so that /readyz says 503 through the whole shutdown.
        if self._metrics_endpoint is not None:
            await self._metrics_endpoint.stop()
        if self._store is not None:
            await self._store.close()
            self._store = None
        if self._listening:
            self._listening = False
            log.info("stopped")


async def _listen(endpoint: HttpEndpoint, address: str, flag: str, what: str) -> int:
    """The port `endpoint` is bound to on `address`; a StartupError naming `flag` if none."""
    try:
        return await endpoint.start(address)
    except OSError as error:
        raise grpc_server.cannot_listen(address, error, flag, f" for {what}") from error


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    traces = traces_from_environment(os.environ)
    tracer = traces.get_tracer(INSTRUMENTATION) if traces is not None else None
    try:
        await _serve_until_stopped(DeskhookServer(settings, Tuning(tracer=tracer)))
    finally:
        if traces is not None:
            traces.shutdown()


async def _serve_until_stopped(server: DeskhookServer) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await server.start()
    try:
        await stopping.wait()
        log.info("shutting down")
    finally:
        await server.stop()
