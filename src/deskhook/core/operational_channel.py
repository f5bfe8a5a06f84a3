"""The operational channel kept in step with the server's settings (docs/design.md §13): every
replica, on start, makes it deliver to the operational URL, signed with the operational secret,
or, with no URL set, stops it delivering."""

from dataclasses import replace
from datetime import datetime

import structlog

from deskhook.domain.accounts import EVERY_ACCOUNT
from deskhook.domain.operational import OPERATIONAL_CHANNEL_ID, operational_channel
from deskhook.store.base import Store

log = structlog.get_logger("deskhook.operational")

NO_URL_REASON = "no operational URL is set"


async def keep_operational_channel(store: Store, url: str, secret: str, now: datetime) -> None:
    current = await store.get_channel(EVERY_ACCOUNT, OPERATIONAL_CHANNEL_ID)
    if not url:
        if current is not None:
            await store.disable_channel(OPERATIONAL_CHANNEL_ID, NO_URL_REASON, now)
        return
    wanted = operational_channel(url, now)
    if current is None:
        try:
            await store.insert_channel(wanted, secret, None)
        except Exception:
            # Another replica starting at once created it first: bring that one in step.
            current = await store.get_channel(EVERY_ACCOUNT, OPERATIONAL_CHANNEL_ID)
            if current is None:
                raise
        else:
            log.info("operational channel created")
            return
    if current.spec != wanted.spec:
        # Re-enabled too: the settings say notices go to the URL, whatever disabled it since.
        await store.update_channel(
            EVERY_ACCOUNT, replace(current, spec=wanted.spec, update_time=now, disabled_reason="")
        )
        log.info("operational channel updated")
    secrets = await store.signing_secrets(EVERY_ACCOUNT, OPERATIONAL_CHANNEL_ID)
    if not secrets or secrets[0].secret != secret:
        # The settings' secret alone signs from now: the old one is the operator's to retire.
        await store.rotate_secret(EVERY_ACCOUNT, OPERATIONAL_CHANNEL_ID, secret, now, now)
        log.info("operational secret changed")
