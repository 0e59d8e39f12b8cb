-- Alerts: food categories (seeded here), limits, alerts with their history, the
-- evaluation bookkeeping and the transactional outbox of alert messages.
--
-- foodtrace.alerts.engine.evaluate() reads core.lab_results, judges each new result
-- against core.limits and writes core.alerts + core.alert_history + core.alert_outbox
-- in ONE transaction per result; foodtrace.alerts.outbox.deliver() publishes the
-- outbox to MQTT and marks rows sent only after the broker's PUBACK.

-- ---------------------------------------------------------------------------
-- Food categories: the tree of foodtrace.reference.FOOD_CATEGORIES (a unit test
-- checks that these rows equal it). Parents come before children (foreign key).
-- Seeded here, once: the validation migration (0005) does not seed them.
-- ---------------------------------------------------------------------------
INSERT INTO core.food_categories (category, parent, name_en, name_zh) VALUES
    ('food', NULL, 'All food', '食品'),
    ('vegetables', 'food', 'Fresh vegetables', '新鲜蔬菜'),
    ('leafy_vegetables', 'vegetables', 'Leafy vegetables', '叶菜类蔬菜'),
    ('brassica_vegetables', 'vegetables', 'Brassica vegetables', '芸薹类蔬菜'),
    ('root_tuber_vegetables', 'vegetables', 'Root and tuber vegetables', '根茎类和薯芋类蔬菜'),
    ('vegetable_products', 'food', 'Vegetable products', '蔬菜制品'),
    ('fruit', 'food', 'Fresh fruit', '新鲜水果'),
    ('meat', 'food', 'Livestock and poultry meat', '畜禽肉'),
    ('livestock_meat', 'meat', 'Livestock meat', '畜肉'),
    ('meat_products', 'food', 'Meat products', '肉制品'),
    ('aquatic_products', 'food', 'Aquatic products', '水产品'),
    ('fish', 'aquatic_products', 'Fresh fish', '鲜鱼'),
    ('crustaceans', 'aquatic_products', 'Crustaceans', '甲壳类')
ON CONFLICT (category) DO NOTHING;

-- ---------------------------------------------------------------------------
-- Limits. One row per (analyte, food category); a lookup walks up the category
-- tree and takes the most specific row (GB 2762 / GB 2763 inherit the same way).
--   kind: mrl (pesticide, GB 2763) | contaminant_max (GB 2762) | vet_drug_mrl
--         (GB 31650) | prohibited (any confirmed detection is a violation; limit 0)
--   source_value / source_unit: as the standard states it; limit_mg_per_kg is
--         derived (ug/kg / 1000), so the two can never disagree.
--   limit NULL (source_value NULL): an exclusion. The parent's row explicitly does
--         not cover this category and no value of its own is known here: results
--         are recorded as "no applicable limit" instead of judged against the parent.
--   verified: false for values that were NOT confirmed against the standard text.
--         Alerts carry the flag, and the CAP description says so.
-- ---------------------------------------------------------------------------
CREATE TABLE core.limits (
    analyte         text NOT NULL,
    category        text NOT NULL REFERENCES core.food_categories (category),
    kind            text NOT NULL CHECK (kind IN ('mrl', 'contaminant_max', 'prohibited',
                                                  'vet_drug_mrl')),
    source_value    numeric CHECK (source_value >= 0),
    source_unit     text CHECK (source_unit IN ('mg/kg', 'ug/kg')),
    limit_mg_per_kg numeric GENERATED ALWAYS AS (
                        CASE source_unit WHEN 'ug/kg' THEN trim_scale(source_value / 1000)
                                         ELSE source_value END) STORED,
    basis           text,                  -- e.g. 'as Pb'
    standard        text NOT NULL,         -- e.g. 'GB 2762'
    edition         text,                  -- e.g. '2022'
    clause          text,                  -- table / food-category path in the standard
    verified        boolean NOT NULL,
    note            text,
    PRIMARY KEY (analyte, category),
    CHECK ((source_value IS NULL) = (source_unit IS NULL)),
    CHECK (kind <> 'prohibited' OR source_value = 0)
);

