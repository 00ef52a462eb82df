"""Retry strategies and schedules.

Herald retries a failed delivery on the subscriber's own schedule, run as
durable timers in its Temporal workflow: exponential backoff (delay times
multiplier to the power n-1), linear (delay times n), fixed interval, or no
retry; each delay capped at ``max_delay_seconds`` and spread by
``jitter_percentage``. A :class:`RetryConfig` given to
:class:`~herald_client.WebhookManager` is the schedule of the webhooks it
creates, unless a call says otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .models import RetrySchedule, ScheduledRetry, _record

if TYPE_CHECKING:
    from .models import Integration, Webhook


class RetryStrategy(str, enum.Enum):
    """How the delay grows between attempts."""

    EXPONENTIAL_BACKOFF = "exponential_backoff"
    LINEAR_BACKOFF = "linear_backoff"
    FIXED_INTERVAL = "fixed_interval"
    NO_RETRY = "no_retry"

    def __str__(self) -> str:
        return self.value


@dataclass
class RetryConfig:
    """A retry schedule, in the LOKI webhook guide's terms.

    ``initial_delay_seconds`` is Herald's ``retry_delay_seconds``;
    ``jitter_percentage`` is a fraction (0.2 spreads each delay by ±20 %)
    and applies only with ``jitter_enabled``.
    """

    strategy: RetryStrategy | str = RetryStrategy.EXPONENTIAL_BACKOFF
    max_retries: int = 5
    initial_delay_seconds: int = 60
    max_delay_seconds: int = 3600
    backoff_multiplier: float = 2.0
    jitter_enabled: bool = True
    jitter_percentage: float = 0.1

    def webhook_fields(self) -> dict[str, Any]:
        """The schedule as a webhook's (or integration's) retry fields."""
        return {
            "retry_strategy": RetryStrategy(self.strategy).value,
            "max_retries": self.max_retries,
            "retry_delay_seconds": self.initial_delay_seconds,
            "max_delay_seconds": self.max_delay_seconds,
            "backoff_multiplier": self.backoff_multiplier,
            "jitter_percentage": self.jitter_percentage if self.jitter_enabled else 0.0,
        }

    def delays(self) -> list[float]:
        """The delay before each retry in seconds, before jitter, worked out
        as Herald does."""
        return schedule_seconds(
            RetryStrategy(self.strategy),
            self.max_retries,
            self.initial_delay_seconds,
            self.backoff_multiplier,
            self.max_delay_seconds,
        )


def schedule_seconds(
    strategy: RetryStrategy | str, max_retries: int, delay: float, multiplier: float, max_delay: float
) -> list[float]:
    """The delay before each retry, before jitter (Herald's ``RetryPolicy.Backoff``)."""
    strategy = RetryStrategy(strategy)
    if strategy is RetryStrategy.NO_RETRY:
        return []
    out: list[float] = []
    for n in range(1, max_retries + 1):
        if strategy is RetryStrategy.EXPONENTIAL_BACKOFF:
            secs = delay * max(multiplier, 1.0) ** (n - 1)
        elif strategy is RetryStrategy.LINEAR_BACKOFF:
            secs = delay * n
        else:
            secs = delay
        if max_delay > 0:
            secs = min(secs, max_delay)
        out.append(secs)
    return out


class RetryHandler:
    """Spells out subscribers' retry schedules.

    It reads the schedule Herald computed for the webhook
    (``retry_schedule_seconds``), as last loaded by the manager that owns
    this handler: load a webhook made elsewhere with ``get_webhook`` first.
    """

    def __init__(self, config: RetryConfig, known: Mapping[int, Webhook | Integration]) -> None:
        self.config = config
        self._known = known

    def create_retry_schedule(self, webhook_id: int, *, start: datetime | None = None) -> RetrySchedule:
        """The subscriber's retries, each with its delay and when it would be
        due if the first attempt were made at ``start`` (default now) and
        every attempt failed at once."""
        sub = self._known.get(webhook_id)
        if sub is None:
            raise LookupError(f"webhook {webhook_id} is not loaded: await manager.get_webhook({webhook_id}) first")
        delays: list[float] = list(sub.raw.get("retry_schedule_seconds") or [])
        if not delays and "retry_schedule_seconds" not in sub.raw:
            delays = schedule_seconds(
                sub.retry_strategy,
                sub.max_retries,
                sub.retry_delay_seconds,
                sub.backoff_multiplier,
                sub.max_delay_seconds,
            )
        at = start or datetime.now(timezone.utc)
        attempts: list[ScheduledRetry] = []
        for n, secs in enumerate(delays, start=1):
            at = at + timedelta(seconds=secs)
            attempts.append(_record(ScheduledRetry, attempt=n, attempt_number=n + 1, delay_seconds=secs, retry_at=at))
        return _record(
            RetrySchedule,
            webhook_id=webhook_id,
            strategy=sub.retry_strategy,
            max_retries=sub.max_retries,
            jitter_percentage=sub.jitter_percentage,
            total_retry_time_seconds=round(sum(delays), 3),
            attempts=attempts,
        )


__all__ = ["RetryConfig", "RetryHandler", "RetryStrategy", "schedule_seconds"]
