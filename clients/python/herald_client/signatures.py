"""Checking what a receiver got from Herald.

Every delivery carries two signatures over the raw body, both keyed with the
webhook's secret:

* ``X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, body)>``, as the
  LOKI guide's verification example computes it (the secret's bytes as
  written, ``whsec_`` prefix included);
* the Standard Webhooks headers ``webhook-id``, ``webhook-timestamp`` and
  ``webhook-signature: v1,<base64 HMAC-SHA256(key, id.timestamp.body)>``
  (the key is the base64 part of a ``whsec_`` secret), whose timestamp
  protects against replays.

:func:`verify_request` checks both. While a rotated-out secret still
signs, ``webhook-signature`` carries a signature for each secret and
``X-Webhook-Signature`` the new secret's only: a receiver still on the old
secret can check the Standard Webhooks headers alone
(:func:`verify_standard_signature`).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

SIGNATURE_HEADER = "X-Webhook-Signature"
ID_HEADER = "X-Webhook-ID"
EVENT_HEADER = "X-Webhook-Event"
ATTEMPT_HEADER = "X-Webhook-Attempt"
STD_ID_HEADER = "webhook-id"
STD_TIMESTAMP_HEADER = "webhook-timestamp"
STD_SIGNATURE_HEADER = "webhook-signature"

#: How far a ``webhook-timestamp`` may be from now, in seconds.
DEFAULT_TOLERANCE = 300.0
_MAX_INFLATED = 10 << 20


class Headers(Protocol):
    """Anything with a ``get`` by header name: a dict, or http.server's headers."""

    def get(self, name: str, default: Any = None, /) -> Any:
        ...


def sign(secret: str, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_webhook_signature(secret: str, payload: bytes, signature: str) -> bool:
    """Checks an ``X-Webhook-Signature`` value (with or without ``sha256=``),
    in constant time: the LOKI guide's ``verify_webhook_signature``."""
    signature = signature.strip()
    if signature.startswith("sha256="):
        signature = signature[len("sha256=") :]
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def standard_key(secret: str) -> bytes:
    """The Standard Webhooks key of a secret: the base64 part of ``whsec_…``."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64>``."""
    mac = hmac.new(standard_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify_standard_signature(
    secret: str,
    msg_id: str,
    timestamp: str,
    body: bytes,
    signatures: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Checks Standard Webhooks headers: the timestamp within ``tolerance``
    seconds of now, and any one of the space-separated ``v1`` signatures."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    want = hmac.new(standard_key(secret), f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    for sig in (signatures or "").split():
        version, _, value = sig.partition(",")
        if version != "v1":
            continue
        try:
            got = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(got, want):
            return True
    return False


def _header(headers: Headers | Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None and isinstance(headers, Mapping):
        lower = name.lower()
        for k, v in headers.items():
            if k.lower() == lower:
                value = v
                break
    return str(value or "")


def signed_body(headers: Headers | Mapping[str, str], body: bytes) -> bytes:
    """The bytes the signatures cover: a gzip body (``Content-Encoding:
    gzip``, set by a webhook's ``compression`` option) inflated."""
    if _header(headers, "Content-Encoding").lower() != "gzip" or not body.startswith(b"\x1f\x8b"):
        return body
    out = gzip.decompress(body)
    if len(out) > _MAX_INFLATED:
        raise ValueError("body inflates past 10 MiB")
    return out


def verify_request(
    secret: str,
    headers: Headers | Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Checks both of Herald's signatures on a received request."""
    try:
        body = signed_body(headers, body)
    except (OSError, EOFError, ValueError):
        return False
    return verify_webhook_signature(secret, body, _header(headers, SIGNATURE_HEADER)) and verify_standard_signature(
        secret,
        _header(headers, STD_ID_HEADER),
        _header(headers, STD_TIMESTAMP_HEADER),
        body,
        _header(headers, STD_SIGNATURE_HEADER),
        tolerance=tolerance,
        now=now,
    )


@dataclass(frozen=True)
class Envelope:
    """The standard JSON body of a delivery."""

    event_id: str
    event_type: str
    source: str
    source_id: str
    timestamp: datetime | None
    data: Any


def parse_envelope(body: bytes | str | Mapping[str, Any]) -> Envelope:
    """Reads a delivery's standard body (``event_id``, ``event_type``,
    ``source``, ``source_id``, ``timestamp``, ``data``)."""
    doc = dict(body) if isinstance(body, Mapping) else json.loads(body)
    ts: datetime | None = None
    if isinstance(doc.get("timestamp"), str):
        try:
            ts = datetime.fromisoformat(doc["timestamp"])
        except ValueError:
            ts = None
    return Envelope(
        event_id=str(doc.get("event_id", "")),
        event_type=str(doc.get("event_type", "")),
        source=str(doc.get("source", "")),
        source_id=str(doc.get("source_id", "")),
        timestamp=ts,
        data=doc.get("data"),
    )


__all__ = [
    "DEFAULT_TOLERANCE",
    "Envelope",
    "parse_envelope",
    "sign",
    "sign_standard",
    "signed_body",
    "standard_key",
    "verify_request",
    "verify_standard_signature",
    "verify_webhook_signature",
]
