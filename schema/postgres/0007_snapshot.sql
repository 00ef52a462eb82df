-- Each subscriber chooses how its events travel: one workflow per event
-- (per_event), or a long-running workflow per subscriber (stream, ordered).
ALTER TABLE webhooks ADD COLUMN delivery_mode TEXT NOT NULL DEFAULT 'per_event'
    CHECK (delivery_mode IN ('per_event', 'stream', 'ordered'));

-- An event's row is written, then the event is handed to Temporal; a
-- repeated publish hands it off again until this is set. Rows from before
-- this column were handed off.
ALTER TABLE events ADD COLUMN handed_off BOOLEAN NOT NULL DEFAULT TRUE;

-- The subscribers an event goes to, recorded once when it is accepted,
-- with the mode each delivers in and how each delivery ended. There is no
-- foreign key to webhooks: a webhook deleted while its delivery waited still
-- counts, as failed. A batched integration's row is 'batched': its batch is
-- delivered, and counted, as an event of its own.
CREATE TABLE event_subscribers (
    event_id      TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    webhook_id    BIGINT NOT NULL,
    delivery_mode TEXT NOT NULL,
    outcome       TEXT NOT NULL DEFAULT 'pending'
        CHECK (outcome IN ('pending', 'delivered', 'failed', 'cancelled', 'batched')),
    PRIMARY KEY (event_id, webhook_id)
);

-- A stream's backlog, and the deliveries a deleted webhook leaves: the
-- deliveries of one webhook not ended.
CREATE INDEX event_subscribers_pending ON event_subscribers (webhook_id) WHERE outcome = 'pending';
