"""The LOKI webhook guide's Example 4, "Advanced Retry Configuration", run
against Herald.

    export HERALD_URL=http://127.0.0.1:8080 HERALD_API_KEY=hrld_...   # herald dev
    python3 clients/python/examples/example4.py

What differs from the LOKI guide's text, and why:

* Imports name the package: ``herald_client.webhooks``,
  ``herald_client.retry_handler``.
* The code runs in ``async def main()``: a script cannot ``await`` at top level.
* The webhook points at a local receiver instead of
  https://critical-service.example.com/webhook (nothing is sent to it here;
  a webhook left pointing at an unreachable host would fail every event).
* The manager's ``RetryConfig`` becomes the new webhook's retry fields in
  Herald (strategy, multiplier 1.5, cap 7200 s, jitter ±20 %), and the
  schedule printed is the one Herald computed for the webhook
  (``retry_schedule_seconds``), before jitter. Herald runs it as durable
  Temporal timers.
* The webhook is deleted at the end, so the example can run again.
"""

from __future__ import annotations

import asyncio

from _local import Receiver

from herald_client.retry_handler import RetryConfig, RetryStrategy
from herald_client.webhooks import WebhookManager


async def main() -> None:
    receiver = Receiver()  # stands in for https://critical-service.example.com/webhook

    # Create manager with custom retry config
    config = RetryConfig(
        strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
        max_retries=10,
        initial_delay_seconds=30,
        max_delay_seconds=7200,  # 2 hours
        backoff_multiplier=1.5,
        jitter_enabled=True,
        jitter_percentage=0.2,
    )

    manager = WebhookManager(config=config)

    # Create webhook with custom retry schedule
    webhook = await manager.create_webhook(
        name="Critical Alerts",
        url=receiver.url("/webhook"),
        event_types=["compliance.alert"],
        max_retries=10,
        retry_delay_seconds=30,
    )
    try:
        # Beyond the LOKI guide: what Herald stored.
        print(
            f"Herald has: {webhook.retry_strategy}, {webhook.max_retries} retries from {webhook.retry_delay_seconds}s, "
            f"x{webhook.backoff_multiplier:g}, cap {webhook.max_delay_seconds}s, jitter {webhook.jitter_percentage:g}"
        )

        # Get retry schedule
        schedule = manager.retry_handler.create_retry_schedule(webhook.id)
        print(f"Total retry time: {schedule['total_retry_time_seconds']} seconds")
        for attempt in schedule["attempts"]:
            print(f"  Attempt {attempt['attempt']}: Retry at {attempt['retry_at']}")

        # Beyond the LOKI guide: the schedule worked out here agrees with Herald's.
        local = config.delays()
        same = all(abs(a - b) < 1e-6 for a, b in zip(local, webhook.retry_schedule_seconds)) and len(local) == len(
            webhook.retry_schedule_seconds
        )
        print(f"Delays (s): {', '.join(f'{d:g}' for d in webhook.retry_schedule_seconds)}; same as RetryConfig: {same}")
    finally:
        await manager.delete_webhook(webhook.id)
        receiver.close()


if __name__ == "__main__":
    asyncio.run(main())
