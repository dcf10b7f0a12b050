"""The one error hierarchy of chatpay."""

from __future__ import annotations


class ChatpayError(Exception):
    """Base of every chatpay error. Messages never carry card data."""


class ConfigError(ChatpayError):
    """A setting is missing or malformed."""


class BrokerUnavailable(ChatpayError):
    """The broker did not confirm a publish: nothing was accepted."""


class StoreUnavailable(ChatpayError):
    """The database cannot be reached."""


class UndecodableMessage(ChatpayError):
    """A queue message does not decode into its actor's schema (dead-lettered, never retried)."""
