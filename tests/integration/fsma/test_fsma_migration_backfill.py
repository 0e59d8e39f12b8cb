"""Migration 0019 fills the new description and offset columns from what had landed
before it (a deployment upgrading keeps its master data and its events' offsets)."""

from __future__ import annotations

import importlib
import json
import uuid

import pytest

from foodtrace.db import connect, migrate

# the module, not the function foodtrace.db re-exports under the same name
migrate_module = importlib.import_module("foodtrace.db.migrate")


def test_0019_backfills_from_landing(empty_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = migrate_module.available_migrations()
    monkeypatch.setattr(migrate_module, "available_migrations",
                        lambda: [m for m in everything if m.version < 19])
    loc, prod, event = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with connect(empty_db_url) as conn:
        migrate(conn)
        conn.execute(
            "INSERT INTO landing.master_data (message_id, kind, natural_key, topic, payload) "
            "VALUES (%s, 'location', 'farm-zq-01', 't', %s), (%s, 'product', 'VEG', 't', %s)",
            (loc, json.dumps({"location_id": "farm-zq-01", "business_name": "肇庆市合作社",
                              "phone": "+86 758 2345 6789", "postal_code": "526100",
                              "address": "广东省肇庆市", "country": "CN"}),
             prod, json.dumps({"product_code": "VEG", "brand": "岭南鲜", "variety": "四九菜心",
                               "pack_size": "10 kg"})))
        conn.execute("INSERT INTO core.locations (location_id, name, kind, city, message_id) "
                     "VALUES ('farm-zq-01', 'Farm', 'farm', 'zhaoqing', %s)", (loc,))
        conn.execute("INSERT INTO core.products (product_code, name, category, message_id) "
                     "VALUES ('VEG', 'Veg', 'leafy_vegetables', %s)", (prod,))
        conn.execute(
            "INSERT INTO landing.chain_events (message_id, actor_id, topic, payload) "
            "VALUES (%s, 'farm-zq-01', 't', %s)",
            (event, json.dumps({"event_time": "2026-11-28T06:30:00+08:00"})))
        conn.execute(
            "INSERT INTO core.events (message_id, event_time, actor_id, event_type, location_id,"
            " reference_document_type, reference_document_number) VALUES"
            " (%s, '2026-11-28T06:30:00+08:00', 'farm-zq-01', 'shipping', 'farm-zq-01', 'BOL', '1')",
            (event,))
        conn.commit()
        monkeypatch.setattr(migrate_module, "available_migrations", lambda: everything)
        assert 19 in [m.version for m in migrate(conn)]
        assert conn.execute(
            "SELECT business_name, phone, postal_code, address, country FROM core.locations"
        ).fetchone() == ("肇庆市合作社", "+86 758 2345 6789", "526100", "广东省肇庆市", "CN")
        assert conn.execute(
            "SELECT brand, commodity, variety, pack_size, pack_style FROM core.products"
        ).fetchone() == ("岭南鲜", None, "四九菜心", "10 kg", None)
        assert conn.execute("SELECT event_time_offset FROM core.events").fetchone() == ("+08:00",)
