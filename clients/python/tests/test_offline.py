"""Tests of the client that need no Herald: events, records, errors,
signatures, retry schedules. (The examples run against a real Herald in
cmd/herald/python_test.go.)

    PYTHONPATH=clients/python python3 -m unittest discover -s clients/python/tests
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

from herald_client import (
    BatchCompletedEvent,
    ComplianceAlertEvent,
    CustomEvent,
    HeraldClient,
    HeraldConnectionError,
    HeraldError,
    IntegrationManager,
    Page,
    TestResult,
    Webhook,
    WebhookManager,
)
from herald_client.client import api_root, event_body
from herald_client.event_types import EVENT_CLASSES, EVENT_TYPES
from herald_client.retry_handler import RetryConfig, RetryStrategy, schedule_seconds
from herald_client.signatures import (
    parse_envelope,
    sign,
    sign_standard,
    verify_request,
    verify_standard_signature,
    verify_webhook_signature,
)


class EventTests(unittest.TestCase):
    def test_payload_leaves_out_unset_fields_and_adds_extra(self) -> None:
        alert = ComplianceAlertEvent(
            source_id="doc_1", alert_level="critical", alert_type="gdpr_violation", extra={"region": "eu"}
        )
        self.assertEqual(alert.event_type, "compliance.alert")
        self.assertEqual(alert.payload, {"alert_level": "critical", "alert_type": "gdpr_violation", "region": "eu"})
        body = alert.to_publish()
        self.assertEqual(body["source_id"], "doc_1")
        self.assertEqual(body["event_id"], alert.event_id)
        self.assertEqual(alert.to_dict()["payload"], alert.payload)

    def test_required_fields_are_required(self) -> None:
        with self.assertRaises(TypeError):
            ComplianceAlertEvent(alert_level="low")  # type: ignore[call-arg]

    def test_batch_success_rate_is_worked_out(self) -> None:
        ev = BatchCompletedEvent(total_documents=500, processed_documents=498)
        self.assertEqual(ev.payload["success_rate"], 99.6)

    def test_eight_types(self) -> None:
        self.assertEqual(len(EVENT_TYPES), 8)
        self.assertIs(EVENT_CLASSES["compliance.alert"], ComplianceAlertEvent)

    def test_custom_event(self) -> None:
        ev = CustomEvent(type_name="invoice.paid", data={"amount": 3})
        self.assertEqual(ev.to_publish()["event_type"], "invoice.paid")
        self.assertEqual(ev.payload, {"amount": 3})

    def test_route_takes_to_dict_or_a_payload(self) -> None:
        alert = ComplianceAlertEvent(source_id="b", alert_level="high", alert_type="fca_violation")
        body = event_body("compliance.alert", alert.to_dict())
        self.assertEqual(body["payload"], alert.payload)
        self.assertEqual(body["event_id"], alert.event_id)
        self.assertEqual(body["source_id"], "b")
        plain = event_body("compliance.alert", {"alert_level": "low", "alert_type": "t"})
        self.assertEqual(
            plain, {"event_type": "compliance.alert", "payload": {"alert_level": "low", "alert_type": "t"}}
        )


class RecordTests(unittest.TestCase):
    def test_typed_and_by_key(self) -> None:
        w = Webhook.from_dict(
            {"id": 7, "name": "n", "backoff_multiplier": 2, "created_at": "2026-12-04T10:00:00.123456789Z", "new": 1}
        )
        self.assertEqual(w.id, 7)
        self.assertEqual(w["name"], "n")
        self.assertIsInstance(w.backoff_multiplier, float)
        self.assertIsNotNone(w.created_at)
        assert w.created_at is not None
        self.assertEqual(w.created_at.microsecond, 123456)
        self.assertEqual(w["new"], 1)
        self.assertIsNone(w.get("missing"))
        self.assertEqual(w.to_dict()["new"], 1)
        with self.assertRaises(KeyError):
            w["missing"]

    def test_page(self) -> None:
        page = Page.of({"webhooks": [{"id": 1}, {"id": 2}], "total": 5, "limit": 2, "offset": 0}, "webhooks", Webhook)
        self.assertEqual([w.id for w in page], [1, 2])
        self.assertEqual(page.total, 5)


class ConfigTests(unittest.TestCase):
    def test_url_forms(self) -> None:
        self.assertEqual(api_root("http://h:1"), "http://h:1/api/v1")
        self.assertEqual(api_root("http://h:1/api/v1/"), "http://h:1/api/v1")
        self.assertEqual(api_root("h:1"), "http://h:1/api/v1")

    def test_environment(self) -> None:
        with mock.patch.dict(os.environ, {"HERALD_URL": "http://x:9", "HERALD_API_KEY": "k"}):
            c = HeraldClient()
        self.assertEqual((c.base_url, c.api_key), ("http://x:9/api/v1", "k"))


class _Handler(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, Any]] = {}
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append((self.command, self.path, dict(self.headers), body))
        status, doc = self.answers.get(
            self.path.split("?")[0], (404, {"error": {"code": "not_found", "message": "no"}})
        )
        raw = json.dumps(doc).encode() if doc is not None else b""
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "3")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class TransportTests(unittest.TestCase):
    server: ThreadingHTTPServer

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.shutdown()
        cls.server.server_close()

    def manager(self) -> WebhookManager:
        host, port = self.server.server_address[:2]
        return WebhookManager(base_url=f"http://{host!s}:{port}", api_key="hrld_test")

    def test_validation_error_names_fields(self) -> None:
        details = [{"field": "url", "message": "is required"}, {"field": "event_types", "message": "must name one"}]
        _Handler.answers["/api/v1/webhooks"] = (
            422,
            {"error": {"code": "validation_failed", "message": "webhook is invalid", "details": details}},
        )
        with self.assertRaises(HeraldError) as cm:
            asyncio.run(self.manager().create_webhook("n", "", ["x"], max_retries=3))
        e = cm.exception
        self.assertEqual((e.status, e.code), (422, "validation_failed"))
        self.assertEqual([f.field for f in e.field_errors], ["url", "event_types"])
        method, path, headers, body = _Handler.seen[-1]
        self.assertEqual((method, path), ("POST", "/api/v1/webhooks"))
        self.assertEqual(headers["Authorization"], "Bearer hrld_test")
        self.assertEqual(json.loads(body), {"name": "n", "url": "", "event_types": ["x"], "max_retries": 3})

    def test_settings_are_checked_like_keyword_arguments(self) -> None:
        _Handler.answers["/api/v1/integrations"] = (201, {"id": 4, "name": "z", "delivery_mode": "ordered"})
        i = asyncio.run(
            IntegrationManager(self.manager().client).register_integration(
                "z", "zapier", {"webhook_url": "http://r"}, ["*"], delivery_mode="ordered", max_retries=None
            )
        )
        sent = json.loads(_Handler.seen[-1][3])
        self.assertEqual(sent["delivery_mode"], "ordered")
        self.assertNotIn("max_retries", sent)
        self.assertEqual((i.id, i.delivery_mode), (4, "ordered"))
        with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'custom_headers'"):
            asyncio.run(
                IntegrationManager(self.manager().client).register_integration("z", "zapier", custom_headers={})
            )
        with self.assertRaisesRegex(TypeError, "update_webhook.. got an unexpected keyword argument 'max_retry'"):
            asyncio.run(self.manager().update_webhook(1, max_retry=3))

    def test_config_fills_retry_fields(self) -> None:
        _Handler.answers["/api/v1/webhooks"] = (201, {"id": 3, "retry_schedule_seconds": [30, 45]})
        m = self.manager()
        m.config = RetryConfig(strategy=RetryStrategy.LINEAR_BACKOFF, max_retries=2, jitter_enabled=False)
        w = asyncio.run(m.create_webhook("n", "http://r", ["*"], retry_delay_seconds=30))
        sent = json.loads(_Handler.seen[-1][3])
        self.assertEqual(sent["retry_strategy"], "linear_backoff")
        self.assertEqual(sent["retry_delay_seconds"], 30)
        self.assertEqual(sent["jitter_percentage"], 0.0)
        schedule = m.retry_handler.create_retry_schedule(w.id)
        self.assertEqual(schedule["total_retry_time_seconds"], 75)
        self.assertEqual([a["attempt_number"] for a in schedule["attempts"]], [2, 3])

    def test_rate_limited_and_test_result(self) -> None:
        _Handler.answers["/api/v1/webhooks/5/test"] = (
            429,
            {"error": {"code": "rate_limited", "message": "no room", "details": {}}},
        )
        with self.assertRaises(HeraldError) as cm:
            asyncio.run(self.manager().test_webhook(5))
        self.assertEqual(cm.exception.retry_after, 3.0)
        _Handler.answers["/api/v1/webhooks/6/test"] = (200, {"success": True, "status_code": 204})
        res = asyncio.run(self.manager().test_webhook(6, "system.error"))
        self.assertIsInstance(res, TestResult)
        self.assertEqual(res["status_code"], 204)

    def test_integration_names_in_paths(self) -> None:
        _Handler.answers["/api/v1/integrations/Slack%20Alerts%2F2/subscriptions"] = (
            200,
            {"integration": "Slack Alerts/2", "event_subscriptions": ["compliance.alert"], "total": 1},
        )
        host, port = self.server.server_address[:2]
        m = IntegrationManager(base_url=f"http://{host!s}:{port}", api_key="k")
        subs = asyncio.run(m.get_subscriptions("Slack Alerts/2"))
        self.assertEqual(subs.event_subscriptions, ["compliance.alert"])

    def test_unreachable(self) -> None:
        m = WebhookManager(base_url="http://127.0.0.1:9", api_key="k", timeout=2)
        with self.assertRaises(HeraldConnectionError):
            asyncio.run(m.get_webhook(1))


class SignatureTests(unittest.TestCase):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"event_id":"e1","event_type":"compliance.alert","data":{}}'

    def test_guide_signature(self) -> None:
        sig = sign(self.secret, self.body)
        self.assertTrue(sig.startswith("sha256="))
        self.assertTrue(verify_webhook_signature(self.secret, self.body, sig))
        self.assertTrue(verify_webhook_signature(self.secret, self.body, sig.removeprefix("sha256=")))
        self.assertFalse(verify_webhook_signature(self.secret, self.body + b" ", sig))

    def test_standard_signature(self) -> None:
        # The example of the Standard Webhooks specification.
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        msg_id, ts = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
        payload = b'{"test": 2432232314}'
        want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        self.assertEqual(sign_standard(secret, msg_id, ts, payload), want)
        self.assertTrue(verify_standard_signature(secret, msg_id, str(ts), payload, "v1,bad " + want, now=ts + 10))
        self.assertFalse(verify_standard_signature(secret, msg_id, str(ts), payload, want, now=ts + 3600))

    def test_request_with_gzip(self) -> None:
        now = int(time.time())
        headers = {
            "x-webhook-signature": sign(self.secret, self.body),
            "webhook-id": "e1",
            "webhook-timestamp": str(now),
            "webhook-signature": sign_standard(self.secret, "e1", now, self.body),
            "Content-Encoding": "gzip",
        }
        self.assertTrue(verify_request(self.secret, headers, gzip.compress(self.body)))
        self.assertTrue(verify_request(self.secret, headers, self.body))
        self.assertFalse(verify_request("whsec_other", headers, self.body))
        self.assertEqual(parse_envelope(self.body).event_type, "compliance.alert")


class ScheduleTests(unittest.TestCase):
    def test_strategies(self) -> None:
        self.assertEqual(schedule_seconds("exponential_backoff", 5, 60, 2, 3600), [60, 120, 240, 480, 960])
        self.assertEqual(schedule_seconds("linear_backoff", 5, 60, 2, 3600), [60, 120, 180, 240, 300])
        self.assertEqual(schedule_seconds("fixed_interval", 3, 60, 2, 3600), [60, 60, 60])
        self.assertEqual(schedule_seconds("no_retry", 5, 60, 2, 3600), [])
        self.assertEqual(schedule_seconds("exponential_backoff", 4, 1000, 2, 3600), [1000, 2000, 3600, 3600])


if __name__ == "__main__":
    unittest.main()
