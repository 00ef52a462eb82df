-- The deliveries-waiting gauge reads the events still open at every scrape.
CREATE INDEX events_open ON events (event_id) WHERE processed_at IS NULL;
