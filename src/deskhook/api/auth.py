"""Bearer-token checks: operator tokens and account tokens for ChannelAdmin, ingest tokens for
EventIngest (docs/design.md §6, §10).

A service with no tokens configured is open; the server then listens on loopback only (see
`require_loopback_when_open`). Health and reflection are always open, for probes and tools."""

import hmac
from dataclasses import dataclass
from enum import Enum
from ipaddress import ip_address

import grpc

from deskhook.config import parse_host_port
from deskhook.domain.access_tokens import TOKEN_PREFIX

ADMIN_SERVICE = "deskhook.v1.ChannelAdmin"
INGEST_SERVICE = "deskhook.v1.EventIngest"
BEARER = "bearer "


class Verdict(Enum):
    ALLOWED = "allowed"
    # Not one of the configured tokens, but shaped as an account token: its check decides.
    ACCOUNT_TOKEN = "account_token"  # noqa: S105 - a verdict's name, not a secret
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"


@dataclass(frozen=True)
class TokenRules:
    admin_tokens: tuple[str, ...]
    ingest_tokens: tuple[str, ...]

    def open_services(self) -> list[str]:
        return [
            service
            for service, tokens in (
                (ADMIN_SERVICE, self.admin_tokens),
                (INGEST_SERVICE, self.ingest_tokens),
            )
            if not tokens
        ]

    def verdict(self, method: str, authorization: str | None) -> Verdict:
        """Judge one call to `method` (`/package.Service/Method`) with its metadata. On an open
        service every call is allowed, an account token's too: the call is an operator's."""
        service = method.lstrip("/").split("/", 1)[0]
        if service == ADMIN_SERVICE:
            wanted, other = self.admin_tokens, self.ingest_tokens
        elif service == INGEST_SERVICE:
            wanted, other = self.ingest_tokens, self.admin_tokens
        else:
            return Verdict.ALLOWED
        if not wanted:
            return Verdict.ALLOWED
        token = bearer_token(authorization)
        if token is None:
            return Verdict.UNAUTHENTICATED
        if _matches_any(token, wanted):
            return Verdict.ALLOWED
        if _matches_any(token, other):
            return Verdict.PERMISSION_DENIED
        if service == ADMIN_SERVICE and token.startswith(TOKEN_PREFIX):
            return Verdict.ACCOUNT_TOKEN
        return Verdict.UNAUTHENTICATED


def bearer_token(authorization: str | None) -> str | None:
    if authorization is None or not authorization.lower().startswith(BEARER):
        return None
    return authorization[len(BEARER) :].strip() or None


def _matches_any(token: str, tokens: tuple[str, ...]) -> bool:
    # Compare against every token, in constant time each, so timing tells nothing.
    matches = [hmac.compare_digest(token.encode(), known.encode()) for known in tokens]
    return any(matches)


def is_loopback_address(listen: str) -> bool:
    host, _ = parse_host_port(listen)
    return is_loopback_host(host)


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address: a name no DNS answer can point elsewhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def status_code(verdict: Verdict) -> grpc.StatusCode:
    return {
        Verdict.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
        Verdict.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    }[verdict]
