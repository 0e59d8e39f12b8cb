-- EPCIS events that are no Critical Tracking Event (sensor reports, inspecting,
-- pallet aggregation, transactions, ...) are neither chain events nor rejections:
-- they stay with their document, each with the reason it was not used, so that a
-- reviewer can see what foodtrace read from a document and why the rest was left.
-- One element per event: {index, event_id, message_id, reason}.
ALTER TABLE landing.epcis_documents
    ADD COLUMN not_used jsonb NOT NULL DEFAULT '[]'::jsonb;
