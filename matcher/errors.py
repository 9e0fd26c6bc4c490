"""The matcher's exception hierarchy; matcher/service.py maps each to one gRPC status."""

from __future__ import annotations


class MatcherError(Exception):
    """Base of every error the matcher raises on purpose."""


class InvalidInputError(MatcherError):
    """A caller supplied a malformed value. `field` names it (a dotted path, as in the proto)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DuplicateRecordError(MatcherError):
    """A record with this id is already in the gallery; nothing was changed."""

    def __init__(self, record_id: str) -> None:
        super().__init__(f"record_id: {record_id!r} is already in the gallery")
        self.record_id = record_id


class GalleryError(MatcherError):
    """The gallery on disk is missing, corrupt, locked or cannot be written durably."""


class GalleryClosedError(GalleryError):
    """The gallery was closed (or failed and refuses further use)."""


class ConfigError(MatcherError):
    """The matcher configuration is invalid; raised before anything starts."""
