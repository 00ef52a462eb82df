-- The circuit breaker remembers the attempt that paused a webhook (so a
-- retried announcement is made once, under the same id) and when the webhook
-- was last set active (failures before that no longer count).
ALTER TABLE webhooks ADD COLUMN paused_by_delivery INTEGER;
ALTER TABLE webhooks ADD COLUMN resumed_at DATETIME;
