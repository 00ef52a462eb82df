"""Typed answers of Herald's API.

Every answer is a dataclass whose attributes are typed (timestamps are
``datetime``), and which can also be read like the dictionaries the LOKI
webhook guide's examples use: ``result.status_code`` and
``result["status_code"]`` are the same value, ``result.get("error")`` works,
and :meth:`Record.to_dict` returns the JSON Herald sent. Fields a newer
Herald adds are kept in :attr:`Record.raw` and readable by key.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Generic, TypeVar, Union

R = TypeVar("R", bound="Record")
P = TypeVar("P", bound="_Published")
T = TypeVar("T")


@dataclass(kw_only=True)
class Record:
    """Base of every answer: typed attributes plus dictionary-style reads."""

    #: The JSON object Herald answered with (or the client computed).
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """Builds the record from Herald's JSON, converting known fields."""
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name != "raw" and f.init and f.name in data:
                kwargs[f.name] = _convert(hints[f.name], data[f.name])
        return cls(raw=dict(data), **kwargs)

    def _field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if f.name != "raw")

    def __getitem__(self, key: str) -> Any:
        if key in self._field_names():
            return getattr(self, key)
        if key in self.raw:
            return self.raw[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Like ``dict.get``: the value of ``key``, or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self._field_names() or key in self.raw)

    def keys(self) -> list[str]:
        """The typed fields, then any other keys Herald sent."""
        names = list(self._field_names())
        return names + [k for k in self.raw if k not in names]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as Herald sent it."""
        return dict(self.raw)


def _record(cls: type[R], **values: Any) -> R:
    """A record the client computed; its raw form is its values as JSON."""
    return cls(raw={k: _plain(v) for k, v in values.items()}, **values)


def _plain(v: Any) -> Any:
    if isinstance(v, Record):
        return v.to_dict()
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


_hint_cache: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _hint_cache:
        _hint_cache[cls] = typing.get_type_hints(cls)
    return _hint_cache[cls]


def _parse_time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(args[0], value) if len(args) == 1 else value
    if tp is datetime:
        return _parse_time(value)
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value) if isinstance(value, Mapping) else value
    if origin is list and isinstance(value, list):
        (arg,) = typing.get_args(tp)
        return [_convert(arg, v) for v in value]
    if origin is dict and isinstance(value, Mapping):
        _, arg = typing.get_args(tp)
        return {k: _convert(arg, v) for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class Page(list[T], Generic[T]):
    """One page of a list answer: a list, plus Herald's ``total``, ``limit``
    and ``offset``."""

    def __init__(self, items: Iterable[T] = (), *, total: int = 0, limit: int = 0, offset: int = 0) -> None:
        super().__init__(items)
        self.total = total
        self.limit = limit
        self.offset = offset

    @classmethod
    def of(cls, data: Mapping[str, Any], key: str, item: type[R]) -> Page[R]:
        """The page under ``key`` of a list answer, each item an ``item``."""
        return Page(
            (item.from_dict(x) for x in data.get(key) or []),
            total=int(data.get("total", 0)),
            limit=int(data.get("limit", 0)),
            offset=int(data.get("offset", 0)),
        )

    def __repr__(self) -> str:
        return f"Page({list.__repr__(self)}, total={self.total})"


# Webhooks


@dataclass(kw_only=True)
class Subscriber(Record):
    """What webhooks and integrations share: who they are, their status, and
    how Herald delivers to them."""

    id: int = 0
    name: str = ""
    description: str = ""
    #: The signing secret, whole only in the answer that made it.
    secret: str = ""
    status: str = ""
    status_reason: str = ""
    paused_at: datetime | None = None
    consecutive_failures: int = 0
    retry_strategy: str = ""
    max_retries: int = 0
    retry_delay_seconds: int = 0
    backoff_multiplier: float = 0.0
    max_delay_seconds: int = 0
    jitter_percentage: float = 0.0
    timeout_seconds: int = 0
    rate_limit_per_minute: int = 0
    rate_limit_per_hour: int = 0
    delivery_mode: str = ""
    filter: Any = None
    retry_overrides: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_triggered_at: datetime | None = None


@dataclass(kw_only=True)
class Webhook(Subscriber):
    """A webhook: a subscriber endpoint and how to deliver to it.

    ``secret`` is whole only in the answer that created the webhook (and a
    rotation's); every other answer shows it masked.
    """

    url: str = ""
    event_types: list[str] = field(default_factory=list)
    custom_headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The delay before each retry in seconds, before jitter.
    retry_schedule_seconds: list[float] = field(default_factory=list)
    paused_by_delivery: int | None = None
    resumed_at: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    #: Held deliveries told to resume by the update that made it active.
    released_deliveries: int | None = None


@dataclass(kw_only=True)
class SecretRotation(Record):
    """The answer to a secret rotation: the new secret, whole, once."""

    id: int = 0
    secret: str = ""
    previous_secret_expires_at: datetime | None = None


@dataclass(kw_only=True)
class TestResult(Record):
    """One real, signed test attempt (``POST .../test``)."""

    __test__ = False  # not a pytest test class

    success: bool = False
    status_code: int = 0
    duration_ms: float = 0.0
    response_body: str = ""
    error: str = ""
    error_class: str = ""
    delivery_id: int = 0
    event_id: str = ""
    event_type: str = ""
    request_body: Any = None
    #: The subscriber's filter would leave this event out (sent anyway).
    filtered: bool = False


# Deliveries


@dataclass(kw_only=True)
class DeliveryState(Record):
    """Where a delivery loop stands, as its Temporal workflow answers."""

    event_id: str = ""
    blocked_by: str = ""
    webhook_id: int = 0
    webhook_name: str = ""
    state: str = ""
    attempts: int = 0
    last_attempt: int = 0
    next_attempt_at: datetime | None = None
    last_status_code: int = 0
    last_error: str = ""
    last_delivery_id: int = 0


@dataclass(kw_only=True)
class Delivery(Record):
    """One attempt to deliver one event to one subscriber."""

    id: int = 0
    webhook_id: int = 0
    event_id: str = ""
    event_type: str = ""
    event_data: Any = None
    attempt_number: int = 0
    #: pending, delivered, retrying or failed.
    status: str = ""
    is_test: bool = False
    url: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: Any = None
    signature: str = ""
    response_status_code: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    sent_at: datetime | None = None
    responded_at: datetime | None = None
    duration_ms: float | None = None
    next_retry_at: datetime | None = None
    last_error: str = ""
    error_class: str = ""
    created_at: datetime | None = None
    #: Only in a single delivery's answer: its loop's live state.
    live: DeliveryState | None = None
    live_error: str = ""


@dataclass(kw_only=True)
class DeliveryAction(Record):
    """The answer to a manual retry or cancel of one delivery."""

    event_id: str = ""
    webhook_id: int = 0
    #: signalled (its workflow runs), reopened (it had closed) or cancelled.
    action: str = ""
    state: DeliveryState | None = None


@dataclass(kw_only=True)
class BulkRetry(Record):
    """The answer to a retry of every failed delivery in a window."""

    retried: int = 0
    already_under_way: int = 0
    remaining: int = 0
    webhook_id: int = 0
    max_age_hours: int = 0


# Analytics


@dataclass(kw_only=True)
class Analytics(Record):
    """Delivery figures over a period (test deliveries aside)."""

    webhook_id: int | None = None
    period_days: int = 0
    #: Deliveries attempted.
    total_events: int = 0
    successful_deliveries: int = 0
    failed_deliveries: int = 0
    #: Percent, 0-100.
    success_rate: float = 0.0
    avg_response_time_ms: float = 0.0
    min_response_time_ms: float = 0.0
    max_response_time_ms: float = 0.0
    p95_response_time_ms: float = 0.0
    total_attempts: int = 0
    retry_count: int = 0
    http_4xx_errors: int = 0
    http_5xx_errors: int = 0
    timeout_errors: int = 0
    network_errors: int = 0
    filtered_events: int = 0
    #: In an overview's per-webhook list: the webhook's name and status.
    name: str = ""
    status: str = ""


@dataclass(kw_only=True)
class AnalyticsOverview(Record):
    """Figures across every subscriber: overall, per event type, per webhook."""

    period_days: int = 0
    event_type: str = ""
    overall: Analytics | None = None
    by_event_type: dict[str, Analytics] = field(default_factory=dict)
    by_webhook: list[Analytics] = field(default_factory=list)


# Events


@dataclass(kw_only=True)
class AcceptedEvent(Record):
    """Herald's acknowledgement of a published event: Temporal holds it."""

    event_id: str = ""
    event_type: str = ""
    status: str = ""
    #: The event id had been published before: nothing is delivered again.
    duplicate: bool = False
    workflow_id: str = ""
    created_at: datetime | None = None


@dataclass(kw_only=True)
class BatchAccepted(Record):
    """The answer to a batch publish: every event accepted, or none."""

    accepted: int = 0
    duplicates: int = 0
    events: list[AcceptedEvent] = field(default_factory=list)


#: Subscriber states after which nothing more happens to a delivery.
FINAL_STATES = frozenset({"delivered", "failed", "cancelled", "filtered", "batched"})


@dataclass(kw_only=True)
class SubscriberDelivery(Record):
    """Where one subscriber's delivery of an event stands."""

    webhook_id: int = 0
    #: pending, retrying, delivered, failed, cancelled, filtered or batched.
    status: str = ""
    attempts: int = 0
    last_delivery_id: int = 0
    response_status_code: int | None = None
    last_error: str = ""
    next_retry_at: datetime | None = None
    responded_at: datetime | None = None
    state: str = ""
    next_attempt_at: datetime | None = None

    @property
    def done(self) -> bool:
        """Whether the delivery has ended, one way or another."""
        return self.status in FINAL_STATES


@dataclass(kw_only=True)
class Event(Record):
    """An event as Herald recorded it, with its delivery counters."""

    id: int = 0
    event_id: str = ""
    event_type: str = ""
    source: str = ""
    source_id: str = ""
    payload: Any = None
    #: Subscribers the event goes to; successful and failed count those that ended so.
    total_deliveries: int = 0
    successful_deliveries: int = 0
    failed_deliveries: int = 0
    created_at: datetime | None = None
    #: Set once every delivery has ended.
    processed_at: datetime | None = None
    workflow_id: str = ""
    #: Only in a single event's answer: each subscriber's delivery.
    deliveries: list[SubscriberDelivery] = field(default_factory=list)

    def delivery_to(self, subscriber_id: int) -> SubscriberDelivery | None:
        """The delivery to one webhook or integration, if it is a subscriber."""
        for d in self.deliveries:
            if d.webhook_id == subscriber_id:
                return d
        return None


@dataclass(kw_only=True)
class TimelineEntry(Record):
    """One step of an event's delivery, read from its workflow history."""

    time: datetime | None = None
    kind: str = ""
    webhook_id: int = 0
    attempt: int = 0
    status: str = ""
    status_code: int = 0
    until: datetime | None = None
    detail: str = ""
    run_id: str = ""


@dataclass(kw_only=True)
class Timeline(Record):
    """An event's delivery timeline from Temporal."""

    event_id: str = ""
    workflow_id: str = ""
    timeline: list[TimelineEntry] = field(default_factory=list)
    note: str = ""


@dataclass(kw_only=True)
class PayloadField(Record):
    """One top-level field of an event type's payload."""

    name: str = ""
    type: str = ""
    required: bool = False
    aliases: list[str] = field(default_factory=list)
    enum: list[str] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    description: str = ""


@dataclass(kw_only=True)
class EventTypeInfo(Record):
    """An event type of Herald's catalog: its fields and an example."""

    event_type: str = ""
    description: str = ""
    triggered_when: str = ""
    builtin: bool = False
    extended: bool = False
    fields: list[PayloadField] = field(default_factory=list)
    example: Any = None
    schema_url: str = ""


@dataclass(kw_only=True)
class _Published(Record):
    """What the client answers after publishing an event: the event accepted,
    then (in each subclass) where it goes and the event as Herald recorded it."""

    event_id: str = ""
    event_type: str = ""
    duplicate: bool = False

    @classmethod
    def _of(cls: type[P], accepted: AcceptedEvent, event: Event, **values: Any) -> P:
        return _record(
            cls,
            event_id=accepted.event_id,
            event_type=accepted.event_type,
            duplicate=accepted.duplicate,
            **values,
            event=event,
        )


@dataclass(kw_only=True)
class TriggerResult(_Published):
    """What :meth:`WebhookManager.trigger_event` did: the event accepted and
    the subscribers (webhooks and integrations) it goes to."""

    #: How many subscribers the event is delivered to.
    deliveries: int = 0
    #: Their ids.
    subscriber_ids: list[int] = field(default_factory=list)
    #: Those whose delivery has ended, each way, when the answer was made.
    successful: int = 0
    failed: int = 0
    #: The event as Herald recorded it.
    event: Event | None = None


# Integrations


@dataclass(kw_only=True)
class BatchInfo(Record):
    """A batching integration's settings and its batch workflow."""

    batch_size: int = 0
    batch_timeout_seconds: int = 0
    workflow_id: str = ""


@dataclass(kw_only=True)
class Integration(Subscriber):
    """A connector (Slack, Teams, email, Zapier, generic webhook) and how to
    deliver to it. Credentials are shown masked; ``secret`` is the signing
    secret of zapier and webhook integrations."""

    integration_type: str = ""
    credentials: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    event_subscriptions: list[str] = field(default_factory=list)
    batch: BatchInfo | None = None


@dataclass(kw_only=True)
class Subscriptions(Record):
    """An integration's event subscriptions."""

    integration: str = ""
    event_subscriptions: list[str] = field(default_factory=list)
    total: int = 0


@dataclass(kw_only=True)
class IntegrationStatus(Record):
    """One integration's health: healthy, idle, failing, paused or inactive."""

    status: str = ""
    integration_type: str = ""
    last_event: datetime | None = None
    last_event_id: str = ""
    last_event_type: str = ""
    #: Why it is failing, paused or inactive.
    error: str = ""
    last_error: str = ""
    last_error_at: datetime | None = None


@dataclass(kw_only=True)
class IntegrationHealth(Record):
    """Every integration's health, and overall: healthy, degraded or unhealthy."""

    status: str = ""
    total: int = 0
    checked_at: datetime | None = None
    integrations: dict[str, IntegrationStatus] = field(default_factory=dict)


@dataclass(kw_only=True)
class IntegrationMetric(Record):
    """What one integration sent and what failed (test deliveries aside)."""

    integration_type: str = ""
    status: str = ""
    subscriptions: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    success_rate: float | None = None


@dataclass(kw_only=True)
class IntegrationMetrics(Record):
    """Totals across integrations, by type and per integration."""

    total_integrations: int = 0
    active_integrations: int = 0
    total_subscriptions: int = 0
    total_sent: int = 0
    total_failed: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    integrations: dict[str, IntegrationMetric] = field(default_factory=dict)


@dataclass(kw_only=True)
class RouteResult(_Published):
    """What :meth:`IntegrationManager.route_event` did: the event accepted and
    the integrations it goes to."""

    #: How many integrations the event goes to.
    routed_to: int = 0
    #: Their names.
    integrations: list[str] = field(default_factory=list)
    #: Every subscriber, webhooks included.
    total_subscribers: int = 0
    event: Event | None = None


# Retry schedules


@dataclass(kw_only=True)
class ScheduledRetry(Record):
    """One retry of a schedule."""

    #: The retry's number, 1 for the first retry.
    attempt: int = 0
    #: The attempt number Herald's delivery rows will show (2 for the first retry).
    attempt_number: int = 0
    #: Delay after the previous attempt, before jitter.
    delay_seconds: float = 0.0
    #: When it is due if every attempt before it fails at once, before jitter.
    retry_at: datetime | None = None


@dataclass(kw_only=True)
class RetrySchedule(Record):
    """A subscriber's retry schedule, spelled out."""

    webhook_id: int = 0
    strategy: str = ""
    max_retries: int = 0
    jitter_percentage: float = 0.0
    total_retry_time_seconds: float = 0.0
    attempts: list[ScheduledRetry] = field(default_factory=list)


__all__ = [
    "FINAL_STATES",
    "AcceptedEvent",
    "Analytics",
    "AnalyticsOverview",
    "BatchAccepted",
    "BatchInfo",
    "BulkRetry",
    "Delivery",
    "DeliveryAction",
    "DeliveryState",
    "Event",
    "EventTypeInfo",
    "Integration",
    "IntegrationHealth",
    "IntegrationMetric",
    "IntegrationMetrics",
    "IntegrationStatus",
    "Page",
    "PayloadField",
    "Record",
    "RetrySchedule",
    "RouteResult",
    "ScheduledRetry",
    "SecretRotation",
    "SubscriberDelivery",
    "Subscriptions",
    "TestResult",
    "Timeline",
    "TimelineEntry",
    "TriggerResult",
    "Webhook",
]
