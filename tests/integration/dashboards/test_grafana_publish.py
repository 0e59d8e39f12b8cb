"""`foodtrace grafana publish` against a local HTTP server that answers like Grafana's
API and records every request. This checks the requests are well-formed (paths,
auth, payloads); it does NOT prove a real Grafana accepts them (none runs here)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from foodtrace.cli.main import main
from foodtrace.grafana.model import DASHBOARD_FILES, DATASOURCE_UID, load_dashboards


@dataclass
class Recorder:
    requests: list[dict] = field(default_factory=list)
    existing: set[str] = field(default_factory=set)  # "folder", "datasource"
    refuse_writes: bool = False  # answer POSTs like a token without the right role


def _handler(rec: Recorder):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            entry = {
                "method": self.command,
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "body": json.loads(raw) if raw else None,
            }
            rec.requests.append(entry)
            return entry

        def do_GET(self) -> None:
            self._record()
            if self.path == "/api/folders/foodtrace" and "folder" in rec.existing:
                self._answer(200, {"uid": "foodtrace", "title": "foodtrace"})
            elif self.path == f"/api/datasources/uid/{DATASOURCE_UID}" and (
                "datasource" in rec.existing
            ):
                self._answer(200, {"uid": DATASOURCE_UID, "id": 7})
            else:
                self._answer(404, {"message": "not found"})

        def do_POST(self) -> None:
            entry = self._record()
            if rec.refuse_writes:
                self._answer(403, {"message": "Permissions needed: datasources:create"})
            elif self.path == "/api/dashboards/db":
                uid = entry["body"]["dashboard"]["uid"]
                self._answer(
                    200, {"uid": uid, "version": 1, "status": "success", "url": f"/d/{uid}/x"}
                )
            else:
                self._answer(200, {"id": 1, "message": "created"})

        def do_PUT(self) -> None:
            self._record()
            self._answer(200, {"message": "updated"})

    return Handler


@pytest.fixture
def grafana() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def reader_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOODTRACE_READER_DB_PASSWORD", "s3cret-reader")
    monkeypatch.setenv("FOODTRACE_READER_DB_USER", "grafana_reader")
    monkeypatch.delenv("FOODTRACE_GRAFANA_TOKEN", raising=False)
    monkeypatch.delenv("FOODTRACE_GRAFANA_URL", raising=False)
    monkeypatch.delenv("FOODTRACE_GRAFANA_LANGUAGE", raising=False)


def test_first_publish_creates_folder_and_datasource_and_every_dashboard(
    grafana, reader_env, monkeypatch, capsys
) -> None:
    url, rec = grafana
    monkeypatch.setenv("FOODTRACE_GRAFANA_TOKEN", "glsa_test_token")
    assert main(["grafana", "publish", "--url", url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["folder"]["action"] == "created"
    assert out["datasource"]["action"] == "created"
    assert {d["uid"] for d in out["dashboards"]} == {d["uid"] for d in load_dashboards().values()}

    assert all(r["auth"] == "Bearer glsa_test_token" for r in rec.requests)
    calls = [(r["method"], r["path"]) for r in rec.requests]
    assert calls[:4] == [
        ("GET", "/api/folders/foodtrace"),
        ("POST", "/api/folders"),
        ("GET", f"/api/datasources/uid/{DATASOURCE_UID}"),
        ("POST", "/api/datasources"),
    ]
    folder = rec.requests[1]["body"]
    assert folder == {"title": "foodtrace", "uid": "foodtrace"}
    datasource = rec.requests[3]["body"]
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["type"] == "grafana-postgresql-datasource"
    assert datasource["user"] == "grafana_reader"
    assert datasource["secureJsonData"] == {"password": "s3cret-reader"}
    assert datasource["jsonData"]["timescaledb"] is True

    saved = [r for r in rec.requests if r["path"] == "/api/dashboards/db"]
    assert len(saved) == len(DASHBOARD_FILES)
    shipped = {d["uid"]: d for d in load_dashboards().values()}
    for request in saved:
        body = request["body"]
        assert request["method"] == "POST" and request["content_type"].startswith(
            "application/json"
        )
        assert body["overwrite"] is True and body["folderUid"] == "foodtrace"
        assert body["dashboard"] == shipped[body["dashboard"]["uid"]]


def test_publish_again_updates_in_place_with_basic_auth(
    grafana, reader_env, monkeypatch, capsys
) -> None:
    base, rec = grafana
    rec.existing |= {"folder", "datasource"}
    monkeypatch.setenv("FOODTRACE_GRAFANA_URL", base.replace("http://", "http://admin:pw@"))
    monkeypatch.setenv("FOODTRACE_GRAFANA_TIMESCALEDB", "false")
    assert main(["grafana", "publish"]) == 0
    text = capsys.readouterr().out
    assert "folder exists, datasource updated" in text and "admin:pw" not in text
    expected = "Basic " + base64.b64encode(b"admin:pw").decode()
    assert {r["auth"] for r in rec.requests} == {expected}
    put = [r for r in rec.requests if r["method"] == "PUT"]
    assert [r["path"] for r in put] == [f"/api/datasources/uid/{DATASOURCE_UID}"]
    assert put[0]["body"]["jsonData"]["timescaledb"] is False
    assert not [r for r in rec.requests if r["path"] in ("/api/folders", "/api/datasources")]


def test_publish_explains_missing_settings(grafana, monkeypatch, capsys) -> None:
    url, rec = grafana
    monkeypatch.delenv("FOODTRACE_READER_DB_PASSWORD", raising=False)
    monkeypatch.delenv("FOODTRACE_GRAFANA_TOKEN", raising=False)
    assert main(["grafana", "publish", "--url", url]) == 2
    assert "FOODTRACE_READER_DB_PASSWORD" in capsys.readouterr().err
    monkeypatch.setenv("FOODTRACE_READER_DB_PASSWORD", "x")
    assert main(["grafana", "publish", "--url", url]) == 2
    assert "FOODTRACE_GRAFANA_TOKEN" in capsys.readouterr().err
    assert rec.requests == []  # nothing was sent without credentials


def test_publish_reports_a_refusal(grafana, reader_env, monkeypatch, capsys) -> None:
    url, rec = grafana
    monkeypatch.setenv("FOODTRACE_GRAFANA_TOKEN", "wrong")
    rec.existing.add("folder")
    rec.refuse_writes = True
    assert main(["grafana", "publish", "--url", url]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "datasources:create" in err


def test_the_language_setting_chooses_what_is_published(
    grafana, reader_env, monkeypatch, capsys
) -> None:
    url, rec = grafana
    monkeypatch.setenv("FOODTRACE_GRAFANA_TOKEN", "glsa_test_token")
    assert main(["grafana", "publish", "--url", url, "--json"]) == 0
    chinese = [r["body"]["dashboard"] for r in rec.requests if r["path"] == "/api/dashboards/db"]
    assert "应急协调" in {d["title"] for d in chinese}  # zh-CN by default
    rec.requests.clear()
    monkeypatch.setenv("FOODTRACE_GRAFANA_LANGUAGE", "en")
    assert main(["grafana", "publish", "--url", url, "--json"]) == 0
    english = [r["body"]["dashboard"] for r in rec.requests if r["path"] == "/api/dashboards/db"]
    assert {d["uid"] for d in english} == {d["uid"] for d in load_dashboards("en").values()}
    assert "Emergency coordination" in {d["title"] for d in english}
    assert all(d["uid"].endswith("-en") for d in english)
    capsys.readouterr()
    monkeypatch.setenv("FOODTRACE_GRAFANA_LANGUAGE", "fr")
    assert main(["grafana", "publish", "--url", url]) == 2
    assert "FOODTRACE_GRAFANA_LANGUAGE" in capsys.readouterr().err
