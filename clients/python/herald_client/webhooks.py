"""Webhooks: create, change, test, publish to, and look at deliveries.

:class:`WebhookManager` is the LOKI guide's ``WebhookManager`` over Herald's
REST API (``/api/v1/webhooks``, ``/api/v1/events``, ``/api/v1/analytics``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Unpack

from .client import HeraldClient, PublishOptions
from .event_types import BaseEvent
from .models import (
    Analytics,
    AnalyticsOverview,
    BatchAccepted,
    BulkRetry,
    Delivery,
    DeliveryAction,
    Event,
    EventTypeInfo,
    Page,
    SecretRotation,
    TestResult,
    Timeline,
    TriggerResult,
    Webhook,
)
from .retry_handler import RetryConfig
from .settings import WebhookSettings, body_of, given
from .subscribers import SubscriberManager


class WebhookManager(SubscriberManager[Webhook]):
    """Webhooks and events on one Herald.

    With no ``client``, connects to ``HERALD_URL`` with ``HERALD_API_KEY``
    (or ``base_url``/``api_key``). A ``config`` is the retry schedule of the
    webhooks :meth:`create_webhook` makes, where a call does not give one.
    """

    collection: ClassVar[str] = "webhooks"

    def __init__(
        self,
        client: HeraldClient | None = None,
        *,
        config: RetryConfig | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.config = config
        #: Webhooks as last loaded through this manager, by id.
        self.webhooks: dict[int, Webhook] = {}
        super().__init__(client, self.webhooks, config, base_url=base_url, api_key=api_key, timeout=timeout)

    # Webhooks

    async def create_webhook(
        self,
        name: str,
        url: str,
        event_types: Sequence[str] | None = None,
        *,
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
        **settings: Unpack[WebhookSettings],
    ) -> Webhook:
        """Creates a webhook; the answer holds its whole ``secret``, the only
        one that does.

        ``event_types`` are names from the catalog, or ``["*"]`` for every
        event. ``settings`` are its retry schedule, timeout, rate limits,
        delivery mode, filter, headers and payload options
        (:class:`WebhookSettings`); retry fields left out come from the
        manager's ``config``, then from Herald's defaults (exponential
        backoff, 5 retries from 60 s).
        """
        given_fields = body_of("create_webhook", locals(), WebhookSettings)
        body: dict[str, Any] = {}
        if self.config is not None:
            body.update(self.config.webhook_fields())
        body.update(given_fields)
        delay = settings.get("retry_delay_seconds")
        if self.config is not None and settings.get("max_delay_seconds") is None and delay is not None:
            # The config's cap may be below the delay this call asks for.
            body["max_delay_seconds"] = max(self.config.max_delay_seconds, delay)
        return await self._fetch(Webhook, "POST", "/webhooks", body)

    async def list_webhooks(self, status: str | None = None, *, limit: int = 50, offset: int = 0) -> Page[Webhook]:
        """Webhooks, newest first; ``status`` is active, inactive or paused."""
        return await self._list(Webhook, {"status": status, "limit": limit, "offset": offset})

    async def get_webhook(self, webhook_id: int) -> Webhook:
        """One webhook (secret and credential-looking headers masked)."""
        return await self._fetch(Webhook, "GET", self._path(webhook_id))

    async def update_webhook(
        self,
        webhook_id: int,
        *,
        name: str | None = None,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
        status_reason: str | None = None,
        **settings: Unpack[WebhookSettings],
    ) -> Webhook:
        """Changes the fields given, and only those. A change applies to
        deliveries that start after it; making a paused webhook active
        releases the deliveries it held."""
        body = body_of("update_webhook", locals(), WebhookSettings, path=("webhook_id",))
        return await self._fetch(Webhook, "PUT", self._path(webhook_id), body)

    async def pause_webhook(self, webhook_id: int, reason: str = "") -> Webhook:
        """Holds new deliveries until the webhook is resumed."""
        return await self.update_webhook(webhook_id, status="paused", status_reason=reason)

    async def resume_webhook(self, webhook_id: int) -> Webhook:
        """Makes the webhook active again and releases what it held."""
        return await self.update_webhook(webhook_id, status="active", status_reason="")

    async def delete_webhook(self, webhook_id: int) -> None:
        """Deletes the webhook."""
        await self.client.request("DELETE", self._path(webhook_id))
        self.webhooks.pop(webhook_id, None)

    async def rotate_secret(
        self, webhook_id: int, *, overlap_hours: int | None = None, secret: str | None = None
    ) -> SecretRotation:
        """Replaces the signing secret (a new one, or ``secret``); the old one
        keeps signing beside it for ``overlap_hours`` (default 24)."""
        body = given(overlap_hours=overlap_hours, secret=secret)
        data = await self.client.request("POST", self._path(webhook_id, "rotate-secret"), body=body)
        return SecretRotation.from_dict(data)

    async def test_webhook(self, webhook_id: int, event_type: str | None = None) -> TestResult:
        """Sends one real, signed attempt with the type's example payload
        (default: the webhook's first type), without retry, recorded as a
        test delivery."""
        return await self._test(webhook_id, event_type)

    # Deliveries

    async def get_webhook_deliveries(
        self,
        webhook_id: int,
        status_filter: str | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        event_id: str | None = None,
    ) -> Page[Delivery]:
        """Attempt rows, newest first; ``status_filter`` is pending,
        delivered, retrying or failed."""
        return await self._deliveries(webhook_id, status_filter, limit, offset, event_id)

    async def get_delivery_details(self, webhook_id: int, delivery_id: int) -> Delivery:
        """One attempt row, with its delivery loop's live state (``live``)."""
        return await self._delivery(webhook_id, delivery_id)

    async def retry_delivery(self, webhook_id: int, delivery_id: int) -> DeliveryAction:
        """Retries the delivery now: a waiting one at once, a failed one by
        reopening its event."""
        return await self._act_on_delivery(webhook_id, delivery_id, "retry")

    async def cancel_delivery(self, webhook_id: int, delivery_id: int) -> DeliveryAction:
        """Stops a delivery that has not ended."""
        return await self._act_on_delivery(webhook_id, delivery_id, "cancel")

    async def retry_failed_deliveries(
        self, webhook_id: int, max_age_hours: int = 24, *, limit: int | None = None
    ) -> BulkRetry:
        """Retries every delivery that failed for good in the last
        ``max_age_hours``."""
        return await self._retry_failed(webhook_id, max_age_hours, limit)

    # Analytics

    async def get_delivery_analytics(self, webhook_id: int, period_days: int = 7) -> Analytics:
        """One webhook's figures over the last ``period_days`` days."""
        return await self._analytics(webhook_id, period_days)

    async def get_analytics(self, period_days: int = 7, event_type: str | None = None) -> AnalyticsOverview:
        """Figures across every subscriber, per event type and per webhook."""
        query = {"period_days": period_days, "event_type": event_type}
        return AnalyticsOverview.from_dict(await self.client.request("GET", "/analytics", query=query))

    # Events

    async def trigger_event(
        self,
        event: BaseEvent | str,
        payload: Mapping[str, Any] | None = None,
        *,
        wait: float | None = None,
        **options: Unpack[PublishOptions],
    ) -> TriggerResult:
        """Publishes an event to every subscriber of its type: a typed event
        (``ComplianceAlertEvent(...)``), or an event type and its payload.

        The answer says how many subscribers (webhooks and integrations)
        the event goes to (``deliveries``). Delivery itself goes on in
        Herald, retries included; with ``wait`` (seconds) the call waits for
        every delivery to end, at most that long, and the answer counts
        ``successful`` and ``failed`` ones.
        """
        accepted = await self.client.publish_event(event, payload, **options)
        ev = await self.client._read_back(accepted.event_id, wait)
        return TriggerResult._of(
            accepted,
            ev,
            deliveries=ev.total_deliveries,
            subscriber_ids=[d.webhook_id for d in ev.deliveries if d.status != "filtered"],
            successful=ev.successful_deliveries,
            failed=ev.failed_deliveries,
        )

    async def trigger_events(self, events: Iterable[BaseEvent | Mapping[str, Any]]) -> BatchAccepted:
        """Publishes 1-100 events at once, all or none."""
        return await self.client.publish_events(events)

    async def get_event(self, event_id: str) -> Event:
        """The event, its counters and each subscriber's delivery."""
        return await self.client.get_event(event_id)

    async def get_event_timeline(self, event_id: str) -> Timeline:
        """The event's delivery timeline from Temporal."""
        return await self.client.get_event_timeline(event_id)

    async def get_recent_webhook_events(self, limit: int = 10, event_type: str | None = None) -> Page[Event]:
        """Recent events, newest first."""
        return await self.client.list_events(event_type, limit=limit)

    async def list_event_types(self) -> list[EventTypeInfo]:
        """The event types webhooks can subscribe to."""
        return await self.client.list_event_types()


__all__ = ["WebhookManager"]
