-- The reader role (Grafana, regulators) sees why a message was quarantined, not what
-- it said: the raw bytes may hold a business's or a lab's full documents, and the
-- dashboards show stage, sender, topic and reasons only. A column grant instead of
-- the table grant of 0002; `SELECT *` and `SELECT raw` are refused for the reader,
-- `count(*)` and the named columns are not. The pipeline role keeps reading raw
-- (revalidation, reports); dedup_key (a hash of the bytes) is left out as well.

REVOKE SELECT ON landing.quarantine FROM foodtrace_reader;
GRANT SELECT (quarantine_id, stage, received_at, topic, sender_id, message_id,
              element_index, reasons)
    ON landing.quarantine TO foodtrace_reader;
