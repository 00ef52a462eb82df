"""Integrations: Slack, Microsoft Teams, email, Zapier and generic webhooks.

:class:`IntegrationManager` is the LOKI guide's ``IntegrationManager`` over
Herald's ``/api/v1/integrations``. The connector classes
(:class:`SlackIntegration`, :class:`EmailIntegration`, …) are the LOKI guide's
objects that are set up in code and ``connect()``-ed: in Herald an
integration is a subscriber kept by the service, so ``connect()`` registers
it (or brings the one of that name up to date), and ``on_batch_completed``
and its siblings publish an event and report whether this integration's
delivery of it succeeded.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, ClassVar, Unpack

from .client import HeraldClient, PublishOptions, event_body, segment
from .errors import HeraldError
from .event_types import BaseEvent
from .models import (
    Analytics,
    BulkRetry,
    Delivery,
    DeliveryAction,
    Integration,
    IntegrationHealth,
    IntegrationMetrics,
    Page,
    RouteResult,
    SubscriberDelivery,
    Subscriptions,
    TestResult,
)
from .settings import SubscriberSettings, body_of
from .subscribers import SubscriberManager

#: The integration types Herald knows.
INTEGRATION_TYPES = ("slack", "teams", "email", "zapier", "webhook")


class IntegrationManager(SubscriberManager[Integration]):
    """Integrations on one Herald, by name.

    With no ``client``, connects to ``HERALD_URL`` with ``HERALD_API_KEY``
    (or ``base_url``/``api_key``).
    """

    collection: ClassVar[str] = "integrations"

    def __init__(
        self,
        client: HeraldClient | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        #: Integrations as last loaded through this manager, by id.
        self.integrations: dict[int, Integration] = {}
        super().__init__(client, self.integrations, None, base_url=base_url, api_key=api_key, timeout=timeout)

    async def register_integration(
        self,
        name: str,
        integration_type: str,
        credentials: Mapping[str, Any] | None = None,
        event_subscriptions: Sequence[str] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        description: str | None = None,
        status: str | None = None,
        **settings: Unpack[SubscriberSettings],
    ) -> Integration:
        """Registers an integration: ``integration_type`` is slack, teams,
        email, zapier or webhook; ``credentials`` where to send and the
        secrets (sealed at rest, always shown masked); ``config`` its
        formatting (and batching, for Zapier); ``settings`` its retry
        schedule, limits and filter (:class:`SubscriberSettings`)."""
        body = body_of("register_integration", locals(), SubscriberSettings)
        return await self._fetch(Integration, "POST", "/integrations", body)

    async def list_integrations(
        self, integration_type: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> Page[Integration]:
        """Integrations, newest first, credentials masked."""
        return await self._list(Integration, {"integration_type": integration_type, "limit": limit, "offset": offset})

    async def get_integration(self, name: str) -> Integration:
        """One integration, credentials masked."""
        return await self._fetch(Integration, "GET", self._path(name))

    async def update_integration(
        self,
        name: str,
        *,
        new_name: str | None = None,
        credentials: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        event_subscriptions: Sequence[str] | None = None,
        description: str | None = None,
        status: str | None = None,
        status_reason: str | None = None,
        **settings: Unpack[SubscriberSettings],
    ) -> Integration:
        """Changes what is given: ``credentials`` and ``config`` are merged
        key by key; a masked value sent back keeps the stored one."""
        body = body_of("update_integration", locals(), SubscriberSettings, path=("name",), rename={"new_name": "name"})
        return await self._fetch(Integration, "PATCH", self._path(name), body)

    async def delete_integration(self, name: str) -> None:
        """Deletes the integration."""
        await self.client.request("DELETE", self._path(name))
        for i, known in list(self.integrations.items()):
            if known.name == name:
                del self.integrations[i]

    unregister_integration = delete_integration

    async def test_integration(self, name: str, event_type: str | None = None) -> TestResult:
        """Sends one real message with an example of the type (default: the
        first subscribed), recorded as a test; ``success`` says it arrived,
        ``error`` why not."""
        return await self._test(name, event_type)

    async def subscribe(self, name: str, event_type: str) -> Subscriptions:
        """Adds one event type to the integration's subscriptions."""
        path = self._path(name, "subscribe", segment(event_type))
        return Subscriptions.from_dict(await self.client.request("POST", path))

    async def unsubscribe(self, name: str, event_type: str) -> Subscriptions:
        """Removes one event type (404 if it was not subscribed)."""
        path = self._path(name, "subscribe", segment(event_type))
        return Subscriptions.from_dict(await self.client.request("DELETE", path))

    async def get_subscriptions(self, name: str) -> Subscriptions:
        """The event types the integration gets."""
        return Subscriptions.from_dict(await self.client.request("GET", self._path(name, "subscriptions")))

    async def route_event(
        self,
        event: BaseEvent | str,
        data: Mapping[str, Any] | None = None,
        *,
        wait: float | None = None,
        **options: Unpack[PublishOptions],
    ) -> RouteResult:
        """Publishes an event to every integration (and webhook) subscribed
        to its type: an event type and its data (a payload, or what an
        event's ``to_dict()`` made), or a typed event.

        ``routed_to`` counts the integrations it goes to. With ``wait``
        (seconds) the call waits for every delivery to end, at most that long.
        """
        accepted = await self.client.publish_event(event, data, **options)
        ev = await self.client._read_back(accepted.event_id, wait)
        names = {i.id: i.name for i in await self._all()}
        routed = [names[d.webhook_id] for d in ev.deliveries if d.webhook_id in names and d.status != "filtered"]
        return RouteResult._of(
            accepted, ev, routed_to=len(routed), integrations=sorted(routed), total_subscribers=ev.total_deliveries
        )

    async def _all(self) -> list[Integration]:
        out: list[Integration] = []
        while True:
            page = await self.list_integrations(limit=1000, offset=len(out))
            out.extend(page)
            if not page or len(out) >= page.total:
                return out

    async def integration_health(self) -> IntegrationHealth:
        """Each integration's health (healthy, idle, failing, paused,
        inactive; its last event and error) and overall (healthy, degraded,
        unhealthy)."""
        return IntegrationHealth.from_dict(await self.client.request("GET", "/integrations/health"))

    def get_metrics(self) -> IntegrationMetrics:
        """Totals across integrations, by type and per integration.

        Like the LOKI guide's, this call is not awaited: it blocks the caller
        while Herald answers. In async code prefer :meth:`fetch_metrics`.
        """
        return IntegrationMetrics.from_dict(self.client.request_sync("GET", "/integrations/metrics"))

    async def fetch_metrics(self) -> IntegrationMetrics:
        """:meth:`get_metrics` without blocking the event loop."""
        return IntegrationMetrics.from_dict(await self.client.request("GET", "/integrations/metrics"))

    # Deliveries, as for webhooks

    async def get_integration_deliveries(
        self,
        name: str,
        status_filter: str | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        event_id: str | None = None,
    ) -> Page[Delivery]:
        """The integration's attempt rows, newest first."""
        return await self._deliveries(name, status_filter, limit, offset, event_id)

    async def get_delivery_details(self, name: str, delivery_id: int) -> Delivery:
        """One attempt row with its live state."""
        return await self._delivery(name, delivery_id)

    async def retry_delivery(self, name: str, delivery_id: int) -> DeliveryAction:
        """Retries one delivery now."""
        return await self._act_on_delivery(name, delivery_id, "retry")

    async def cancel_delivery(self, name: str, delivery_id: int) -> DeliveryAction:
        """Stops a delivery that has not ended."""
        return await self._act_on_delivery(name, delivery_id, "cancel")

    async def retry_failed_deliveries(
        self, name: str, max_age_hours: int = 24, *, limit: int | None = None
    ) -> BulkRetry:
        """Retries every delivery that failed for good in the window."""
        return await self._retry_failed(name, max_age_hours, limit)

    async def get_integration_analytics(self, name: str, period_days: int = 7) -> Analytics:
        """The integration's delivery figures over the period."""
        return await self._analytics(name, period_days)


