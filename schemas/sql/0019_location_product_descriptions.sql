-- The FDA sortable spreadsheet's location and product descriptions (21 CFR 1.1455,
-- interfaces.md 2.3: the optional master-data fields), and the offset an event's time
-- was recorded in, so the export can show the date and time as the place recorded
-- them (a 06:30 +08:00 shipment on 28 November is dated the 28th, not the 27th UTC).
-- All nullable: master data and events sent without them stay valid.

ALTER TABLE core.locations
    ADD COLUMN business_name text,           -- the legal business name (name is the display name)
    ADD COLUMN address       text,
    ADD COLUMN postal_code   text,
    ADD COLUMN phone         text,
    ADD COLUMN country       text;           -- ISO 3166-1 alpha-2

ALTER TABLE core.products
    ADD COLUMN brand      text,
    ADD COLUMN commodity  text,
    ADD COLUMN variety    text,
    ADD COLUMN pack_size  text,
    ADD COLUMN pack_style text;

-- The suffix of the event_time as sent: '+08:00', 'Z' or '-00:00' (RFC 3339: UTC, the
-- local offset not given). NULL for rows promoted before this migration without a
-- landing row to read it from.
ALTER TABLE core.events ADD COLUMN event_time_offset text;

-- What landed before this migration: read the same fields from the stored messages.
UPDATE core.locations c SET
    business_name = l.payload->>'business_name', address = l.payload->>'address',
    postal_code = l.payload->>'postal_code', phone = l.payload->>'phone',
    country = l.payload->>'country'
FROM landing.master_data l
WHERE l.message_id = c.message_id AND l.kind = 'location'
  AND l.payload ?| ARRAY['business_name', 'address', 'postal_code', 'phone', 'country'];

UPDATE core.products c SET
    brand = l.payload->>'brand', commodity = l.payload->>'commodity',
    variety = l.payload->>'variety', pack_size = l.payload->>'pack_size',
    pack_style = l.payload->>'pack_style'
FROM landing.master_data l
WHERE l.message_id = c.message_id AND l.kind = 'product'
  AND l.payload ?| ARRAY['brand', 'commodity', 'variety', 'pack_size', 'pack_style'];

UPDATE core.events e
SET event_time_offset = substring(l.payload->>'event_time' FROM '(Z|z|[+-][0-9]{2}:[0-9]{2})$')
FROM landing.chain_events l
WHERE l.message_id = e.message_id;

-- New columns of existing tables keep the tables' grants (pipeline writes, reader reads).
