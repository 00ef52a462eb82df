"""The connection to one Herald: its URL, an API key, and the operations on
events that webhooks and integrations share.

Requests go through :mod:`urllib.request` in a worker thread
(:func:`asyncio.to_thread`), so the package needs nothing beyond the
standard library and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict, Unpack

from ._version import __version__
from .errors import HeraldConnectionError, HeraldError
from .event_types import BaseEvent
from .models import (
    AcceptedEvent,
    BatchAccepted,
    Event,
    EventTypeInfo,
    Page,
    SubscriberDelivery,
    Timeline,
)
from .settings import settings_of

#: Where ``herald dev`` serves its API when HERALD_URL is not set.
DEFAULT_URL = "http://127.0.0.1:8080"
API_PREFIX = "/api/v1"

Query = Mapping[str, Any]


def api_root(url: str) -> str:
    """Herald's API root (``…/api/v1``) from a URL given with or without it."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if url.endswith(API_PREFIX):
        return url
    return url + API_PREFIX


def segment(value: object) -> str:
    """One path segment: an id, a name (``Slack Alerts``), an event type."""
    return urllib.parse.quote(str(value), safe="")


def jsonable(value: Any) -> Any:
    """A request body as JSON can hold it: enums as their values, events as
    their publish bodies. (Callers leave out the fields not given; a
    ``None`` inside a payload is sent as null.)"""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseEvent):
        return value.to_publish()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class HeraldClient:
    """A connection to one Herald's API.

    ``base_url`` defaults to the ``HERALD_URL`` environment variable, then to
    ``http://127.0.0.1:8080`` (``herald dev``); it may end in ``/api/v1`` or
    not. ``api_key`` defaults to ``HERALD_API_KEY``. ``timeout`` bounds each
    request in seconds.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout: float = 30.0) -> None:
        self.base_url = api_root(base_url or os.environ.get("HERALD_URL") or DEFAULT_URL)
        self.api_key = api_key if api_key is not None else os.environ.get("HERALD_API_KEY", "")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HeraldClient({self.base_url!r})"

    async def __aenter__(self) -> HeraldClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    # Transport

    async def request(self, method: str, path: str, *, query: Query | None = None, body: Any = None) -> Any:
        """Sends one request; returns the decoded JSON answer (``None`` for 204).

        Raises :class:`HeraldError` when Herald refuses, and
        :class:`HeraldConnectionError` when it cannot be reached.
        """
        return await asyncio.to_thread(self.request_sync, method, path, query=query, body=body)

    def request_sync(self, method: str, path: str, *, query: Query | None = None, body: Any = None) -> Any:
        """:meth:`request`, blocking the calling thread."""
        url = self.base_url + path
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None
        headers = {"Accept": "application/json", "User-Agent": f"herald-client-python/{__version__}"}
        if body is not None:
            data = json.dumps(jsonable(body), separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with _opener(req.host).open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise _error_of(e, method, url) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise HeraldConnectionError(f"cannot reach Herald: {reason}", method=method, url=url) from e
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise HeraldError(
                0, "invalid_response", f"answer is not JSON: {raw[:200]!r}", method=method, url=url
            ) from None

    # Events

    async def publish_event(
        self, event: BaseEvent | str, payload: Mapping[str, Any] | None = None, **options: Unpack[PublishOptions]
    ) -> AcceptedEvent:
        """Publishes one event: a typed event, or an event type and its payload.

        Herald answers once Temporal holds the event, so an accepted event
        cannot be lost. Publishing an event id again delivers nothing again
        (the answer's ``duplicate`` is true).
        """
        body = event_body(event, payload, **options)
        return AcceptedEvent.from_dict(await self.request("POST", "/events", body=body))

    async def _read_back(self, event_id: str, wait: float | None) -> Event:
        """A published event: once every delivery has ended with ``wait``
        (seconds, at most), else as it stands now."""
        if wait:
            return await self.wait_for_event(event_id, timeout=wait)
        return await self.get_event(event_id)

    async def publish_events(self, events: Iterable[BaseEvent | Mapping[str, Any]]) -> BatchAccepted:
        """Publishes 1-100 events at once, all or none."""
        items = [e.to_publish() if isinstance(e, BaseEvent) else dict(e) for e in events]
        return BatchAccepted.from_dict(await self.request("POST", "/events/batch", body={"events": items}))

    async def get_event(self, event_id: str) -> Event:
        """The event, its counters and where each subscriber's delivery stands."""
        return Event.from_dict(await self.request("GET", "/events/" + segment(event_id)))

    async def list_events(self, event_type: str | None = None, *, limit: int = 50, offset: int = 0) -> Page[Event]:
        """Recent events, newest first."""
        data = await self.request("GET", "/events", query={"event_type": event_type, "limit": limit, "offset": offset})
        return Page.of(data, "events", Event)

    async def get_event_timeline(self, event_id: str) -> Timeline:
        """The event's delivery timeline, read from its Temporal workflow."""
        return Timeline.from_dict(await self.request("GET", f"/events/{segment(event_id)}/timeline"))

    async def list_event_types(self) -> list[EventTypeInfo]:
        """Every event type: the eight built-in ones, then custom ones."""
        data = await self.request("GET", "/event-types")
        return [EventTypeInfo.from_dict(t) for t in data.get("event_types") or []]

    async def get_event_type(self, event_type: str) -> EventTypeInfo:
        """One event type, its payload fields and an example."""
        return EventTypeInfo.from_dict(await self.request("GET", "/event-types/" + segment(event_type)))

    async def wait_for_event(self, event_id: str, *, timeout: float = 60.0, interval: float = 0.2) -> Event:
        """Waits until every delivery of the event has ended; returns the event.

        Raises :class:`TimeoutError` when some delivery is still under way
        (waiting for a retry, say) after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            ev = await self.get_event(event_id)
            if ev.processed_at is not None and all(d.done for d in ev.deliveries):
                return ev
            if time.monotonic() >= deadline:
                raise TimeoutError(f"event {event_id}: deliveries still under way after {timeout:g}s")
            await asyncio.sleep(interval)

    async def wait_for_delivery(
        self, event_id: str, subscriber_id: int, *, timeout: float = 60.0, interval: float = 0.2
    ) -> SubscriberDelivery:
        """Waits until the event's delivery to one webhook or integration has
        ended; returns where it stands (``status`` delivered, failed, …).

        Raises :class:`LookupError` if the subscriber does not get the event,
        :class:`TimeoutError` if its delivery is still under way after
        ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            ev = await self.get_event(event_id)
            d = ev.delivery_to(subscriber_id)
            if d is None and ev.processed_at is not None:
                raise LookupError(f"event {event_id} does not go to subscriber {subscriber_id}")
            if d is not None and d.done:
                return d
            if time.monotonic() >= deadline:
                raise TimeoutError(f"event {event_id}: delivery to {subscriber_id} still under way after {timeout:g}s")
            await asyncio.sleep(interval)

    # Service

    async def health(self) -> dict[str, Any]:
        """Liveness of the API (no key needed)."""
        return dict(await self.request("GET", "/health"))

    async def ready(self) -> dict[str, Any]:
        """Readiness of the database, Temporal and the workers."""
        try:
            return dict(await self.request("GET", "/ready"))
        except HeraldError as e:
            if e.status == 503 and isinstance(e.details, dict):
                return {"status": "unavailable", **e.details}
            raise


class PublishOptions(TypedDict, total=False):
    """What a publish may set beside the event itself."""

    #: The event's id: publishing the same id again delivers nothing again.
    event_id: str
    #: The component that emitted it, and the id of what it is about.
    source: str
    source_id: str


def event_body(
    event: BaseEvent | str, payload: Mapping[str, Any] | None = None, **options: Unpack[PublishOptions]
) -> dict[str, Any]:
    """The ``POST /events`` body for a typed event, or a type and a payload.

    A mapping made by :meth:`BaseEvent.to_dict` is accepted as the payload
    of its own event type.
    """
    if isinstance(event, BaseEvent):
        if payload is not None:
            raise TypeError("pass either a typed event or an event type and its payload")
        body = event.to_publish()
    else:
        if payload is None:
            raise TypeError(f"publishing {event!r} needs a payload")
        body = unwrap_event_dict(event, payload)
    body.update(settings_of("publish_event", options, PublishOptions))
    return body


def unwrap_event_dict(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The publish body for ``data``: a payload, or what ``to_dict()`` made."""
    inner = data.get("payload")
    if data.get("event_type") == event_type and isinstance(inner, Mapping):
        body: dict[str, Any] = {"event_type": event_type, "payload": dict(inner)}
        for key in ("event_id", "source", "source_id"):
            if data.get(key):
                body[key] = data[key]
        return body
    return {"event_type": event_type, "payload": dict(data)}


# Requests go through the proxy the environment names (HTTPS_PROXY, …),
# except to a Herald on this machine.
_PROXIED = urllib.request.build_opener()
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _opener(host: str) -> urllib.request.OpenerDirector:
    name = urllib.parse.urlsplit("//" + host).hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return _DIRECT
    try:
        return _DIRECT if ipaddress.ip_address(name).is_loopback else _PROXIED
    except ValueError:
        return _PROXIED


def _query_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, enum.Enum):
        return str(v.value)
    return str(v)


def _error_of(e: urllib.error.HTTPError, method: str, url: str) -> HeraldError:
    try:
        raw = e.read()
    except OSError:
        raw = b""
    retry_after: float | None = None
    if e.headers is not None and e.headers.get("Retry-After"):
        try:
            retry_after = float(e.headers["Retry-After"])
        except ValueError:
            retry_after = None
    try:
        err = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        err = None
    if isinstance(err, dict):
        return HeraldError(
            e.code,
            str(err.get("code", "")),
            str(err.get("message", "")),
            err.get("details"),
            method=method,
            url=url,
            retry_after=retry_after,
        )
    text = raw.decode("utf-8", "replace").strip()[:500] or str(e.reason)
    return HeraldError(e.code, f"http_{e.code}", text, method=method, url=url, retry_after=retry_after)
