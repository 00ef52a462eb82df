"""The LOKI webhook guide's Example 5, "Comprehensive Integration Setup", run
against Herald.

    export HERALD_URL=http://127.0.0.1:8080 HERALD_API_KEY=hrld_...   # herald dev
    python3 clients/python/examples/example5.py

What differs from the LOKI guide's text, and why:

* Imports name the package: ``herald_client.integrations``,
  ``herald_client.webhooks``.
* The code runs in ``async def main()``: a script cannot ``await`` at top level.
* Slack and Zapier point at local stand-ins, and email at a local SMTP
  server (with the example's account), instead of hooks.slack.com,
  hooks.zapier.com and smtp.gmail.com, which need real accounts. The SMTP
  stand-in has no certificate Herald would trust, so the email config adds
  ``use_tls: False`` (Herald sends in plain text only to loopback).
* ``get_metrics()`` is not awaited, as in the LOKI guide: it blocks while Herald
  answers (``await fetch_metrics()`` does not).
* The LOKI guide's "Integration Health Checks" loop (Monitoring & Analytics)
  follows the health check.
* The integrations are deleted at the end, so the example can run again.
"""

from __future__ import annotations

import asyncio

from _local import Receiver, SMTPServer

from herald_client import HeraldError
from herald_client.integrations import IntegrationManager
from herald_client.webhooks import WebhookManager


async def main() -> None:
    slack_stand_in = Receiver(answer=b"ok", content_type="text/plain")
    zapier_stand_in = Receiver()
    smtp = SMTPServer(username="alerts@company.com", password="app-password")

    # Initialize managers
    webhook_manager = WebhookManager()  # noqa: F841 (as in the LOKI guide)
    integration_manager = IntegrationManager()

    names = ["Slack Compliance", "Email Team", "Zapier Automation"]
    try:
        # Register multiple integrations
        await integration_manager.register_integration(
            name="Slack Compliance",
            integration_type="slack",
            credentials={"webhook_url": slack_stand_in.url("/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXX")},
            event_subscriptions=[
                "compliance.alert",
                "validation.failed",
            ],
        )

        await integration_manager.register_integration(
            name="Email Team",
            integration_type="email",
            credentials={
                "smtp_host": smtp.host,
                "smtp_port": smtp.port,
                "smtp_username": "alerts@company.com",
                "smtp_password": "app-password",
                "from_address": "loki@company.com",
            },
            config={
                "default_recipients": ["compliance@company.com"],
                "use_tls": False,  # the stand-in has no trusted certificate (see above)
            },
            event_subscriptions=[
                "compliance.alert",
                "batch.completed",
                "system.error",
            ],
        )

        await integration_manager.register_integration(
            name="Zapier Automation",
            integration_type="zapier",
            credentials={"webhook_url": zapier_stand_in.url("/hooks/catch/12345678/abcdef/")},
            config={
                "batch_events": True,
                "batch_size": 10,
            },
            event_subscriptions=[
                "batch.completed",
                "report.generated",
            ],
        )

        # Check integration health
        health = await integration_manager.integration_health()
        print(f"Integration Status: {health['status']}")

        # Get metrics
        metrics = integration_manager.get_metrics()
        print(f"Total Integrations: {metrics['total_integrations']}")
        print(f"Total Subscriptions: {metrics['total_subscriptions']}")

        # Check all integrations (the LOKI guide's "Integration Health Checks")
        health = await integration_manager.integration_health()

        for integration_name, status in health["integrations"].items():
            print(f"{integration_name}: {status['status']}")
            if status.get("error"):
                print(f"  Error: {status['error']}")
            if status.get("last_event"):
                print(f"  Last event: {status['last_event']}")
    finally:
        for name in names:
            try:
                await integration_manager.delete_integration(name)
            except HeraldError as e:
                if e.code != "not_found":  # not_found: it was never registered
                    raise
        slack_stand_in.close()
        zapier_stand_in.close()
        smtp.close()


if __name__ == "__main__":
    asyncio.run(main())
