"""REST endpoint resolution (braze-api.md §1.1) and the endpoint paths of the three kinds (§2)."""

from __future__ import annotations

import pytest

from airflow_braze_schedule.core.endpoints import ENDPOINTS, Action, ScheduleKind, resolve_rest_endpoint
from airflow_braze_schedule.core.errors import BrazeConfigurationError

# braze-api.md §1.1, newest list.
INSTANCES = [
    ("US-01", "https://rest.iad-01.braze.com"),
    ("US-02", "https://rest.iad-02.braze.com"),
    ("US-03", "https://rest.iad-03.braze.com"),
    ("US-04", "https://rest.iad-04.braze.com"),
    ("US-05", "https://rest.iad-05.braze.com"),
    ("US-06", "https://rest.iad-06.braze.com"),
    ("US-07", "https://rest.iad-07.braze.com"),
    ("US-08", "https://rest.iad-08.braze.com"),
    ("US-10", "https://rest.us-10.braze.com"),
    ("EU-01", "https://rest.fra-01.braze.eu"),
    ("EU-02", "https://rest.fra-02.braze.eu"),
    ("AU-01", "https://rest.au-01.braze.com"),
    ("ID-01", "https://rest.id-01.braze.com"),
    ("JP-01", "https://rest.jp-01.braze.com"),
    ("KR-01", "https://rest.kr-01.braze.com"),
]


@pytest.mark.parametrize(("name", "url"), INSTANCES, ids=[name for name, _ in INSTANCES])
@pytest.mark.parametrize(
    "spell", [str.upper, str.lower, lambda s: f"  {s.capitalize()} "], ids=["upper", "lower", "mixed"]
)
def test_instance_names(name, url, spell):
    assert resolve_rest_endpoint(spell(name)) == url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        pytest.param("rest.iad-01.braze.com", "https://rest.iad-01.braze.com", id="bare-host"),
        pytest.param(" rest.fra-01.braze.eu ", "https://rest.fra-01.braze.eu", id="bare-host-padded"),
        pytest.param("https://rest.iad-01.braze.com", "https://rest.iad-01.braze.com", id="https"),
        pytest.param("https://rest.iad-01.braze.com/", "https://rest.iad-01.braze.com", id="trailing-slash"),
        pytest.param("https://rest.au-01.braze.com:443", "https://rest.au-01.braze.com:443", id="port"),
        pytest.param("https://proxy.example.com/braze/", "https://proxy.example.com/braze", id="path-prefix"),
        pytest.param("http://127.0.0.1:8080", "http://127.0.0.1:8080", id="http-127.0.0.1"),
        pytest.param("http://127.0.0.1:8080/", "http://127.0.0.1:8080", id="http-127.0.0.1-slash"),
        pytest.param("http://127.8.9.10", "http://127.8.9.10", id="http-127/8"),
        pytest.param("http://localhost:5000", "http://localhost:5000", id="http-localhost"),
        pytest.param("http://LOCALHOST:5000", "http://LOCALHOST:5000", id="http-LOCALHOST"),
        pytest.param("http://[::1]:9000/", "http://[::1]:9000", id="http-ipv6-loopback"),
    ],
)
def test_urls(host, url):
    assert resolve_rest_endpoint(host) == url


@pytest.mark.parametrize(
    "host",
    [
        pytest.param(None, id="None"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="whitespace"),
        pytest.param("http://rest.iad-01.braze.com", id="http-braze"),
        pytest.param("http://10.0.0.5:8080", id="http-private-ip"),
        pytest.param("http://localhost.example.com", id="http-localhost-lookalike"),
        pytest.param("http://127.0.0.1.example.com", id="http-loopback-lookalike"),
        pytest.param("ftp://rest.iad-01.braze.com", id="ftp"),
        pytest.param("https://", id="no-host"),
        pytest.param("https://rest.iad-01.braze.com/?api_key=x", id="query"),
        pytest.param("https://rest.iad-01.braze.com#frag", id="fragment"),
    ],
)
def test_refused(host):
    with pytest.raises(BrazeConfigurationError):
        resolve_rest_endpoint(host)


def test_unknown_instance_name_is_refused():
    with pytest.raises(BrazeConfigurationError):
        resolve_rest_endpoint("US-09")


@pytest.mark.parametrize(
    ("kind", "paths", "owner"),
    [
        pytest.param(
            ScheduleKind.MESSAGE,
            ("/messages/schedule/create", "/messages/schedule/update", "/messages/schedule/delete"),
            None,
            id="message",
        ),
        pytest.param(
            ScheduleKind.CAMPAIGN,
            (
                "/campaigns/trigger/schedule/create",
                "/campaigns/trigger/schedule/update",
                "/campaigns/trigger/schedule/delete",
            ),
            "campaign_id",
            id="campaign",
        ),
        pytest.param(
            ScheduleKind.CANVAS,
            (
                "/canvas/trigger/schedule/create",
                "/canvas/trigger/schedule/update",
                "/canvas/trigger/schedule/delete",
            ),
            "canvas_id",
            id="canvas",
        ),
    ],
)
def test_endpoint_paths(kind, paths, owner):
    endpoints = ENDPOINTS[kind]
    assert (endpoints.create, endpoints.update, endpoints.delete) == paths
    assert endpoints.owner_field == owner


@pytest.mark.parametrize(
    ("action", "idempotent"),
    [
        (Action.CREATE, False),
        (Action.UPDATE, True),
        (Action.DELETE, True),
        (Action.LIST, True),
        (Action.CREATE_SEND_ID, False),  # Braze generates a new id (one of 100 a day) on every call
        (Action.CREATE_NAMED_SEND_ID, True),  # the caller's id: a resend names the same one
    ],
)
def test_each_action_knows_whether_it_may_be_resent(action, idempotent):
    assert action.idempotent is idempotent


def test_the_send_id_action_depends_on_whether_the_caller_names_the_id():
    assert Action.send_id_create(None) is Action.CREATE_SEND_ID
    assert Action.send_id_create("") is Action.CREATE_SEND_ID
    assert Action.send_id_create("spring-sale") is Action.CREATE_NAMED_SEND_ID