INSERT INTO core.limits (analyte, category, kind, source_value, source_unit, basis, standard,
                         edition, clause, verified, note) VALUES
    -- GB 2762-2022, read from the standard's food-category database (foodmate).
    ('lead', 'brassica_vegetables', 'contaminant_max', 0.2, 'mg/kg', 'as Pb', 'GB 2762', '2022',
     'Vegetables and their products: Fresh vegetables: Brassica vegetables', true,
     'test method GB 5009.12'),
    ('lead', 'vegetable_products', 'contaminant_max', 0.3, 'mg/kg', 'as Pb', 'GB 2762', '2022',
     'Vegetables and their products: Vegetable products (except pickled and dried vegetables)',
     true, 'pickled and dried vegetables have limits of their own; this category tree does not '
           'separate them'),
    ('cadmium', 'vegetables', 'contaminant_max', 0.05, 'mg/kg', 'as Cd', 'GB 2762', '2022',
     'Fresh vegetables (except leaf, legume, root and tuber, stem vegetables and day lily)', true,
     'test method GB 5009.15'),
    ('total_mercury', 'vegetables', 'contaminant_max', 0.01, 'mg/kg', 'as Hg', 'GB 2762', '2022',
     'Vegetables and their products: Fresh vegetables', true, 'test method GB 5009.17'),
    ('total_arsenic', 'vegetables', 'contaminant_max', 0.5, 'mg/kg', 'as As', 'GB 2762', '2022',
     'Vegetables and their products: Fresh vegetables', true, 'test method GB 5009.11'),
    ('chromium', 'vegetables', 'contaminant_max', 0.5, 'mg/kg', 'as Cr', 'GB 2762', '2022',
     'Vegetables and their products: Fresh vegetables', true, 'test method GB 5009.123'),

    -- GB 2762-2022, widely cited values NOT verified against the standard text.
    ('lead', 'leafy_vegetables', 'contaminant_max', 0.3, 'mg/kg', 'as Pb', 'GB 2762', '2022',
     'Fresh vegetables: leafy vegetables', false, 'widely cited value; verify'),
    ('lead', 'vegetables', 'contaminant_max', 0.1, 'mg/kg', 'as Pb', 'GB 2762', '2022',
     'Fresh vegetables (other than those listed separately)', false,
     'widely cited value; verify'),
    ('lead', 'fruit', 'contaminant_max', 0.1, 'mg/kg', 'as Pb', 'GB 2762', '2022',
     'Fresh fruit', false, 'widely cited value; verify'),
    ('lead', 'meat', 'contaminant_max', 0.2, 'mg/kg', 'as Pb', 'GB 2762', '2022',
     'Livestock and poultry meat', false, 'widely cited value; verify'),
    ('lead', 'fish', 'contaminant_max', 0.5, 'mg/kg', 'as Pb', 'GB 2762', '2022',
     'Fresh fish', false, 'widely cited value; verify'),
    ('cadmium', 'leafy_vegetables', 'contaminant_max', 0.2, 'mg/kg', 'as Cd', 'GB 2762', '2022',
     'Fresh vegetables: leafy vegetables', false, 'widely cited value; verify'),
    ('cadmium', 'root_tuber_vegetables', 'contaminant_max', NULL, NULL, 'as Cd', 'GB 2762',
     '2022', 'excluded from the fresh-vegetables row', false,
     'exclusion: the 0.05 mg/kg fresh-vegetable row does not cover root and tuber vegetables; '
     'their own limit is not in this seed data'),
    ('cadmium', 'livestock_meat', 'contaminant_max', 0.1, 'mg/kg', 'as Cd', 'GB 2762', '2022',
     'Livestock meat', false, 'widely cited value; verify'),
    ('methylmercury', 'fish', 'contaminant_max', 0.5, 'mg/kg', 'as Hg', 'GB 2762', '2022',
     'Non-predatory fish', false,
     'widely cited value; verify. Predatory fish: 1.0 mg/kg; this category tree does not '
     'separate predatory fish, so the lower value applies to all fish'),

    -- GB 2763-2021 pesticide MRLs, NOT verified against the standard text.
    ('omethoate', 'vegetables', 'mrl', 0.02, 'mg/kg', NULL, 'GB 2763', '2021',
     'Appendix A: vegetables', false, 'commonly enforced value; verify'),
    ('phorate', 'vegetables', 'mrl', 0.01, 'mg/kg', NULL, 'GB 2763', '2021',
     'Appendix A: vegetables', false, 'commonly enforced value; verify'),
    ('carbofuran', 'vegetables', 'mrl', 0.02, 'mg/kg', NULL, 'GB 2763', '2021',
     'Appendix A: vegetables', false, 'commonly enforced value; verify'),
    ('methamidophos', 'vegetables', 'mrl', 0.05, 'mg/kg', NULL, 'GB 2763', '2021',
     'Appendix A: vegetables', false, 'commonly enforced value; verify'),

    -- GB 31650-2019 veterinary drug MRL, NOT verified.
    ('enrofloxacin_ciprofloxacin', 'meat', 'vet_drug_mrl', 100, 'ug/kg', 'sum of both',
     'GB 31650', '2019', 'Livestock and poultry muscle', false, 'verify'),

    -- Prohibited substances: any confirmed detection is a violation, in any food.
    ('clenbuterol', 'food', 'prohibited', 0, 'mg/kg', NULL,
     'GB 31650-2019 and the list of substances prohibited in food animals', '2019',
     'beta-agonist, prohibited in food animals', true, 'any confirmed detection is a violation'),
    ('ractopamine', 'food', 'prohibited', 0, 'mg/kg', NULL,
     'GB 31650-2019 and the list of substances prohibited in food animals', '2019',
     'beta-agonist, prohibited in food animals', true, 'any confirmed detection is a violation'),
    ('salbutamol', 'food', 'prohibited', 0, 'mg/kg', NULL,
     'GB 31650-2019 and the list of substances prohibited in food animals', '2019',
     'beta-agonist, prohibited in food animals', true, 'any confirmed detection is a violation'),
    ('malachite_green', 'food', 'prohibited', 0, 'mg/kg', NULL,
     'list of substances prohibited in food animals', NULL,
     'prohibited in aquatic products', true, 'any confirmed detection is a violation'),
    ('chloramphenicol', 'food', 'prohibited', 0, 'mg/kg', NULL,
     'list of substances prohibited in food animals', NULL,
     'prohibited in aquatic products', true, 'any confirmed detection is a violation'),
    ('nitrofurans', 'food', 'prohibited', 0, 'mg/kg', NULL,
     'list of substances prohibited in food animals', NULL,
     'prohibited in aquatic products', true, 'any confirmed detection is a violation'),

    -- Illegal adulterants screened at markets: presence is the violation. The
    -- citation was not checked against the published list, hence verified = false.
    ('formaldehyde', 'aquatic_products', 'prohibited', 0, 'mg/kg', NULL,
     'list of non-food substances illegally added to food', NULL, 'aquatic products', false,
     'presence is the violation; citation to verify'),
    ('borax', 'food', 'prohibited', 0, 'mg/kg', NULL,
     'list of non-food substances illegally added to food', NULL, NULL, false,
     'presence is the violation; citation to verify'),
    ('sudan_dyes', 'food', 'prohibited', 0, 'mg/kg', NULL,
     'list of non-food substances illegally added to food', NULL, NULL, false,
     'presence is the violation; citation to verify')