def _on(event_type: str) -> Callable[[Connector, Mapping[str, Any]], Coroutine[Any, Any, bool]]:
    """A :class:`Connector` method that sends an ``event_type`` event."""

    async def on(self: Connector, payload: Mapping[str, Any]) -> bool:
        return await self.send(event_type, payload)

    on.__name__ = "on_" + event_type.replace(".", "_")
    on.__qualname__ = "Connector." + on.__name__
    on.__doc__ = f"Sends a ``{event_type}`` event with this payload."
    return on


class Connector:
    """An integration set up in code, the LOKI guide's way::

        slack = SlackIntegration(name="Compliance Alerts", webhook_url=..., config={...})
        await slack.connect()
        ok = await slack.on_compliance_alert(alert.payload)

    ``event_subscriptions`` defaults to every event type (``["*"]``): the
    ``on_…`` methods publish an event of their type, which Herald delivers
    to every subscriber of that type, this integration among them.
    Other keyword arguments are the integration's fields
    (``max_retries=3``, ``rate_limit_per_minute=30``, …).
    """

    integration_type: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        credentials: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
        *,
        event_subscriptions: Sequence[str] | None = None,
        client: HeraldClient | None = None,
        **settings: Any,
    ) -> None:
        self.name = name
        self.credentials = dict(credentials)
        self.config = dict(config or {})
        self.event_subscriptions = list(event_subscriptions) if event_subscriptions is not None else ["*"]
        self.settings = settings
        self.manager = IntegrationManager(client)
        #: The integration as Herald last answered, once connected.
        self.integration: Integration | None = None
        #: The event the last ``send`` published, and where it left this
        #: integration's delivery of it.
        self.last_event_id: str | None = None
        self.last_delivery: SubscriberDelivery | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    async def connect(self) -> Integration:
        """Registers the integration, or brings the one of this name up to
        date with this object's credentials, config and subscriptions."""
        try:
            self.integration = await self.manager.register_integration(
                self.name,
                self.integration_type,
                self.credentials,
                self.event_subscriptions,
                config=self.config or None,
                **self.settings,
            )
        except HeraldError as e:
            if e.code != "conflict":
                raise
            try:
                self.integration = await self.manager.update_integration(
                    self.name,
                    credentials=self.credentials,
                    config=self.config or None,
                    event_subscriptions=self.event_subscriptions,
                    **self.settings,
                )
            except HeraldError as e2:
                if e2.code == "not_found":
                    raise e from None  # the name is a webhook's
                raise
        return self.integration

    async def disconnect(self) -> None:
        """Deletes the integration from Herald."""
        await self.manager.delete_integration(self.name)
        self.integration = None

    async def validate_credentials(self) -> bool:
        """Sends a test message; true when it arrived."""
        return bool((await self.manager.test_integration(self.name)).success)

    async def health(self) -> Any:
        """This integration's entry of :meth:`IntegrationManager.integration_health`."""
        return (await self.manager.integration_health()).integrations.get(self.name)

    async def send(
        self, event: BaseEvent | str, payload: Mapping[str, Any] | None = None, *, timeout: float = 60.0
    ) -> bool:
        """Publishes the event and waits, at most ``timeout`` seconds, for
        this integration's delivery of it to end; true when it delivered.

        The event goes to every subscriber of its type, as any event does.
        A delivery still retrying when the time is up counts as not
        delivered (yet): :attr:`last_delivery` says where it stands.
        """
        if self.integration is None:
            await self.connect()
        assert self.integration is not None
        body = event_body(event, payload)
        event_type = body["event_type"]
        subs = self.integration.event_subscriptions
        if event_type not in subs and "*" not in subs:
            raise ValueError(f"integration {self.name!r} is not subscribed to {event_type}; subscriptions: {subs}")
        accepted = await self.manager.client.publish_event(
            event_type,
            body["payload"],
            event_id=body.get("event_id"),
            source=body.get("source"),
            source_id=body.get("source_id"),
        )
        self.last_event_id = accepted.event_id
        try:
            self.last_delivery = await self.manager.client.wait_for_delivery(
                accepted.event_id, self.integration.id, timeout=timeout
            )
        except TimeoutError:
            event_now = await self.manager.client.get_event(accepted.event_id)
            self.last_delivery = event_now.delivery_to(self.integration.id)
            return False
        return self.last_delivery.status in ("delivered", "batched")

    on_validation_completed = _on("validation.completed")
    on_validation_failed = _on("validation.failed")
    on_correction_applied = _on("correction.applied")
    on_document_processed = _on("document.processed")
    on_compliance_alert = _on("compliance.alert")
    on_system_error = _on("system.error")
    on_batch_completed = _on("batch.completed")
    on_report_generated = _on("report.generated")


