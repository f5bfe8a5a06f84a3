"""Who is calling ChannelAdmin: the scope a call acts in, as its token decides (docs/design.md
§10)."""

from typing import Any

import grpc

from deskhook.domain.accounts import EVERY_ACCOUNT, Scope


def caller_scope(context: grpc.aio.ServicerContext[Any, Any]) -> Scope:
    """The accounts this call reaches. Until account tokens exist, every admin token is an
    operator's."""
    return EVERY_ACCOUNT
