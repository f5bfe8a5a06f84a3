"""Which ChannelAdmin methods a caller's scope may call (docs/design.md §11): one table, the
same for every adapter (gRPC now, a JSON API later), named by the methods' wire names."""

from typing import Final

from deskhook.domain.accounts import Scope

# Get, list and watch: all that a read-only account token may do.
READ_METHODS: Final = frozenset(
    {"GetChannel", "ListChannels", "ListDeliveryLog", "WatchDeliveryLog"}
)
# What an account token may do besides, unless it is read-only.
WRITE_METHODS: Final = frozenset(
    {
        "CreateChannel",
        "UpdateChannel",
        "DeleteChannel",
        "TestConnection",
        "RotateSigningSecret",
        "Redeliver",
    }
)
# Minting and revoking tokens, and seeing every account: operators alone. So is any method in
# neither set above, so that a new RPC reaches account tokens only once it is listed here.
OPERATOR_METHODS: Final = frozenset({"CreateAccessToken", "RevokeAccessTokens", "ListAccounts"})


def may_call(scope: Scope, method: str) -> bool:
    """Whether a caller acting in `scope` may call the ChannelAdmin method named `method`."""
    if scope.account_id is None:
        return True
    return method in READ_METHODS or (method in WRITE_METHODS and not scope.read_only)
