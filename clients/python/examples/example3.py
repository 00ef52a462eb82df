"""The LOKI webhook guide's Example 3, "Email Integration with Distribution
List", run against Herald.

    export HERALD_URL=http://127.0.0.1:8080 HERALD_API_KEY=hrld_...   # herald dev
    python3 clients/python/examples/example3.py

What differs from the LOKI guide's text, and why:

* Imports name the package: ``herald_client.integrations`` for
  ``integrations``, ``herald_client.event_types`` for ``webhooks.event_types``.
* The code runs in ``async def main()``: a script cannot ``await`` at top level.
* The SMTP server is a local stand-in instead of smtp.gmail.com:587, which
  needs a real account. It checks the user name and password the example
  gives, but offers no STARTTLS (it has no certificate Herald would trust),
  so the config adds ``use_tls: False``; Herald sends in plain text only to
  a server on loopback. Against Gmail, leave ``use_tls`` out (it defaults to
  STARTTLS required).
* ``connect()`` registers the integration in Herald (subscribed to every
  event type), and ``on_batch_completed`` publishes a ``batch.completed``
  event and waits for this integration's delivery of it: Herald renders and
  sends the email, retrying on its schedule if the server refuses for now.
* The integration is deleted at the end, so the example can run again.
"""

from __future__ import annotations

import asyncio

from _local import SMTPServer

from herald_client.integrations import EmailIntegration


async def main() -> None:
    # Stands in for smtp.gmail.com, with the example's account.
    smtp = SMTPServer(username="alerts@company.com", password="app-specific-password")

    email = EmailIntegration(
        name="Daily Reports",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_username="alerts@company.com",
        smtp_password="app-specific-password",
        from_address="loki-alerts@company.com",
        config={
            "default_recipients": ["compliance-team@company.com", "admin@company.com", "cto@company.com"],
            "use_tls": False,  # the stand-in has no trusted certificate (see above)
        },
    )

    await email.connect()
    try:
        # Send event
        from herald_client.event_types import BatchCompletedEvent

        batch_event = BatchCompletedEvent(
            source_id="batch_daily_001",
            batch_id="batch_daily_001",
            total_documents=500,
            processed_documents=498,
            failed_documents=2,
            processing_time_ms=45230.5,
            results_summary={
                "compliance_issues": 12,
                "average_confidence": 0.95,
                "processed_in": "45.2 seconds",
            },
        )

        success = await email.on_batch_completed(batch_event.payload)
        print(f"Email sent: {'✓ Success' if success else '✗ Failed'}")

        # Beyond the LOKI guide: the message the SMTP server got.
        mail = await smtp.wait_for_mail()
        attachments = [part.get_filename() for part in mail.message.iter_attachments()]
        print(f"SMTP got: {mail.subject!r} from {mail.mail_from} to {', '.join(mail.rcpt_to)} (AUTH as {mail.user})")
        print(f"Attachments: {', '.join(str(a) for a in attachments)}")
        assert email.last_event_id is not None
        ev = await email.manager.wait_for_event(email.last_event_id)
        print(f"Herald recorded {ev.event_id}: {ev.successful_deliveries} of {ev.total_deliveries} delivered")
    finally:
        await email.disconnect()
        smtp.close()


if __name__ == "__main__":
    asyncio.run(main())
