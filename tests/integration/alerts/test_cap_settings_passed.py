"""The CAP settings are built once by the entry point and passed down: the pipeline
steps read the environment once per run, whatever number of messages they write,
and the outbox and the overdue sweep use the settings they are given, not the
environment (issue 10's direction: one settings object per entry point)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerts_helpers import Chain

from foodtrace.alerts import outbox, store
from foodtrace.alerts.cap_settings import CapSettings
from foodtrace.pipeline.steps import alert_step, withdrawal_step
from foodtrace.trace.link import link
from foodtrace.withdrawals import overdue

GIVEN = CapSettings(sender="given-sender", contact="020-12345678")


def _positive(c: Chain) -> None:
    c.lab_result("A", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=62.5, unit="%", result="positive")
    link(c.conn)
    c.conn.commit()


def test_steps_read_the_environment_once_per_run(chain: Chain, fresh_db_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = CapSettings.from_env.__func__

    def counting(cls, environ=None):
        calls.append(1)
        return real(cls, environ)

    monkeypatch.setattr(CapSettings, "from_env", classmethod(counting))
    monkeypatch.setenv("FOODTRACE_CAP_SENDER", "env-sender")
    _positive(chain)
    out = alert_step(fresh_db_url)
    [alert_id] = out.alerts
    rows = chain.conn.execute("SELECT cap_xml FROM core.alert_outbox WHERE alert_id = %s",
                              (alert_id,)).fetchall()
    deadline = chain.conn.execute("SELECT max(deadline) FROM core.withdrawal_notices "
                                  "WHERE alert_id = %s", (alert_id,)).fetchone()[0]
    chain.conn.commit()
    assert len(rows) >= 2  # several cities, several documents ...
    assert len(calls) == 1  # ... one read of the settings
    assert all("<sender>env-sender</sender>" in r[0] for r in rows)

    calls.clear()
    swept = withdrawal_step(fresh_db_url, now=deadline + timedelta(hours=1))
    assert len(swept.escalations) >= 2 and len(calls) == 1


def test_outbox_and_sweep_use_the_settings_given(chain: Chain,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _positive(chain)
    from foodtrace.alerts.engine import evaluate

    [alert_id] = evaluate(chain.conn, cap_settings=GIVEN)
    payload = dict(store.get(chain.conn, alert_id).payload)
    deadline = chain.conn.execute("SELECT max(deadline) FROM core.withdrawal_notices "
                                  "WHERE alert_id = %s", (alert_id,)).fetchone()[0]
    chain.conn.commit()
    # an environment that would be refused: reading it would raise ConfigError
    monkeypatch.setenv("FOODTRACE_CAP_ID_SCHEME", "no-such-scheme")
    outbox.enqueue(chain.conn, {**payload, "version": 50}, settings=GIVEN)
    overdue.sweep(chain.conn, now=deadline + timedelta(hours=1), settings=GIVEN)
    chain.conn.commit()
    xml = [r[0] for r in chain.conn.execute(
        "SELECT cap_xml FROM core.alert_outbox WHERE alert_id = %s UNION ALL "
        "SELECT cap_xml FROM core.withdrawal_escalations WHERE alert_id = %s",
        (alert_id, alert_id)).fetchall()]
    chain.conn.commit()
    assert len(xml) >= 4
    assert all("<sender>given-sender</sender>" in x and "<contact>020-12345678</contact>" in x
               for x in xml)
    # and the version-50 Update names the earlier messages with the same sender
    assert all("given-sender," in x for x in xml if "<msgType>Update</msgType>" in x)
