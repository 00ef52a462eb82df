"""The delivery settings webhooks and integrations share, given to the
managers' create and update calls as keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from .retry_handler import RetryStrategy


class SubscriberSettings(TypedDict, total=False):
    """How Herald delivers to a subscriber. Each one left out keeps Herald's
    default on create, and the current value on update."""

    retry_strategy: RetryStrategy | str
    max_retries: int
    retry_delay_seconds: int
    backoff_multiplier: float
    max_delay_seconds: int
    jitter_percentage: float
    timeout_seconds: int
    rate_limit_per_minute: int
    rate_limit_per_hour: int
    #: per_event (the default), stream or ordered.
    delivery_mode: str
    #: Deliver only events that match (``{"data.alert_level": {"$in": [...]}}``).
    filter: Mapping[str, Any]
    #: Retry schedules by event type.
    retry_overrides: Mapping[str, Mapping[str, Any]]


class WebhookSettings(SubscriberSettings, total=False):
    """A webhook's delivery settings, and what it adds to each request."""

    custom_headers: Mapping[str, str]
    #: Payload options: payload_format, payload_template,
    #: transformation_rules, include_raw_payload, compression.
    metadata: Mapping[str, Any]


def given(**fields: Any) -> dict[str, Any]:
    """The fields a call gave (not None): enums as their values, mappings as
    dicts, sequences (other than strings) as lists."""
    out: dict[str, Any] = {}
    for k, v in fields.items():
        if v is None:
            continue
        if isinstance(v, RetryStrategy):
            v = v.value
        elif isinstance(v, Mapping):
            v = dict(v)
        elif isinstance(v, Sequence) and not isinstance(v, (str, bytes)):
            v = list(v)
        out[k] = v
    return out


def settings_of(call: str, settings: Mapping[str, Any], kind: type) -> dict[str, Any]:
    """The settings a call gave, checked against ``kind`` (a settings
    TypedDict) as Python checks keyword arguments."""
    known = kind.__required_keys__ | kind.__optional_keys__  # type: ignore[attr-defined]
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"{call}() got an unexpected keyword argument {unknown[0]!r}")
    return given(**settings)


def body_of(
    call: str, args: Mapping[str, Any], kind: type, *, path: tuple[str, ...] = (), rename: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The body of a create or update: the call's arguments (its ``locals()``,
    read before anything else is assigned) that were given, less ``self``
    and those in the ``path``, some ``rename``-d; then its ``settings``,
    checked against ``kind``."""
    rename = rename or {}
    body = given(**{rename.get(k, k): v for k, v in args.items() if k not in ("self", "settings", *path)})
    body.update(settings_of(call, args["settings"], kind))
    return body
