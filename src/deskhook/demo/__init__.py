"""`deskhook demo`: a server on a temporary database, a local receiver that verifies every
signature, a channel and a stream of sample events of all twelve types, with the webhook log
shown as it fills."""

from deskhook.demo.command import register

__all__ = ["register"]
