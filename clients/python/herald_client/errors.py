"""Errors raised by the client.

Herald answers every refused request with one JSON shape,
``{"error": {"code": ..., "message": ..., "details": ...}}``; a
:class:`HeraldError` carries its parts, and for a validation failure
(``validation_failed``, HTTP 422) the field-by-field list in
:attr:`HeraldError.field_errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One field a validation failure names (``payload.alert_level``)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class HeraldError(Exception):
    """A request Herald refused, or could not answer.

    ``status`` is the HTTP status (0 when Herald could not be reached),
    ``code`` Herald's error code (``invalid_request``, ``not_found``,
    ``conflict``, ``payload_too_large``, ``validation_failed``,
    ``rate_limited``, ``unavailable``, ...), ``message`` its explanation and
    ``details`` what it added: for ``validation_failed`` a list of
    ``{"field", "message"}`` objects, else an object (``{}`` when empty).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        *,
        method: str = "",
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details: Any = {} if details is None else details
        self.method = method
        self.url = url
        #: Seconds to wait before trying again, when Herald said (429).
        self.retry_after = retry_after
        super().__init__(str(self))

    @property
    def field_errors(self) -> list[FieldError]:
        """The fields a ``validation_failed`` error names, in Herald's order."""
        if not isinstance(self.details, list):
            return []
        out: list[FieldError] = []
        for item in self.details:
            if isinstance(item, dict):
                out.append(FieldError(str(item.get("field", "")), str(item.get("message", ""))))
        return out

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        text = f"{self.status} {self.code}: {self.message}{where}"
        fields = self.field_errors
        if fields:
            text += "".join(f"\n  {f}" for f in fields)
        return text

    def __repr__(self) -> str:
        return f"HeraldError(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class HeraldConnectionError(HeraldError):
    """Herald could not be reached (refused, reset, timed out, bad address)."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(0, "connection_error", message, method=method, url=url)
