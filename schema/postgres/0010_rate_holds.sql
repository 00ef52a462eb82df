-- Which attempt each rate-limit slot was reserved for, from its reservation
-- until the attempt's row is written (or the slot is given back). An
-- attempt run again after a crash in between finds its slot here instead of
-- taking a second one, which would count in its window for nothing.
CREATE TABLE rate_holds (
    webhook_id     BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id       TEXT NOT NULL,
    attempt_number INTEGER NOT NULL,
    slot_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (webhook_id, event_id, attempt_number)
);
CREATE INDEX rate_holds_slot_at ON rate_holds (slot_at);
