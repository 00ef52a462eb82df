-- A subscriber's content filter (JSON as written; '' for none) and its
-- per-event-type retry schedules.
ALTER TABLE webhooks ADD COLUMN event_filter TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN retry_overrides TEXT NOT NULL DEFAULT '{}';

-- An event a subscriber's filter left out is recorded as 'filtered' for
-- it. SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE event_subscribers_next (
    event_id      TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    webhook_id    INTEGER NOT NULL,
    delivery_mode TEXT NOT NULL,
    outcome       TEXT NOT NULL DEFAULT 'pending'
        CHECK (outcome IN ('pending', 'delivered', 'failed', 'cancelled', 'batched', 'filtered')),
    PRIMARY KEY (event_id, webhook_id)
) WITHOUT ROWID;
INSERT INTO event_subscribers_next (event_id, webhook_id, delivery_mode, outcome)
    SELECT event_id, webhook_id, delivery_mode, outcome FROM event_subscribers;
DROP TABLE event_subscribers;
ALTER TABLE event_subscribers_next RENAME TO event_subscribers;
CREATE INDEX event_subscribers_pending ON event_subscribers (webhook_id) WHERE outcome = 'pending';

-- Analytics count what filters left out, by webhook.
CREATE INDEX event_subscribers_filtered ON event_subscribers (webhook_id) WHERE outcome = 'filtered';
