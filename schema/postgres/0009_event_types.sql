-- Operators' event types: a custom event type, or (under a built-in type's
-- name) an extension of its schema, each with a JSON Schema (draft
-- 2020-12) for its payloads. Built-in types are not stored: they ship with
-- Herald, and deleting an extension brings a type back to its built-in
-- schema. The schema is kept as text (not JSONB, which reorders keys), as
-- submitted, and served back so.
CREATE TABLE event_types (
    name           TEXT PRIMARY KEY,
    description    TEXT NOT NULL DEFAULT '',
    payload_schema TEXT NOT NULL,
    example        TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
