"""Who is calling ChannelAdmin: the scope a call acts in, as its token decides (docs/design.md
§10).

The auth interceptor checks the token and runs the servicer's method with the scope set here
(`acting_in`), in the task that serves the RPC: every RPC of a grpc.aio server runs in a task of
its own, whose context no other RPC shares."""

from contextvars import ContextVar
from typing import Any, Final

import grpc

from deskhook.domain.accounts import Scope

_SCOPE: Final[ContextVar[Scope]] = ContextVar("deskhook_caller_scope")


def acting_in(scope: Scope) -> None:
    """Make `scope` the current call's, for the rest of its task."""
    _SCOPE.set(scope)


def caller_scope(context: grpc.aio.ServicerContext[Any, Any]) -> Scope:
    """The accounts this call reaches. A ChannelAdmin method reached without the auth
    interceptor deciding is a wiring bug: it fails rather than reach every account."""
    try:
        return _SCOPE.get()
    except LookupError:
        raise RuntimeError("no caller scope: the call did not pass the auth interceptor") from None
