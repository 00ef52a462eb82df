"""What :class:`WebhookManager` and :class:`IntegrationManager` share.

Webhooks and integrations are both subscribers: Herald keeps each one's
deliveries, bulk retry and figures under its own path
(``/webhooks/{id}/…``, ``/integrations/{name}/…``), and a manager keeps the
subscribers it loaded, whose retry schedules its ``retry_handler`` spells
out.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Self, TypeVar

from .client import HeraldClient, Query, segment
from .models import Analytics, BulkRetry, Delivery, DeliveryAction, Event, Integration, Page, TestResult, Webhook
from .retry_handler import RetryConfig, RetryHandler

S = TypeVar("S", Webhook, Integration)


class SubscriberManager(Generic[S]):
    """The base of the two managers: the client, the subscribers loaded
    through it, and a subscriber's deliveries, retries and figures by its
    key (a webhook's id, an integration's name)."""

    #: Where the subscribers live under the API: ``webhooks`` or ``integrations``.
    collection: ClassVar[str]

    def __init__(
        self,
        client: HeraldClient | None,
        known: dict[int, S],
        config: RetryConfig | None,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
    ) -> None:
        self.client = client or HeraldClient(base_url, api_key, timeout=timeout)
        self._known = known
        self.retry_handler = RetryHandler(config or RetryConfig(), known)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def _keep(self, s: S) -> S:
        self._known[s.id] = s
        return s

    async def _fetch(self, item: type[S], method: str, path: str, body: Any = None) -> S:
        """The subscriber Herald answers a request with, kept."""
        return self._keep(item.from_dict(await self.client.request(method, path, body=body)))

    async def _list(self, item: type[S], query: Query) -> Page[S]:
        data = await self.client.request("GET", "/" + self.collection, query=query)
        page = Page.of(data, self.collection, item)
        for s in page:
            self._keep(s)
        return page

    def _path(self, key: int | str, *rest: str) -> str:
        return f"/{self.collection}/{segment(key)}" + "".join("/" + r for r in rest)

    async def _test(self, key: int | str, event_type: str | None) -> TestResult:
        body = {"event_type": event_type} if event_type else None
        return TestResult.from_dict(await self.client.request("POST", self._path(key, "test"), body=body))

    async def wait_for_event(self, event_id: str, timeout: float = 60.0) -> Event:
        """Waits until every delivery of the event has ended."""
        return await self.client.wait_for_event(event_id, timeout=timeout)

    async def _deliveries(
        self, key: int | str, status_filter: str | None, limit: int, offset: int, event_id: str | None
    ) -> Page[Delivery]:
        query = {"status": status_filter, "event_id": event_id, "limit": limit, "offset": offset}
        data = await self.client.request("GET", self._path(key, "deliveries"), query=query)
        return Page.of(data, "deliveries", Delivery)

    async def _delivery(self, key: int | str, delivery_id: int) -> Delivery:
        return Delivery.from_dict(await self.client.request("GET", self._path(key, "deliveries", segment(delivery_id))))

    async def _act_on_delivery(self, key: int | str, delivery_id: int, action: str) -> DeliveryAction:
        path = self._path(key, "deliveries", segment(delivery_id), action)
        return DeliveryAction.from_dict(await self.client.request("POST", path))

    async def _retry_failed(self, key: int | str, max_age_hours: int, limit: int | None) -> BulkRetry:
        query = {"max_age_hours": max_age_hours, "limit": limit}
        return BulkRetry.from_dict(await self.client.request("POST", self._path(key, "retry"), query=query))

    async def _analytics(self, key: int | str, period_days: int) -> Analytics:
        data = await self.client.request("GET", self._path(key, "analytics"), query={"period_days": period_days})
        return Analytics.from_dict(data)


__all__ = ["SubscriberManager"]
