-- The external CRM connector is a subscription of kind 'crm' (one per
-- workspace): it receives each completed call's verdict as the mapped fields,
-- with its own method and auth header, from the same outbox as webhooks.
ALTER TABLE webhooks ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';
ALTER TABLE webhooks ADD COLUMN method TEXT NOT NULL DEFAULT 'POST';
ALTER TABLE webhooks ADD COLUMN headers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE webhooks ADD COLUMN field_map TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX webhooks_one_crm ON webhooks(workspace_id) WHERE kind = 'crm';

-- A delivery's own URL (the connector's URL template filled in) and call.
ALTER TABLE webhook_deliveries ADD COLUMN url TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN call_id TEXT;

-- The external CRM write-back of the call: pending, delivered or failed.
ALTER TABLE calls ADD COLUMN crm_writeback TEXT;
