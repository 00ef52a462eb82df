"""The rest of the client's integration operations, run against Herald: a
signed generic-webhook integration set up the LOKI webhook guide's way
(a connector object and ``connect()``), subscriptions, updates, tests,
deliveries and analytics, and a Zapier integration that batches events.

    export HERALD_URL=http://127.0.0.1:8080 HERALD_API_KEY=hrld_...   # herald dev
    python3 clients/python/examples/integrations_tour.py

Receivers are local stand-ins; everything the script creates is deleted at
the end.
"""

from __future__ import annotations

import asyncio
import json

from _local import Receiver

from herald_client import HeraldError
from herald_client.event_types import BatchCompletedEvent
from herald_client.integrations import IntegrationManager, WebhookIntegration
from herald_client.signatures import verify_request


async def main() -> None:
    hook_receiver, zapier_receiver = Receiver(), Receiver()
    manager = IntegrationManager()
    hook = WebhookIntegration(
        name="Validation Feed",
        webhook_url=hook_receiver.url("/loki"),
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        event_subscriptions=["validation.completed"],
        max_retries=2,
    )
    hook_receiver.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    try:
        registered = await hook.connect()
        print(f"Connected: {registered.name} ({registered.integration_type}), secret {registered.secret}")
        again = await hook.connect()  # a second connect() updates the integration of that name
        print(f"Connected again: id {again.id == registered.id}")

        subs = await manager.subscribe("Validation Feed", "validation.failed")
        print(f"Subscriptions: {subs.event_subscriptions}")
        subs = await manager.unsubscribe("Validation Feed", "validation.failed")
        print(f"After unsubscribe: {(await manager.get_subscriptions('Validation Feed')).event_subscriptions}")
        try:
            await manager.unsubscribe("Validation Feed", "validation.failed")
        except HeraldError as e:
            print(f"Unsubscribe again: {e.status} {e.code}")

        updated = await manager.update_integration(
            "Validation Feed", description="LOKI validation results", max_retries=3
        )
        print(f"Updated: {updated.description!r}, max_retries {updated.max_retries}")
        listed = await manager.list_integrations(integration_type="webhook")
        print(f"Webhook integrations: {[i.name for i in listed]} (total {listed.total})")

        print(f"Credentials valid: {await hook.validate_credentials()}")
        ok = await hook.on_validation_completed(
            {"document_id": "doc_7", "validation_status": "pass", "gates_passed": 8}
        )
        got = await hook_receiver.wait_for_event(hook.last_event_id or "")
        print(f"Sent through the integration: {ok}; receiver signatures {'valid' if got.verified else 'INVALID'}")
        await manager.wait_for_event(hook.last_event_id or "")
        deliveries = await manager.get_integration_deliveries("Validation Feed")
        print(f"Deliveries: {[(d.is_test, d.status) for d in deliveries]}")
        figures = await manager.get_integration_analytics("Validation Feed", period_days=1)
        print(f"Analytics: {figures.successful_deliveries} delivered, success rate {figures.success_rate:.0f}%")

        # Zapier, batching two events into one request.
        zapier = await manager.register_integration(
            name="Zapier Batches",
            integration_type="zapier",
            credentials={"webhook_url": zapier_receiver.url("/hooks/catch/1/abc/")},
            config={"batch_events": True, "batch_size": 2, "batch_timeout_seconds": 30},
            event_subscriptions=["batch.completed"],
        )
        assert zapier.batch is not None
        print(f"Zapier batches of {zapier.batch.batch_size} in {zapier.batch.workflow_id.split('/')[0]}/…")
        routed = [
            await manager.route_event(
                BatchCompletedEvent(
                    source_id=f"batch_{n}", batch_id=f"batch_{n}", total_documents=10, processed_documents=n
                )
            )
            for n in (9, 10)
        ]
        print(f"Routed to: {routed[0].integrations}")
        req = await zapier_receiver.wait_for_request()
        batch = json.loads(req.body)
        signed = verify_request(zapier.secret, req.headers, req.body)
        print(f"Zapier got one request with {len(batch)} events, signatures {'valid' if signed else 'INVALID'}")
        print(f"Batched events: {sorted(e['event_id'] for e in batch) == sorted(r.event_id for r in routed)}")

        health = await manager.integration_health()
        print(f"Health: {health.status}; Validation Feed {health.integrations['Validation Feed'].status}")
        metrics = await manager.fetch_metrics()
        print(f"Metrics: {metrics.total_integrations} integrations, by type {dict(sorted(metrics.by_type.items()))}")
    finally:
        for name in ("Validation Feed", "Zapier Batches"):
            try:
                await manager.delete_integration(name)
            except HeraldError as e:
                if e.code != "not_found":
                    raise
        hook_receiver.close()
        zapier_receiver.close()


if __name__ == "__main__":
    asyncio.run(main())
