"""ChannelAdmin: converts requests, calls the channel service, converts back."""

from collections.abc import AsyncIterator
from typing import Any

import grpc

from deskhook.api.caller import caller_scope
from deskhook.api.convert import (
    account_filter,
    channel_to_proto,
    connection_status_to_proto,
    datetime_from_proto,
    event_type_from_proto,
    health_to_proto,
    log_entry_to_proto,
    outcome_from_proto,
    populated_paths,
    spec_from_proto,
    timedelta_from_proto,
    timestamp,
)
from deskhook.api.log_feed import LogFeed
from deskhook.core.access_tokens import AccessTokens
from deskhook.core.channel_service import ChannelService, require_id
from deskhook.core.webhook_log import WebhookLog
from deskhook.domain.channel_spec import Channel, resolve_update_paths
from deskhook.domain.errors import InvalidArgument
from deskhook.store.base import ChannelFilter, LogFilter
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2

Context = grpc.aio.ServicerContext[Any, Any]


class ChannelAdminServicer(channel_admin_pb2_grpc.ChannelAdminServicer):
    def __init__(
        self,
        channels: ChannelService,
        webhook_log: WebhookLog,
        feed: LogFeed,
        access_tokens: AccessTokens,
    ) -> None:
        self._channels = channels
        self._log = webhook_log
        self._feed = feed
        self._access_tokens = access_tokens

    async def _shown(self, channels: list[Channel]) -> list[channel_pb2.Channel]:
        """The channels as the API shows them, with their delivery health."""
        health = await self._channels.health([channel.id for channel in channels])
        return [
            channel_to_proto(channel, health_to_proto(*health[channel.id])) for channel in channels
        ]

    async def CreateChannel(
        self, request: pb.CreateChannelRequest, context: Context
    ) -> pb.CreateChannelResponse:
        channel, secret = await self._channels.create(
            caller_scope(context),
            spec_from_proto(request.channel),
            request.channel.account_id,
            request.request_id,
        )
        (shown,) = await self._shown([channel])
        return pb.CreateChannelResponse(channel=shown, signing_secret=secret)

    async def GetChannel(
        self, request: pb.GetChannelRequest, context: Context
    ) -> pb.GetChannelResponse:
        (shown,) = await self._shown([await self._channels.get(caller_scope(context), request.id)])
        return pb.GetChannelResponse(channel=shown)

    async def ListChannels(
        self, request: pb.ListChannelsRequest, context: Context
    ) -> pb.ListChannelsResponse:
        channel_filter = ChannelFilter(
            department_id=request.department_id if request.HasField("department_id") else None,
            enabled=request.enabled if request.HasField("enabled") else None,
        )
        page = await self._channels.list_channels(
            caller_scope(context).narrowed(account_filter(request)),
            channel_filter,
            request.page_size,
            request.page_token,
        )
        return pb.ListChannelsResponse(
            channels=await self._shown(page.items),
            next_page_token=page.next_page_token,
        )

    async def UpdateChannel(
        self, request: pb.UpdateChannelRequest, context: Context
    ) -> pb.UpdateChannelResponse:
        require_id(request.channel.id, "channel.id")
        # A mask names what changes, and no other field counts; without one, every field set
        # does, and the account, if set, must be the channel's own.
        masked = request.HasField("update_mask")
        paths = list(request.update_mask.paths) if masked else populated_paths(request.channel)
        channel = await self._channels.update(
            caller_scope(context),
            request.channel.id,
            spec_from_proto(request.channel),
            resolve_update_paths(paths),
            account_id="" if masked else request.channel.account_id,
        )
        (shown,) = await self._shown([channel])
        return pb.UpdateChannelResponse(channel=shown)

    async def DeleteChannel(
        self, request: pb.DeleteChannelRequest, context: Context
    ) -> pb.DeleteChannelResponse:
        await self._channels.delete(caller_scope(context), request.id)
        return pb.DeleteChannelResponse()

    async def TestConnection(
        self, request: pb.TestConnectionRequest, context: Context
    ) -> pb.TestConnectionResponse:
        target = request.WhichOneof("target")
        if target == "channel_id":
            status = await self._channels.test_saved(caller_scope(context), request.channel_id)
        elif target == "url":
            status = await self._channels.test_url(request.url)
        else:
            raise InvalidArgument.field("target", "set channel_id or url")
        return pb.TestConnectionResponse(connection_status=connection_status_to_proto(status))

    async def RotateSigningSecret(
        self, request: pb.RotateSigningSecretRequest, context: Context
    ) -> pb.RotateSigningSecretResponse:
        grace = (
            timedelta_from_proto(request.grace_period, "grace_period")
            if request.HasField("grace_period")
            else None
        )
        secret, previous_expire_time = await self._channels.rotate_secret(
            caller_scope(context), request.id, grace
        )
        return pb.RotateSigningSecretResponse(
            signing_secret=secret, previous_secret_expire_time=timestamp(previous_expire_time)
        )

    async def Redeliver(
        self, request: pb.RedeliverRequest, context: Context
    ) -> pb.RedeliverResponse:
        scope = request.WhichOneof("scope")
        count = await self._channels.redeliver(
            caller_scope(context),
            request.channel_id,
            request.event_id if scope == "event_id" else None,
            datetime_from_proto(request.failed_since, "failed_since")
            if scope == "failed_since"
            else None,
        )
        return pb.RedeliverResponse(scheduled_deliveries=count)

    async def ListDeliveryLog(
        self, request: pb.ListDeliveryLogRequest, context: Context
    ) -> pb.ListDeliveryLogResponse:
        log_filter = LogFilter(
            channel_id=request.channel_id,
            ticket_id=request.ticket_id if request.HasField("ticket_id") else None,
            event_type=event_type_from_proto(request.event_type, "event_type")
            if request.event_type
            else None,
            outcome=outcome_from_proto(request.outcome),
            start_time=datetime_from_proto(request.start_time, "start_time")
            if request.HasField("start_time")
            else None,
            end_time=datetime_from_proto(request.end_time, "end_time")
            if request.HasField("end_time")
            else None,
            event_id=request.event_id,
        )
        page = await self._log.list_entries(
            caller_scope(context).narrowed(account_filter(request)),
            log_filter,
            request.page_size,
            request.page_token,
        )
        return pb.ListDeliveryLogResponse(
            entries=[log_entry_to_proto(entry) for entry in page.items],
            next_page_token=page.next_page_token,
        )

    async def WatchDeliveryLog(
        self, request: pb.WatchDeliveryLogRequest, context: Context
    ) -> AsyncIterator[pb.WatchDeliveryLogResponse]:
        scope = caller_scope(context).narrowed(account_filter(request))
        await self._log.check_channel(scope, request.channel_id)
        with self._feed.watch(scope, request.channel_id) as watcher:
            # Headers go out once the watcher is registered: a client that has them knows
            # every later attempt will reach it.
            await context.send_initial_metadata(())
            while True:
                entry, skipped = await watcher.next()
                yield pb.WatchDeliveryLogResponse(
                    entry=log_entry_to_proto(entry), skipped_entries=skipped
                )

    # Only operators reach these three: the auth interceptor refuses account tokens
    # (docs/design.md §11).

    async def CreateAccessToken(
        self, request: pb.CreateAccessTokenRequest, context: Context
    ) -> pb.CreateAccessTokenResponse:
        ttl = timedelta_from_proto(request.ttl, "ttl") if request.HasField("ttl") else None
        created = await self._access_tokens.create(request.account_id, request.read_only, ttl)
        return pb.CreateAccessTokenResponse(
            token=created.minted.token,
            expire_time=timestamp(created.minted.expire_time),
            console_url=created.console_url,
        )

    async def RevokeAccessTokens(
        self, request: pb.RevokeAccessTokensRequest, context: Context
    ) -> pb.RevokeAccessTokensResponse:
        revoked = await self._access_tokens.revoke(request.account_id)
        return pb.RevokeAccessTokensResponse(revoke_time=timestamp(revoked))

    async def ListAccounts(
        self, request: pb.ListAccountsRequest, context: Context
    ) -> pb.ListAccountsResponse:
        page = await self._channels.list_accounts(
            caller_scope(context), request.page_size, request.page_token
        )
        return pb.ListAccountsResponse(
            accounts=[
                pb.Account(account_id=account_id, channel_count=count)
                for account_id, count in page.items
            ],
            next_page_token=page.next_page_token,
        )
