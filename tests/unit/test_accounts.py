"""Account ids and the scope a caller acts in (docs/design.md §10): which ids are accounts,
which rows a scope reaches, what narrowing it by a list's filter leaves, and where a new
channel lands."""

import string

import pytest

from deskhook.domain.accounts import (
    EVERY_ACCOUNT,
    NOWHERE,
    Scope,
    account_for_create,
    account_id_violation,
)
from deskhook.domain.errors import InvalidArgument, PermissionDenied

ALLOWED_CHARACTERS = string.ascii_letters + string.digits + "._:-"


@pytest.mark.parametrize(
    "account_id",
    [
        "",  # the default account
        "a",
        "acme",
        "acme-eu:prod_2.v1",
        "a" * 64,
        *ALLOWED_CHARACTERS,
        ALLOWED_CHARACTERS[:64],
    ],
)
def test_an_account_id_of_1_to_64_allowed_characters_or_empty_is_valid(account_id: str) -> None:
    assert account_id_violation(account_id) is None


@pytest.mark.parametrize(
    "account_id",
    [
        "a" * 65,
        "a" * 5000,
        "/",
        "acme/eu",
        " ",
        "acme ",
        " acme",
        "\x00",
        "acme\x00",
        "\n",
        "acme\n",  # `$` would let a trailing newline through; fullmatch does not
        "\t",
        "é",
        "\uff41\uff43\uff4d\uff45",  # fullwidth "acme"
        "١٢٣",  # Arabic-Indic digits: isdigit() but not ASCII
        "🦄",
        "\u202e",
        "acme,globex",
        "acme;DROP",
        "'",
        '"',
        "*",
        "%",
        "+",
        "@",
        "\\",
    ],
)
def test_any_other_account_id_names_the_field(account_id: str) -> None:
    violation = account_id_violation(account_id, "channel.account_id")
    assert violation is not None
    assert violation.field == "channel.account_id"
    assert "A-Z a-z 0-9 . _ : -" in violation.description


def test_an_account_id_violation_names_account_id_by_default() -> None:
    violation = account_id_violation("a b")
    assert violation is not None
    assert violation.field == "account_id"


OPERATOR = EVERY_ACCOUNT
ACME = Scope("acme")
ACME_READ_ONLY = Scope("acme", read_only=True)
DEFAULT = Scope("")


@pytest.mark.parametrize(
    ("scope", "account_id", "reaches"),
    [
        (OPERATOR, "", True),
        (OPERATOR, "acme", True),
        (OPERATOR, "globex", True),
        (ACME, "acme", True),
        (ACME, "globex", False),
        (ACME, "", False),
        (ACME, "ACME", False),
        (ACME, "acme ", False),
        (ACME_READ_ONLY, "acme", True),
        (ACME_READ_ONLY, "globex", False),
        (DEFAULT, "", True),
        (DEFAULT, "acme", False),
        (NOWHERE, "", False),
        (NOWHERE, "acme", False),
    ],
)
def test_a_scope_reaches_its_own_account_or_every_one(
    scope: Scope, account_id: str, reaches: bool
) -> None:
    assert scope.reaches(account_id) is reaches


@pytest.mark.parametrize(
    ("scope", "account_filter", "narrowed"),
    [
        # No filter: the scope as it is.
        (OPERATOR, None, OPERATOR),
        (ACME, None, ACME),
        (ACME_READ_ONLY, None, ACME_READ_ONLY),
        # An operator narrows to any account, the default one included.
        (OPERATOR, "acme", Scope("acme")),
        (OPERATOR, "", Scope("")),
        (Scope(None, read_only=True), "acme", Scope("acme", read_only=True)),
        # An account scope naming its own account stays as it is.
        (ACME, "acme", ACME),
        (ACME_READ_ONLY, "acme", ACME_READ_ONLY),
        (DEFAULT, "", DEFAULT),
        # Naming another account (the default one too) reaches nothing, and never more.
        (ACME, "globex", NOWHERE),
        (ACME, "", NOWHERE),
        (DEFAULT, "acme", NOWHERE),
        (ACME_READ_ONLY, "globex", Scope(NOWHERE.account_id, read_only=True)),
    ],
)
def test_a_filter_narrows_an_operator_to_one_account_and_an_account_to_itself_or_nothing(
    scope: Scope, account_filter: str | None, narrowed: Scope
) -> None:
    assert scope.narrowed(account_filter) == narrowed


@pytest.mark.parametrize("scope", [OPERATOR, ACME, ACME_READ_ONLY, DEFAULT])
@pytest.mark.parametrize("account_filter", [None, "", "acme", "globex"])
def test_narrowing_never_reaches_more_nor_drops_read_only(
    scope: Scope, account_filter: str | None
) -> None:
    narrowed = scope.narrowed(account_filter)
    for account_id in ("", "acme", "globex"):
        assert not narrowed.reaches(account_id) or scope.reaches(account_id)
    assert narrowed.read_only == scope.read_only


def test_nowhere_reaches_no_account_id_there_can_be() -> None:
    # The sentinel is not an account id, so no row can carry it.
    assert account_id_violation(str(NOWHERE.account_id)) is not None


@pytest.mark.parametrize(
    ("scope", "requested", "lands_in"),
    [
        (OPERATOR, "", ""),
        (OPERATOR, "acme", "acme"),
        (OPERATOR, "globex", "globex"),
        (ACME, "", "acme"),
        (ACME, "acme", "acme"),
        (ACME_READ_ONLY, "", "acme"),
        (DEFAULT, "", ""),
    ],
)
def test_a_new_channel_lands_in_the_operators_choice_or_the_callers_own_account(
    scope: Scope, requested: str, lands_in: str
) -> None:
    assert account_for_create(scope, requested, "channel.account_id") == lands_in


@pytest.mark.parametrize(
    ("scope", "requested"),
    [(ACME, "globex"), (ACME_READ_ONLY, "globex"), (DEFAULT, "acme"), (NOWHERE, "acme")],
)
def test_an_account_scope_naming_another_account_is_denied(scope: Scope, requested: str) -> None:
    with pytest.raises(PermissionDenied) as denied:
        account_for_create(scope, requested, "channel.account_id")
    assert denied.value.reason == "ACCOUNT_NOT_ALLOWED"
    assert denied.value.message.startswith("channel.account_id:")


@pytest.mark.parametrize("scope", [OPERATOR, ACME])
@pytest.mark.parametrize("requested", ["a" * 65, "acme/eu", " ", "\x00", "é"])
def test_an_invalid_account_id_is_invalid_argument_for_everyone(
    scope: Scope, requested: str
) -> None:
    with pytest.raises(InvalidArgument) as invalid:
        account_for_create(scope, requested, "channel.account_id")
    assert [violation.field for violation in invalid.value.violations] == ["channel.account_id"]
