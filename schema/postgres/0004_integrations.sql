-- Integrations (Slack, Teams, email, Zapier, generic webhook) are
-- subscribers like webhooks, delivered by the same machinery. A plain
-- webhook has integration_type ''. credentials is sealed JSON (AES-GCM) and
-- url holds only the masked destination, so no token sits in a plain column.
ALTER TABLE webhooks ADD COLUMN integration_type TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN credentials TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN config TEXT NOT NULL DEFAULT '{}';

CREATE INDEX webhooks_integration_type ON webhooks (integration_type, id);
