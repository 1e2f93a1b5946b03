"""Errors that services raise for input a person can fix; states turn them into messages."""

from __future__ import annotations


class ServiceError(Exception):
    """A rule said no. `str(error)` is a message fit to show the user."""


class FieldErrors(ServiceError):
    """Form input with one message per offending field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


class NotFound(ServiceError):
    pass


class ChangedSinceSeen(ServiceError):
    """What the user acted on changed after their page showed it: nothing was done."""
