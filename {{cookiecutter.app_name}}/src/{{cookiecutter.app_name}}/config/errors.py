"""The errors a person must put right, and how messages name things."""

from __future__ import annotations


class FixFirstError(Exception):
    """Something a person must put right before a command can work; the message says what (commands exit with 2)."""


SHOWN_NAMES = 20  # a message lists at most this many columns: a file of 20,000 would make a message of 200 KB


def names_list(names: list, shown: int = SHOWN_NAMES) -> str:
    """`names` as a message shows them: all of a short list, the first `shown` of a long one and how many more."""
    if len(names) <= shown:
        return str(list(names))
    return f"{str(list(names[:shown]))[:-1]}, ...] ({len(names) - shown:,} more)"


class ConfigError(FixFirstError, ValueError):
    """A config file or environment variable holds something the app cannot use."""
