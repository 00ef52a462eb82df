"""The LOKI webhook guide's Example 1, "Basic Webhook Setup", run against Herald.

    export HERALD_URL=http://127.0.0.1:8080 HERALD_API_KEY=hrld_...   # herald dev
    python3 clients/python/examples/example1.py

What differs from the LOKI guide's text, and why:

* Imports name the package: ``herald_client.webhooks`` for ``webhooks``.
* The code runs in ``async def main()``: a script cannot ``await`` at top level.
* The webhook points at a local receiver instead of
  https://api.example.com/webhooks/loki, which nobody here controls. The
  receiver checks both of Herald's signatures with the webhook's secret.
* ``trigger_event`` answers once Herald holds the event and knows its
  subscribers; delivery goes on in Herald's workflow. ``deliveries`` counts
  the subscribers. The script then waits for the receiver to get the
  event, and for Herald to record its delivery.
* The webhook is deleted at the end, so the example can run again.
"""

from __future__ import annotations

import asyncio

from _local import Receiver, describe

from herald_client.webhooks import WebhookManager


async def main() -> None:
    receiver = Receiver()  # stands in for https://api.example.com/webhooks/loki
    manager = WebhookManager()

    # Create a webhook
    webhook = await manager.create_webhook(
        name="Production Alerts",
        url=receiver.url("/webhooks/loki"),
        event_types=["compliance.alert", "system.error"],
        max_retries=5,
        retry_strategy="exponential_backoff",
    )
    receiver.secret = webhook.secret  # shown whole only in the create answer
    try:
        # Test the webhook
        result = await manager.test_webhook(webhook.id)
        print(f"Test result: {result['status_code']}")

        # Trigger an event
        from herald_client.event_types import ComplianceAlertEvent

        alert = ComplianceAlertEvent(
            source_id="doc_12345",
            alert_level="critical",
            alert_type="gdpr_violation",
            message="Personal data found in document",
            affected_documents=["doc_12345"],
            recommended_actions=["Redact personal data", "Review GDPR compliance"],
        )

        delivery_result = await manager.trigger_event(alert)
        print(f"Delivered to {delivery_result['deliveries']} webhooks")

        # Beyond the LOKI guide: what the receiver got, and what Herald recorded.
        got = await receiver.wait_for_event(alert.event_id)
        print(f"Receiver got {describe(got)}")
        ev = await manager.wait_for_event(alert.event_id)
        print(f"Herald recorded {ev.event_id}: {ev.successful_deliveries} of {ev.total_deliveries} delivered")
    finally:
        await manager.delete_webhook(webhook.id)
        receiver.close()


if __name__ == "__main__":
    asyncio.run(main())
