"""The EPCIS REST interface served for real: uvicorn in a thread on a free port,
against a migrated database, connected as the least-privilege role foodtrace_api;
senders' tokens in a tokens file; an httpx client per sender."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn

from foodtrace.config import MqttSettings
from foodtrace.epcis_api import ApiSettings, create_app

API_ROLE = "foodtrace_api"
# sender -> (token, role, locations)
SENDERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "farm-zq-01": ("farm-token-" + "a" * 24, "actor", ("FARM-ZQ-01",)),
    "packer-gz-01": ("packer-token-" + "b" * 24, "actor",
                     ("PACK-GZ-01", "urn:epc:id:sgln:4012345.00001.0")),
    "market-gz-01": ("market-token-" + "c" * 24, "actor", ("MKT-GZ-01",)),
    "regulator-gd": ("regulator-token-" + "d" * 24, "regulator", ()),
}


def as_api_role(db_url: str) -> str:
    return psycopg.conninfo.make_conninfo(db_url, options=f"-c role={API_ROLE}")


def write_tokens(path: Path) -> Path:
    """The tokens file in its line form: sha256, actor, role, locations."""
    lines = ["# sha256(token) actor_id role locations"]
    for actor, (token, role, locations) in SENDERS.items():
        digest = hashlib.sha256(token.encode()).hexdigest()
        lines.append(" ".join([digest, actor, role, *([",".join(locations)] if locations else [])]))
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


class ApiServer:
    """create_app() under uvicorn, in a daemon thread, on a port of its own."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                       daemon=True, name="epcis-api")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the EPCIS API did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        with contextlib.suppress(OSError):
            self._sock.close()

    def client(self, sender: str | None) -> httpx.Client:
        headers = {}
        if sender is not None:
            headers["Authorization"] = f"Bearer {SENDERS[sender][0]}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextlib.contextmanager
def serving(db_url: str, tmp: Path, *, mqtt: MqttSettings | None = None,
            max_body_bytes: int = 1024 * 1024) -> Iterator[ApiServer]:
    settings = ApiSettings(
        database_url=as_api_role(db_url),
        tokens_file=write_tokens(tmp / "tokens"),
        max_body_bytes=max_body_bytes,
        mqtt=mqtt,
        pool_size=2,
    )
    server = ApiServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


def rows(db_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(db_url, autocommit=True) as c:
        return c.execute(sql, params).fetchall()


# --- documents ----------------------------------------------------------------------


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def epcis_document(n_events: int = 2, *, batch: str | None = None) -> dict[str, Any]:
    """An EPCISDocument of a packer: packing of a GS1 lot, then shipments of it."""
    now = datetime.now(UTC).replace(microsecond=0)
    lot = f"urn:epc:class:lgtin:4012345.012345.{batch or uuid.uuid4().hex[:8].upper()}"
    where = "urn:epc:id:sgln:4012345.00001.0"
    events: list[dict[str, Any]] = [{
        "type": "ObjectEvent",
        "eventID": f"ni:///sha-256;{uuid.uuid4().hex}?ver=CBV2.0",
        "eventTime": _ts(now - timedelta(hours=3)),
        "eventTimeZoneOffset": "+08:00",
        "action": "ADD",
        "bizStep": "packing",
        "quantityList": [{"epcClass": lot, "quantity": 200, "uom": "KGM"}],
        "bizLocation": {"id": where},
        "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-118"}],
    }]
    for i in range(1, n_events):
        events.append({
            "type": "ObjectEvent",
            "eventID": f"ni:///sha-256;{uuid.uuid4().hex}?ver=CBV2.0",
            "eventTime": _ts(now - timedelta(hours=2, seconds=-i)),
            "eventTimeZoneOffset": "+08:00",
            "action": "OBSERVE",
            "bizStep": "shipping",
            "quantityList": [{"epcClass": lot, "quantity": 1, "uom": "KGM"}],
            "bizLocation": {"id": where},
            "destinationList": [{"type": "location",
                                 "destination": "urn:epc:id:sgln:4012345.00099.0"}],
            "bizTransactionList": [{"type": "bol", "bizTransaction": f"urn:epcglobal:cbv:bt:4012345000009:BOL-{i}"}],
        })
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _ts(now),
        "epcisBody": {"eventList": events},
    }
