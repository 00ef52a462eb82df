"""The LOKI webhook guide's Example 2, "Slack Integration", run against Herald.

    export HERALD_URL=http://127.0.0.1:8080 HERALD_API_KEY=hrld_...   # herald dev
    python3 clients/python/examples/example2.py

What differs from the LOKI guide's text, and why:

* Imports name the package: ``herald_client.integrations`` for
  ``integrations``, ``herald_client.event_types`` for ``webhooks.event_types``.
* The code runs in ``async def main()``: a script cannot ``await`` at top level.
* The Slack incoming-webhook URL is a local stand-in that answers as Slack
  does, instead of https://hooks.slack.com/services/..., which needs a real
  workspace. It prints the Block Kit message Herald rendered.
* ``route_event`` answers once Herald holds the event; ``routed_to`` counts
  the integrations it goes to. The script then waits for the message.
* The integration is deleted at the end, so the example can run again.
"""

from __future__ import annotations

import asyncio

from _local import Receiver

from herald_client.integrations import IntegrationManager, SlackIntegration  # noqa: F401 (as the LOKI guide imports)


async def main() -> None:
    slack_stand_in = Receiver(answer=b"ok", content_type="text/plain")  # answers as Slack does
    manager = IntegrationManager()

    # Register Slack integration
    await manager.register_integration(
        name="Compliance Alerts",
        integration_type="slack",
        credentials={"webhook_url": slack_stand_in.url("/services/T00000000/B00000000/XXXXXXXX")},
        event_subscriptions=["compliance.alert", "validation.failed", "batch.completed"],
    )
    try:
        # Test integration
        test_result = await manager.test_integration("Compliance Alerts")
        print(f"Slack connection: {'✓ Connected' if test_result['success'] else '✗ Failed'}")

        # Route event
        from herald_client.event_types import ComplianceAlertEvent

        alert = ComplianceAlertEvent(
            source_id="batch_123",
            alert_level="high",
            alert_type="fca_violation",
            message="Potential FCA rule violation detected",
            affected_documents=["doc_001", "doc_002"],
            recommended_actions=["Review FCA requirements", "Check document content"],
        )

        result = await manager.route_event("compliance.alert", alert.to_dict())
        print(f"Event routed to {result['routed_to']} integrations")

        # Beyond the LOKI guide: the message Slack got (the test message came first).
        msg = await slack_stand_in.wait_for_request(where=lambda r: b"fca_violation" in r.body)
        attachment = msg.json()["attachments"][0]
        print(f"Slack got: {attachment['blocks'][0]['text']['text']} (colour {attachment['color']})")
        ev = await manager.wait_for_event(result["event_id"])
        print(f"Herald recorded {ev.event_id}: {ev.successful_deliveries} of {ev.total_deliveries} delivered")
    finally:
        await manager.delete_integration("Compliance Alerts")
        slack_stand_in.close()


if __name__ == "__main__":
    asyncio.run(main())