class _URLConnector(Connector):
    """A connector whose credentials are one URL, its ``webhook_url``."""

    def __init__(
        self,
        name: str,
        webhook_url: str,
        config: Mapping[str, Any] | None = None,
        *,
        event_subscriptions: Sequence[str] | None = None,
        client: HeraldClient | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(
            name,
            {"webhook_url": webhook_url},
            config,
            event_subscriptions=event_subscriptions,
            client=client,
            **settings,
        )


class SlackIntegration(_URLConnector):
    """Slack through an incoming webhook. Config: ``default_channel``,
    ``thread_ts``, ``username``, ``icon_emoji``, ``include_footer``,
    ``include_timestamp``."""

    integration_type: ClassVar[str] = "slack"


class TeamsIntegration(_URLConnector):
    """Microsoft Teams through a Workflows webhook (Adaptive Cards). Config:
    ``theme_color``, ``include_footer``, ``dashboard_url``."""

    integration_type: ClassVar[str] = "teams"


class ZapierIntegration(_URLConnector):
    """Zapier through a catch hook; signed like a webhook. Config:
    ``batch_events``, ``batch_size``, ``batch_timeout_seconds``."""

    integration_type: ClassVar[str] = "zapier"


class WebhookIntegration(_URLConnector):
    """A signed webhook managed through the integrations API; ``secret``
    sets its signing secret (else Herald makes one)."""

    integration_type: ClassVar[str] = "webhook"

    def __init__(
        self,
        name: str,
        webhook_url: str,
        config: Mapping[str, Any] | None = None,
        *,
        secret: str | None = None,
        event_subscriptions: Sequence[str] | None = None,
        client: HeraldClient | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(name, webhook_url, config, event_subscriptions=event_subscriptions, client=client, **settings)
        if secret:
            self.credentials["secret"] = secret


class EmailIntegration(Connector):
    """Email through an SMTP server. Config: ``default_recipients``,
    ``event_recipients``, ``recipients_from_payload``, ``use_tls`` (default
    true: STARTTLS required), ``implicit_tls``, ``html_format``,
    ``subject_prefix``, ``attach_event_json``."""

    integration_type: ClassVar[str] = "email"

    def __init__(
        self,
        name: str,
        smtp_host: str,
        smtp_port: int = 587,
        smtp_username: str | None = None,
        smtp_password: str | None = None,
        from_address: str = "",
        config: Mapping[str, Any] | None = None,
        *,
        event_subscriptions: Sequence[str] | None = None,
        client: HeraldClient | None = None,
        **settings: Any,
    ) -> None:
        creds: dict[str, Any] = {"smtp_host": smtp_host, "smtp_port": smtp_port, "from_address": from_address}
        if smtp_username:
            creds["smtp_username"] = smtp_username
        if smtp_password:
            creds["smtp_password"] = smtp_password
        super().__init__(name, creds, config, event_subscriptions=event_subscriptions, client=client, **settings)


__all__ = [
    "INTEGRATION_TYPES",
    "Connector",
    "EmailIntegration",
    "IntegrationManager",
    "SlackIntegration",
    "TeamsIntegration",
    "WebhookIntegration",
    "ZapierIntegration",
]
