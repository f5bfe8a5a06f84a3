"""Which ChannelAdmin methods each scope may call (docs/design.md §10), as one table over every
method the service has: operators all, account tokens all but minting, revoking and listing
accounts, read-only tokens get, list and watch."""

import pytest

from deskhook.domain.accounts import EVERY_ACCOUNT, Scope
from deskhook.domain.permissions import OPERATOR_METHODS, READ_METHODS, WRITE_METHODS, may_call
from deskhook.v1 import channel_admin_pb2

METHODS = [
    method.name for method in channel_admin_pb2.DESCRIPTOR.services_by_name["ChannelAdmin"].methods
]
ACCOUNT = Scope("acme")
READ_ONLY = Scope("acme", read_only=True)
DEFAULT_ACCOUNT_READ_ONLY = Scope("", read_only=True)

# method: (operator, account token, read-only account token)
TABLE = {
    "CreateChannel": (True, True, False),
    "GetChannel": (True, True, True),
    "ListChannels": (True, True, True),
    "UpdateChannel": (True, True, False),
    "DeleteChannel": (True, True, False),
    "TestConnection": (True, True, False),
    "RotateSigningSecret": (True, True, False),
    "ListDeliveryLog": (True, True, True),
    "WatchDeliveryLog": (True, True, True),
    "Redeliver": (True, True, False),
    "CreateAccessToken": (True, False, False),
    "RevokeAccessTokens": (True, False, False),
    "ListAccounts": (True, False, False),
}


def test_the_table_names_every_method_of_the_service_once() -> None:
    assert sorted(TABLE) == sorted(METHODS)
    groups = (READ_METHODS, WRITE_METHODS, OPERATOR_METHODS)
    assert sorted(name for group in groups for name in group) == sorted(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_each_scope_may_call_what_the_table_says(method: str) -> None:
    operator, account, read_only = TABLE[method]
    assert may_call(EVERY_ACCOUNT, method) is operator
    # A read-only operator scope does not occur; were it to, it would still be an operator's.
    assert may_call(Scope(None, read_only=True), method) is operator
    assert may_call(ACCOUNT, method) is account
    assert may_call(Scope(""), method) is account
    assert may_call(READ_ONLY, method) is read_only
    assert may_call(DEFAULT_ACCOUNT_READ_ONLY, method) is read_only


@pytest.mark.parametrize("method", ["NewMethod", "", "getchannel", "/GetChannel"])
def test_a_method_in_no_list_is_an_operators(method: str) -> None:
    assert may_call(EVERY_ACCOUNT, method)
    assert not may_call(ACCOUNT, method)
    assert not may_call(READ_ONLY, method)
