"""The schedules plugin as Airflow's own API app serves it (in-process, TestClient): found through the
provider's metadata, mounted at /braze, behind the simple auth manager, over a SQLite schedule registry."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_braze_schedule.core.registry_model import Actor, RegistryEntry
from tests.helpers import AIRFLOW_VERSION

# Airflow 2's webserver runs no FastAPI apps: there the plugin has none (its CLI is tested elsewhere).
pytestmark = pytest.mark.skipif(AIRFLOW_VERSION.major < 3, reason="Airflow 2 has no FastAPI plugin apps")

REGISTRY_CONN = "braze_page_registry"
#: The Braze connection's API key: it must never appear in an answer.
API_KEY = "never-shown-api-key-5b1f"
NOW = pendulum.now("UTC").replace(microsecond=0)
CHANGE = Actor(dag_id="orders", run_id="manual__1", task_id="create")


def keyed(key: str, hours: float, **handle: Any) -> RegistryEntry:
    send = NOW.add(hours=hours).isoformat().replace("+00:00", "Z")
    entry = RegistryEntry(
        key,
        handle={
            "schedule_id": f"sched-{key}",
            "kind": "campaign",
            "campaign_id": "camp-1",
            "schedule": {"time": send},
        },
    )
    entry.handle.update(handle)  # type: ignore[union-attr]
    return entry.record("create", CHANGE, state="scheduled")


def entries() -> list[RegistryEntry]:
    made = [keyed(f"store-{n // 10}/reminder-{n % 10}", hours=2 + n) for n in range(30)]
    made.append(
        keyed("store-9/cancelled", 5).record(
            "cancel", Actor("braze_schedule_admin", "r2", "cancel_by_key"), state="cancelled"
        )
    )
    made.append(keyed("store-9/sent", -48))
    lost = RegistryEntry(
        "store-9/lost",
        pending={
            "op": "create",
            "at": "2026-01-01T00:00:00+00:00",
            "task_id": "t",
            "run_id": "r",
            "recipients": [{"external_user_id": "user-secret-77"}],
        },
    )
    made.append(lost.record("intent:create", CHANGE))
    group = keyed("store-9/group", 30, recipients=120, chunk_size=50)
    group.handle = {k: v for k, v in group.handle.items() if k != "schedule_id"}  # type: ignore[union-attr]
    group.handle["chunks"] = [{"position": n, "schedule_id": f"g-{n}", "recipients": 50} for n in range(3)]
    made.append(group)
    return made


@pytest.fixture(scope="module")
def client(airflow_db, tmp_path_factory) -> Iterator[Any]:
    from airflow_braze_schedule.registry import open_registry

    folder = Path(tmp_path_factory.mktemp("schedules_page"))
    settings = {
        f"AIRFLOW_CONN_{REGISTRY_CONN.upper()}": json.dumps(
            {"conn_type": "sqlite", "host": str(folder / "registry.db")}
        ),
        "AIRFLOW_CONN_BRAZE_DEFAULT": json.dumps(
            {"conn_type": "braze", "host": "https://rest.iad-01.braze.com", "password": API_KEY}
        ),
        "AIRFLOW__BRAZE_SCHEDULE__REGISTRY_CONN_ID": REGISTRY_CONN,
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "olga:op,vera:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(folder / "passwords.json"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-secret-of-the-schedules-page-" + "x" * 64,
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    registry = open_registry(braze_conn_id="braze_default", registry_conn_id=REGISTRY_CONN)
    registry.put_many(entries())
    registry.backend.close()  # type: ignore[attr-defined]

    from airflow import plugins_manager
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    for cached in ("_get_plugins", "get_fastapi_plugins", "_get_ui_plugins"):
        getattr(getattr(plugins_manager, cached, None), "cache_clear", lambda: None)()
    purge_cached_app()
    try:
        yield TestClient(create_app("core"), follow_redirects=False)
    finally:
        purge_cached_app()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def token(username: str, role: str) -> dict[str, str]:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    jwt = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role))
    return {"Authorization": f"Bearer {jwt}"}


@pytest.fixture(scope="module")
def viewer(client) -> dict[str, str]:
    return token("vera", "viewer")


@pytest.fixture(scope="module")
def operator(client) -> dict[str, str]:
    return token("olga", "op")


@pytest.mark.parametrize(
    "path",
    [
        "/braze/api/schedules",
        "/braze/api/schedules/store-0/reminder-1",
        "/braze/api/context",
        "/braze/static/schedules.js",
    ],
)
def test_every_route_answers_401_without_a_token(client, path):
    assert client.get(path).status_code == 401


BROWSER_SESSIONS = AIRFLOW_VERSION.release >= (3, 1)


def test_the_page_sends_a_person_without_a_session_to_airflows_login(client):
    answer = client.get("/braze/")

    if BROWSER_SESSIONS:
        assert answer.status_code == 302
        assert "/auth/login" in answer.headers["location"]
    else:  # 3.0 takes no session cookie: a login would lead back here, so the page says why instead
        assert answer.status_code == 401
        assert "needs Airflow 3.1" in answer.json()["detail"]


def test_a_forged_token_is_refused(client):
    assert client.get("/braze/api/schedules", headers={"Authorization": "Bearer not-a-jwt"}).status_code in (
        401,
        403,
    )


def test_the_page_and_its_script_are_served_to_a_user_who_may_read_dags(client, viewer):
    page = client.get("/braze/", headers=viewer)
    script = client.get("/braze/static/schedules.js", headers=viewer)

    assert page.status_code == 200
    assert "Braze schedules" in page.text
    assert script.status_code == 200
    assert "braze_schedule_admin" in script.text
    assert client.get("/braze/static/app.py", headers=viewer).status_code == 404


@pytest.mark.skipif(not BROWSER_SESSIONS, reason="Airflow 3.0 authenticates bearer tokens only")
def test_the_session_cookie_of_airflows_ui_is_accepted(client):
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    jwt = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="vera", role="viewer"))
    client.cookies.set("_token", jwt)
    try:
        answer = client.get("/braze/api/schedules")
    finally:
        client.cookies.clear()

    assert answer.status_code == 200


def test_a_page_of_schedules_with_its_total_in_key_order(client, viewer):
    answer = client.get(
        "/braze/api/schedules", params={"scope": "store-0/", "limit": 4, "offset": 2}, headers=viewer
    )

    assert answer.status_code == 200
    page = answer.json()
    assert page["total"] == 10
    assert [e["schedule_key"] for e in page["entries"]] == [f"store-0/reminder-{n}" for n in range(2, 6)]
    entry = page["entries"][0]
    assert entry["state"] == "scheduled"
    assert entry["kind"] == "campaign"
    assert entry["campaign_id"] == "camp-1"
    assert entry["time_mode"] == "utc"
    assert entry["schedule_ids"] == {"group": False, "count": 1, "ids": ["sched-store-0/reminder-2"]}
    assert entry["last_change"] == {
        "seq": 0,
        "at": entry["last_change"]["at"],
        "action": "create",
        "state": "scheduled",
        "schedule_id": "sched-store-0/reminder-2",
        "dag_id": "orders",
        "run_id": "manual__1",
        "task_id": "create",
    }
    assert entry["dashboard_url"] == "https://dashboard-01.braze.com/engagement/campaigns/camp-1"


def test_filters_by_state_and_send_window(client, viewer):
    def keys(**params: Any) -> list[str]:
        answer = client.get("/braze/api/schedules", params={"limit": 500, **params}, headers=viewer)
        assert answer.status_code == 200, answer.text
        return [e["schedule_key"] for e in answer.json()["entries"]]

    tomorrow = NOW.add(hours=24).isoformat().replace("+00:00", "Z")
    assert keys(state="cancelled") == ["store-9/cancelled"]
    assert keys(state="presumed_sent") == ["store-9/sent"]
    next_day = keys(send_after=NOW.isoformat().replace("+00:00", "Z"), send_before=tomorrow)
    assert "store-0/reminder-0" in next_day
    assert "store-2/reminder-9" not in next_day  # 31 hours away
    assert "store-9/sent" not in next_day
    assert client.get("/braze/api/schedules", params={"state": "sent"}, headers=viewer).status_code == 422
    assert (
        client.get("/braze/api/schedules", params={"send_after": "tomorrow"}, headers=viewer).status_code
        == 422
    )
    assert client.get("/braze/api/schedules", params={"limit": 10_000}, headers=viewer).status_code == 422


def test_flagged_entries_and_a_group_say_what_they_are(client, viewer):
    page = client.get("/braze/api/schedules", params={"scope": "store-9/"}, headers=viewer).json()
    by_key = {e["schedule_key"]: e for e in page["entries"]}

    assert [f["code"] for f in by_key["store-9/lost"]["flags"]] == ["create_answer_lost"]
    assert by_key["store-9/group"]["schedule_ids"] == {
        "group": True,
        "count": 3,
        "ids": ["g-0", "g-1", "g-2"],
        "recipients": 120,
        "chunk_size": 50,
    }
    assert by_key["store-9/group"]["flags"] == []


def test_one_key_with_its_whole_history(client, viewer):
    answer = client.get("/braze/api/schedules/store-9/cancelled", headers=viewer)

    assert answer.status_code == 200
    detail = answer.json()
    assert detail["state"] == "cancelled"
    assert [(h["action"], h["dag_id"], h["task_id"]) for h in detail["history"]] == [
        ("create", "orders", "create"),
        ("cancel", "braze_schedule_admin", "cancel_by_key"),
    ]
    assert client.get("/braze/api/schedules/store-9/none", headers=viewer).status_code == 404


def test_no_answer_carries_the_api_key_or_a_recipient(client, viewer):
    texts = [
        client.get("/braze/api/schedules", params={"limit": 500}, headers=viewer).text,
        client.get("/braze/api/schedules/store-9/lost", headers=viewer).text,
        client.get("/braze/api/context", headers=viewer).text,
    ]

    for text in texts:
        assert API_KEY not in text
        assert "user-secret-77" not in text


def test_the_context_tells_a_viewer_they_cannot_cancel_and_an_operator_they_can(client, viewer, operator):
    answer = client.get("/braze/api/context", headers=viewer)
    assert answer.status_code == 200, answer.text
    seen_by_viewer = answer.json()
    seen_by_operator = client.get("/braze/api/context", headers=operator).json()

    assert (seen_by_viewer["user"], seen_by_viewer["can_cancel"]) == ("vera", False)
    assert "braze_schedule_admin" in seen_by_viewer["cannot_cancel_because"]
    assert (seen_by_operator["can_cancel"], seen_by_operator["cannot_cancel_because"]) == (True, None)
    assert seen_by_operator["admin_dag"]["dag_id"] == "braze_schedule_admin"


def test_airflow_refuses_the_viewers_cancel_with_403(client, viewer):
    answer = client.post(
        "/api/v2/dags/braze_schedule_admin/dagRuns",
        json={"logical_date": None, "conf": {"schedule_key": "store-0/reminder-0"}},
        headers=viewer,
    )

    assert answer.status_code == 403


@pytest.mark.skipif(AIRFLOW_VERSION.release < (3, 1), reason="external_views came in Airflow 3.1")
def test_the_plugin_adds_a_braze_schedules_entry_to_the_ui(client, viewer):
    plugins = client.get("/api/v2/plugins", headers=viewer).json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "braze_schedules")

    assert [(v["name"], v["href"]) for v in ours["external_views"]] == [("Braze schedules", "braze/")]
