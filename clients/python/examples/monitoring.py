"""The LOKI webhook guide's "Monitoring & Analytics" and "Troubleshooting"
snippets, run against Herald, with the rest of the client's webhook
operations: batch publish, a validation error, pause and resume, a failed
delivery retried in bulk, the Temporal timeline, analytics.

    export HERALD_URL=http://127.0.0.1:8080 HERALD_API_KEY=hrld_...   # herald dev
    python3 clients/python/examples/monitoring.py

The receiver is local and refuses its first request (503), so there is a
retry to look at; the webhook retries after 1 s instead of 60 s so that the
script takes seconds. Everything it creates is deleted at the end.
"""

from __future__ import annotations

import asyncio

from _local import Receiver

from herald_client import HeraldError, RetryStrategy
from herald_client.event_types import ComplianceAlertEvent, SystemErrorEvent, ValidationCompletedEvent
from herald_client.webhooks import WebhookManager


async def main() -> None:
    receiver = Receiver(fail_first=1)
    manager = WebhookManager()
    webhook = await manager.create_webhook(
        name="Monitored Webhook",
        url=receiver.url("/webhook"),
        event_types=["validation.completed", "system.error"],
        retry_strategy=RetryStrategy.FIXED_INTERVAL,
        max_retries=3,
        retry_delay_seconds=1,
        jitter_percentage=0,
    )
    receiver.secret = first_secret = webhook.secret
    webhook_id = webhook.id
    try:
        event = ValidationCompletedEvent(
            source_id="doc_12345",
            document_id="doc_12345",
            validation_status="pass",
            gates_passed=8,
            gates_failed=0,
            processing_time_ms=523.45,
        )
        result = await manager.trigger_event(event, wait=30)
        print(f"Triggered {result.event_id}: {result.successful} delivered, {result.failed} failed")

        # Dashboard Metrics
        # Get webhook-specific analytics
        analytics = await manager.get_delivery_analytics(webhook_id=webhook_id, period_days=7)

        print(f"Success Rate: {analytics['success_rate']:.1f}%")
        print(f"Avg Response Time: {analytics['avg_response_time_ms']:.0f}ms")
        print(f"Total Events: {analytics['total_events']}")
        print(f"Failed Deliveries: {analytics['failed_deliveries']}")
        print(f"Retries: {analytics.retry_count}, 5xx: {analytics.http_5xx_errors}")

        # 1. Webhook Not Receiving Events
        # 1. Check webhook status
        webhook = await manager.get_webhook(webhook_id)
        print(f"Status: {webhook.status}")  # Should be 'active'

        # 2. Test webhook
        test = await manager.test_webhook(webhook_id)
        print(f"Test result: success={test.success} status_code={test.status_code}")

        # 3. Check event subscriptions
        print(f"Subscribed to: {webhook.event_types}")

        # 4. Verify events are being triggered
        events = await manager.get_recent_webhook_events(limit=10)
        print(f"Recent events: {[e.event_id for e in events]}")

        # 2. High Failure Rate
        # 1. Get recent failed deliveries (here: the attempt that was retried)
        deliveries = await manager.get_webhook_deliveries(webhook_id, status_filter="retrying", limit=10)

        # 2. Examine errors
        for delivery in deliveries:
            print(f"Error: {delivery.last_error}")
            print(f"Status Code: {delivery.response_status_code}")

        # 3. Retries Not Working
        # 1. Check retry configuration
        print(f"Retry Strategy: {webhook.retry_strategy}")
        print(f"Max Retries: {webhook.max_retries}")
        print(f"Retry Delay: {webhook.retry_delay_seconds}s")

        # 2. Check delivery status
        delivery = await manager.get_delivery_details(webhook_id, deliveries[0].id)
        print(f"Status: {delivery.status}")  # 'retrying' while a retry is scheduled
        print(f"Next Retry: {delivery.next_retry_at}")
        print(f"Attempt: {delivery.attempt_number}")

        # Beyond the LOKI guide's snippets: a failed delivery, retried in bulk.
        await manager.update_webhook(webhook_id, retry_strategy=RetryStrategy.NO_RETRY)
        receiver.answer_status = 500
        failing = await manager.trigger_event(
            SystemErrorEvent(error_code="DB_UNAVAILABLE", component="validator", severity="high"), wait=30
        )
        print(f"While the receiver fails: {failing.successful} delivered, {failing.failed} failed")
        receiver.answer_status = None
        retried = await manager.retry_failed_deliveries(webhook_id, max_age_hours=1)
        print(f"Bulk retry: {retried.retried} retried")
        await receiver.wait_for_event(failing.event_id)
        after = await manager.wait_for_event(failing.event_id)
        print(f"After the retry: {after.successful_deliveries} delivered")

        # Pause holds deliveries; resuming releases them.
        paused = await manager.pause_webhook(webhook_id, "Receiver maintenance")
        listed = await manager.list_webhooks(status="paused")
        print(f"Paused: {paused.status} ({paused.status_reason}); paused webhooks: {[w.name for w in listed]}")
        resumed = await manager.resume_webhook(webhook_id)
        print(f"Resumed: {resumed.status}")

        # A new secret; the old one keeps signing beside it for an hour.
        rotated = await manager.rotate_secret(webhook_id, overlap_hours=1)
        print(
            f"Rotated: new secret {rotated.secret != first_secret}, old one until {rotated.previous_secret_expires_at}"
        )
        receiver.secret = rotated.secret

        # Batch publish, all or none.
        batch = await manager.trigger_events(
            [
                ValidationCompletedEvent(source_id=f"doc_{n}", document_id=f"doc_{n}", validation_status="warning")
                for n in (1, 2)
            ]
        )
        for accepted in batch.events:
            got = await receiver.wait_for_event(accepted.event_id)
            print(f"Batch event {accepted.event_id}: signatures {'valid' if got.verified else 'INVALID'}")
            await manager.wait_for_event(accepted.event_id)
        print(f"Batch: {batch.accepted} accepted, {batch.duplicates} duplicates")
        again = await manager.trigger_event(event)
        print(f"Published again: duplicate={again.duplicate}")

        # A refused event: the error names each field.
        try:
            await manager.trigger_event("compliance.alert", {"message": "no level"})
        except HeraldError as e:
            print(f"Refused: {e.status} {e.code}: {', '.join(f.field for f in e.field_errors)}")
        try:
            ComplianceAlertEvent(alert_type="gdpr_violation")  # type: ignore[call-arg]
        except TypeError:
            print("ComplianceAlertEvent without alert_level: TypeError")

        # Where the first event went, step by step, from Temporal.
        timeline = await manager.get_event_timeline(result.event_id)
        print(f"Timeline: {' > '.join(e.kind for e in timeline.timeline)}")
        overview = await manager.get_analytics(period_days=1)
        overall = overview.overall
        assert overall is not None
        print(f"Overall: {overall.successful_deliveries} delivered of {overall.total_events}")
    finally:
        await manager.delete_webhook(webhook_id)
        receiver.close()


if __name__ == "__main__":
    asyncio.run(main())
