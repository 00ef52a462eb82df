-- Operating deliveries: why a webhook is paused, the circuit breaker's
-- count, rate-limit windows, and indexes for analytics and retention.

ALTER TABLE webhooks ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN paused_at DATETIME;
ALTER TABLE webhooks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;

-- One row per webhook per fixed window; count is the attempts granted in it.
-- Reservations increment it only while it is below the limit, in SQL, so
-- every worker sees the same count.
CREATE TABLE rate_windows (
    webhook_id     INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    window_seconds INTEGER NOT NULL,
    window_start   DATETIME NOT NULL,
    count          INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, window_seconds, window_start)
);

CREATE INDEX deliveries_webhook_created ON deliveries (webhook_id, created_at);
CREATE INDEX deliveries_created ON deliveries (created_at);

-- Attempts behind a daily rollup, to weigh its averages when days are merged.
ALTER TABLE webhook_analytics ADD COLUMN total_attempts INTEGER NOT NULL DEFAULT 0;
