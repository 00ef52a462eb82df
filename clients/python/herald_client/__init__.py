"""An async Python client for Herald, LOKI's webhook and integration service.

Standard library only. Configure with ``HERALD_URL`` (default
``http://127.0.0.1:8080``, where ``herald dev`` listens) and
``HERALD_API_KEY``::

    import asyncio
    from herald_client import WebhookManager
    from herald_client.event_types import ComplianceAlertEvent

    async def main() -> None:
        manager = WebhookManager()
        webhook = await manager.create_webhook(
            name="Production Alerts",
            url="https://api.example.com/webhooks/loki",
            event_types=["compliance.alert"],
        )
        alert = ComplianceAlertEvent(source_id="doc_12345", alert_level="critical", alert_type="gdpr_violation")
        result = await manager.trigger_event(alert)
        print(f"Delivered to {result['deliveries']} webhooks")

    asyncio.run(main())
"""

from ._version import __version__
from .client import DEFAULT_URL, HeraldClient
from .errors import FieldError, HeraldConnectionError, HeraldError
from .event_types import (
    EVENT_CLASSES,
    EVENT_TYPES,
    BaseEvent,
    BatchCompletedEvent,
    ComplianceAlertEvent,
    CorrectionAppliedEvent,
    CustomEvent,
    DocumentProcessedEvent,
    ReportGeneratedEvent,
    SystemErrorEvent,
    ValidationCompletedEvent,
    ValidationFailedEvent,
)
from .integrations import (
    Connector,
    EmailIntegration,
    IntegrationManager,
    SlackIntegration,
    TeamsIntegration,
    WebhookIntegration,
    ZapierIntegration,
)
from .models import (
    AcceptedEvent,
    Analytics,
    AnalyticsOverview,
    BatchAccepted,
    BulkRetry,
    Delivery,
    DeliveryAction,
    DeliveryState,
    Event,
    EventTypeInfo,
    Integration,
    IntegrationHealth,
    IntegrationMetric,
    IntegrationMetrics,
    IntegrationStatus,
    Page,
    Record,
    RetrySchedule,
    RouteResult,
    SecretRotation,
    Subscriber,
    SubscriberDelivery,
    Subscriptions,
    TestResult,
    Timeline,
    TriggerResult,
    Webhook,
)
from .retry_handler import RetryConfig, RetryHandler, RetryStrategy
from .settings import SubscriberSettings, WebhookSettings
from .signatures import parse_envelope, verify_request, verify_webhook_signature
from .webhooks import WebhookManager

__all__ = [
    "DEFAULT_URL",
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "AcceptedEvent",
    "Analytics",
    "AnalyticsOverview",
    "BaseEvent",
    "BatchAccepted",
    "BatchCompletedEvent",
    "BulkRetry",
    "ComplianceAlertEvent",
    "Connector",
    "CorrectionAppliedEvent",
    "CustomEvent",
    "Delivery",
    "DeliveryAction",
    "DeliveryState",
    "DocumentProcessedEvent",
    "EmailIntegration",
    "Event",
    "EventTypeInfo",
    "FieldError",
    "HeraldClient",
    "HeraldConnectionError",
    "HeraldError",
    "Integration",
    "IntegrationHealth",
    "IntegrationManager",
    "IntegrationMetric",
    "IntegrationMetrics",
    "IntegrationStatus",
    "Page",
    "Record",
    "ReportGeneratedEvent",
    "RetryConfig",
    "RetryHandler",
    "RetrySchedule",
    "RetryStrategy",
    "RouteResult",
    "SecretRotation",
    "SlackIntegration",
    "Subscriber",
    "SubscriberDelivery",
    "SubscriberSettings",
    "Subscriptions",
    "SystemErrorEvent",
    "TeamsIntegration",
    "TestResult",
    "Timeline",
    "TriggerResult",
    "ValidationCompletedEvent",
    "ValidationFailedEvent",
    "Webhook",
    "WebhookIntegration",
    "WebhookSettings",
    "WebhookManager",
    "ZapierIntegration",
    "__version__",
    "parse_envelope",
    "verify_request",
    "verify_webhook_signature",
]