ON CONFLICT (analyte, category) DO NOTHING;

-- ---------------------------------------------------------------------------
-- Alerts. One OPEN alert per (lot, analyte): the partial unique index below.
-- status: open -> acknowledged -> closed (closed is final; a new violation on the
-- same lot and analyte then raises a new alert).
-- version: bumped each time the alert changes in a way that is published
-- (raised = 1, upgraded, cleared, closed); consumers dedupe on (alert_id, version).
-- classification / risk_decision follow EU RASFF: a confirmed violation is an
-- 'alert' with a 'serious' risk; a rapid-test suspicion is 'information_for_attention'
-- with the risk 'undecided' until a laboratory confirms it.
-- ---------------------------------------------------------------------------
CREATE TABLE core.alerts (
    alert_id         uuid PRIMARY KEY,
    lot_code         text NOT NULL,
    analyte          text NOT NULL,
    screen_analyte   text,                 -- the rapid screen that first raised it, when
                                           -- the confirmation names a specific analyte
    product_code     text,
    category         text,
    status           text NOT NULL CHECK (status IN ('open', 'acknowledged', 'closed')),
    severity         text NOT NULL CHECK (severity IN ('warning', 'critical')),
    classification   text NOT NULL CHECK (classification IN ('alert',
                                                             'information_for_attention')),
    risk_decision    text NOT NULL CHECK (risk_decision IN ('serious', 'undecided',
                                                            'not_serious')),
    version          integer NOT NULL DEFAULT 1,
    raised_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    -- the lab result that set the current severity
    message_id       uuid NOT NULL,
    tested_at        timestamptz NOT NULL,
    test_kind        text NOT NULL,
    lab_id           text NOT NULL,
    sample_id        text NOT NULL,
    value            numeric,
    unit             text,
    value_mg_per_kg  numeric,
    limit_value      numeric,              -- in limit_unit
    limit_unit       text,
    limit_verified   boolean,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    closed_by        text,
    closed_at        timestamptz,
    resolution       text CHECK (resolution IN ('cleared_by_confirmatory', 'closed_by_operator')),
    payload          jsonb NOT NULL,       -- the alert JSON (spec section 4) of this version
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_one_open_per_lot_analyte
    ON core.alerts (lot_code, analyte) WHERE status <> 'closed';
CREATE INDEX alerts_status_idx ON core.alerts (status, raised_at DESC);
CREATE INDEX alerts_cities_idx ON core.alerts USING gin ((payload -> 'affected_cities'));

-- Every change to an alert: who, when, what.
CREATE TABLE core.alert_history (
    history_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id       uuid NOT NULL REFERENCES core.alerts (alert_id),
    version        integer NOT NULL,       -- the alert's version after the change
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,          -- 'engine' or the operator (--by)
    action         text NOT NULL CHECK (action IN ('raised', 'upgraded', 'cleared',
                     'acknowledged', 'closed', 'noted')),
    from_status    text,
    to_status      text NOT NULL,
    from_severity  text,
    to_severity    text NOT NULL,
    lab_message_id uuid,                   -- the lab result behind an engine change
    note           text,
    detail         jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX alert_history_alert_idx ON core.alert_history (alert_id, history_id);

-- Which lab results evaluate() has judged, and the verdict (anti-join bookkeeping:
-- no time watermark, so a result whose promotion commits late is still judged).
CREATE TABLE core.alert_evaluations (
    message_id   uuid NOT NULL,
    tested_at    timestamptz NOT NULL,
    evaluated_at timestamptz NOT NULL DEFAULT now(),
    verdict      text NOT NULL,            -- foodtrace.alerts.rules.Verdict
    action       text NOT NULL,            -- raised | upgraded | cleared | noted | none
    alert_id     uuid,
    reason       text NOT NULL,
    PRIMARY KEY (message_id, tested_at)
);

-- Transactional outbox: written in the same transaction as the alert change, one
-- row per (alert version, city), each carrying the JSON and the CAP document.
-- deliver() sets sent_at after the broker acknowledged both (at-least-once).
-- Rows are kept after sending: they are the record of what was published, and
-- the CAP <references> of a later Update/Cancel are built from them.
CREATE TABLE core.alert_outbox (
    outbox_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id       uuid NOT NULL REFERENCES core.alerts (alert_id),
    version        integer NOT NULL,
    city           text NOT NULL,
    msg_type       text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    cap_identifier text NOT NULL UNIQUE,
    cap_sent       text NOT NULL,          -- the CAP <sent> value, verbatim
    json_payload   jsonb NOT NULL,
    cap_xml        text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    sent_at        timestamptz,
    UNIQUE (alert_id, version, city)
);
CREATE INDEX alert_outbox_pending_idx ON core.alert_outbox (outbox_id) WHERE sent_at IS NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON core.limits, core.alerts, core.alert_history,
    core.alert_evaluations, core.alert_outbox TO foodtrace_pipeline;
GRANT SELECT ON core.limits, core.alerts, core.alert_history, core.alert_evaluations,
    core.alert_outbox TO foodtrace_reader;
