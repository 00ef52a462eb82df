"""LOKI's eight event types as classes, for publishing.

Each class names its type's payload fields as Herald's catalog does
(``GET /api/v1/event-types``); required ones have no default. Fields a type
does not name can be passed in ``extra`` and are delivered as sent::

    alert = ComplianceAlertEvent(
        source_id="doc_12345",
        alert_level="critical",
        alert_type="gdpr_violation",
        message="Personal data found in document",
        affected_documents=["doc_12345"],
    )
    await manager.trigger_event(alert)

An event gets a fresh ``event_id`` (a UUID) when it is made, so publishing
the same object again is recognised by Herald and delivered once.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, ClassVar

_ENVELOPE_FIELDS = frozenset({"source_id", "source", "event_id", "timestamp", "extra"})


def new_event_id() -> str:
    """A fresh event id."""
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(kw_only=True)
class BaseEvent:
    """What every event has besides its payload."""

    #: The event type this class publishes.
    EVENT_TYPE: ClassVar[str] = ""

    #: The resource the event is about: a document, a batch.
    source_id: str = ""
    #: The system that emitted it.
    source: str = "loki"
    #: Unique per event; Herald delivers an id once however often it is published.
    event_id: str = field(default_factory=new_event_id)
    #: When the event was made (Herald stamps deliveries with its own acceptance time).
    timestamp: datetime = field(default_factory=_now)
    #: Payload fields the type does not name, delivered as sent.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def event_type(self) -> str:
        """The event's type, e.g. ``compliance.alert``."""
        return self.EVENT_TYPE

    @property
    def payload(self) -> dict[str, Any]:
        """The event's data: the type's fields that are set, then ``extra``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in _ENVELOPE_FIELDS:
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = copy.deepcopy(value)
        out.update(copy.deepcopy(self.extra))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The whole event as a dictionary (what :meth:`IntegrationManager.route_event` takes)."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "source": self.source,
            "source_id": self.source_id,
            "timestamp": self.timestamp.isoformat(),
            "payload": self.payload,
        }

    def to_publish(self) -> dict[str, Any]:
        """The ``POST /api/v1/events`` body for this event."""
        body: dict[str, Any] = {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "source": self.source,
            "payload": self.payload,
        }
        if self.source_id:
            body["source_id"] = self.source_id
        return body


@dataclass(kw_only=True)
class ValidationCompletedEvent(BaseEvent):
    """Document validation finished: results, gates passed and failed."""

    EVENT_TYPE: ClassVar[str] = "validation.completed"

    #: pass, fail or warning.
    validation_status: str
    document_id: str | None = None
    gates_passed: int | None = None
    gates_failed: int | None = None
    processing_time_ms: float | None = None
    results: dict[str, Any] | None = None


@dataclass(kw_only=True)
class ValidationFailedEvent(BaseEvent):
    """Validation met errors: error code, details, stack trace."""

    EVENT_TYPE: ClassVar[str] = "validation.failed"

    error_code: str
    document_id: str | None = None
    error_message: str | None = None
    stack_trace: str | None = None
    error_details: dict[str, Any] | None = None


@dataclass(kw_only=True)
class CorrectionAppliedEvent(BaseEvent):
    """Corrections were applied: changes, confidence score, before and after."""

    EVENT_TYPE: ClassVar[str] = "correction.applied"

    document_id: str | None = None
    changes: list[dict[str, Any]] | None = None
    corrections_count: int | None = None
    #: 0 to 1.
    confidence_score: float | None = None
    before: Any = None
    after: Any = None


@dataclass(kw_only=True)
class DocumentProcessedEvent(BaseEvent):
    """A document was fully processed: status, time, results."""

    EVENT_TYPE: ClassVar[str] = "document.processed"

    #: completed, failed or partial.
    status: str
    document_id: str | None = None
    processing_time_ms: float | None = None
    results: dict[str, Any] | None = None


@dataclass(kw_only=True)
class ComplianceAlertEvent(BaseEvent):
    """A compliance violation was detected."""

    EVENT_TYPE: ClassVar[str] = "compliance.alert"

    #: low, medium, high or critical.
    alert_level: str
    #: The kind of violation, e.g. gdpr_violation.
    alert_type: str
    message: str | None = None
    affected_documents: list[str] | None = None
    recommended_actions: list[str] | None = None


@dataclass(kw_only=True)
class SystemErrorEvent(BaseEvent):
    """A system error occurred."""

    EVENT_TYPE: ClassVar[str] = "system.error"

    error_code: str
    component: str
    #: low, medium, high or critical.
    severity: str
    message: str | None = None
    details: dict[str, Any] | None = None


@dataclass(kw_only=True)
class BatchCompletedEvent(BaseEvent):
    """Batch processing completed.

    ``success_rate`` (percent) is worked out from the document counts when
    not given.
    """

    EVENT_TYPE: ClassVar[str] = "batch.completed"

    batch_id: str | None = None
    total_documents: int | None = None
    processed_documents: int | None = None
    failed_documents: int | None = None
    success_rate: float | None = None
    processing_time_ms: float | None = None
    results_summary: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.success_rate is None and self.total_documents and self.processed_documents is not None:
            self.success_rate = round(100.0 * self.processed_documents / self.total_documents, 2)


@dataclass(kw_only=True)
class ReportGeneratedEvent(BaseEvent):
    """A report was generated."""

    EVENT_TYPE: ClassVar[str] = "report.generated"

    report_type: str
    #: Where to download it.
    report_url: str
    report_id: str | None = None
    document_count: int | None = None
    #: File format, e.g. pdf.
    format: str | None = None


@dataclass(kw_only=True)
class CustomEvent(BaseEvent):
    """An event of any type, built-in or an operator's, with a free payload."""

    type_name: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def event_type(self) -> str:
        return self.type_name

    @property
    def payload(self) -> dict[str, Any]:
        out = copy.deepcopy(self.data)
        out.update(copy.deepcopy(self.extra))
        return out


_BUILTIN: tuple[type[BaseEvent], ...] = (
    ValidationCompletedEvent,
    ValidationFailedEvent,
    CorrectionAppliedEvent,
    DocumentProcessedEvent,
    ComplianceAlertEvent,
    SystemErrorEvent,
    BatchCompletedEvent,
    ReportGeneratedEvent,
)

#: The event classes by event type.
EVENT_CLASSES: dict[str, type[BaseEvent]] = {cls.EVENT_TYPE: cls for cls in _BUILTIN}

#: The eight built-in event types, in Herald's catalog order.
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_CLASSES)

__all__ = [
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "BaseEvent",
    "BatchCompletedEvent",
    "ComplianceAlertEvent",
    "CorrectionAppliedEvent",
    "CustomEvent",
    "DocumentProcessedEvent",
    "ReportGeneratedEvent",
    "SystemErrorEvent",
    "ValidationCompletedEvent",
    "ValidationFailedEvent",
    "new_event_id",
]
