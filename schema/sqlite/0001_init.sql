-- Herald's store: webhook configuration, events, one row per delivery
-- attempt, and daily analytics. Secrets and custom headers are sealed
-- (AES-GCM) by the application before they reach this table.

CREATE TABLE webhooks (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    name                  TEXT NOT NULL UNIQUE,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    secret                TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'paused')),
    event_types           TEXT NOT NULL,
    retry_strategy        TEXT NOT NULL,
    max_retries           INTEGER NOT NULL CHECK (max_retries BETWEEN 0 AND 20),
    retry_delay_seconds   INTEGER NOT NULL,
    backoff_multiplier    REAL NOT NULL,
    max_delay_seconds     INTEGER NOT NULL,
    jitter_percentage     REAL NOT NULL,
    timeout_seconds       INTEGER NOT NULL,
    rate_limit_per_minute INTEGER NOT NULL,
    rate_limit_per_hour   INTEGER NOT NULL,
    custom_headers        TEXT NOT NULL,
    metadata              TEXT NOT NULL,
    created_at            DATETIME NOT NULL,
    updated_at            DATETIME NOT NULL,
    last_triggered_at     DATETIME
);

CREATE INDEX webhooks_status ON webhooks (status);

CREATE TABLE events (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id              TEXT NOT NULL UNIQUE,
    event_type            TEXT NOT NULL,
    source                TEXT NOT NULL,
    source_id             TEXT NOT NULL,
    -- The payload is delivered byte for byte as accepted.
    payload               TEXT NOT NULL,
    total_deliveries      INTEGER NOT NULL DEFAULT 0,
    successful_deliveries INTEGER NOT NULL DEFAULT 0,
    failed_deliveries     INTEGER NOT NULL DEFAULT 0,
    created_at            DATETIME NOT NULL,
    processed_at          DATETIME
);

CREATE INDEX events_created ON events (created_at DESC, id DESC);

CREATE TABLE deliveries (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id           INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id             TEXT NOT NULL,
    event_type           TEXT NOT NULL,
    attempt_number       INTEGER NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'retrying', 'failed')),
    is_test              BOOLEAN NOT NULL DEFAULT FALSE,
    url                  TEXT NOT NULL,
    request_headers      TEXT NOT NULL,
    request_body         TEXT NOT NULL,
    signature            TEXT NOT NULL,
    response_status_code INTEGER,
    response_headers     TEXT,
    response_body        TEXT NOT NULL DEFAULT '',
    sent_at              DATETIME,
    responded_at         DATETIME,
    duration_ms          REAL,
    next_retry_at        DATETIME,
    last_error           TEXT NOT NULL DEFAULT '',
    error_class          TEXT NOT NULL DEFAULT '',
    created_at           DATETIME NOT NULL,
    -- An activity retried by Temporal rewrites its own attempt row.
    UNIQUE (event_id, webhook_id, attempt_number)
);

CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id DESC);
CREATE INDEX deliveries_webhook_status ON deliveries (webhook_id, status, id DESC);

CREATE TABLE webhook_analytics (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id            INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    period_date           DATE NOT NULL,
    total_events          INTEGER NOT NULL DEFAULT 0,
    successful_deliveries INTEGER NOT NULL DEFAULT 0,
    failed_deliveries     INTEGER NOT NULL DEFAULT 0,
    retry_count           INTEGER NOT NULL DEFAULT 0,
    avg_response_time_ms  REAL NOT NULL DEFAULT 0,
    min_response_time_ms  REAL NOT NULL DEFAULT 0,
    max_response_time_ms  REAL NOT NULL DEFAULT 0,
    p95_response_time_ms  REAL NOT NULL DEFAULT 0,
    http_4xx_errors       INTEGER NOT NULL DEFAULT 0,
    http_5xx_errors       INTEGER NOT NULL DEFAULT 0,
    timeout_errors        INTEGER NOT NULL DEFAULT 0,
    network_errors        INTEGER NOT NULL DEFAULT 0,
    success_rate          REAL NOT NULL DEFAULT 0,
    created_at            DATETIME NOT NULL,
    UNIQUE (webhook_id, period_date)
);
