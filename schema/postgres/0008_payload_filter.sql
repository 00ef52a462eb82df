-- A subscriber's content filter (JSON as written; '' for none) and its
-- per-event-type retry schedules.
ALTER TABLE webhooks ADD COLUMN event_filter TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN retry_overrides JSONB NOT NULL DEFAULT '{}';

-- An event a subscriber's filter left out is recorded as 'filtered' for it.
ALTER TABLE event_subscribers DROP CONSTRAINT event_subscribers_outcome_check;
ALTER TABLE event_subscribers ADD CONSTRAINT event_subscribers_outcome_check
    CHECK (outcome IN ('pending', 'delivered', 'failed', 'cancelled', 'batched', 'filtered'));

-- Analytics count what filters left out, by webhook.
CREATE INDEX event_subscribers_filtered ON event_subscribers (webhook_id) WHERE outcome = 'filtered';
