"""The Airflow connection as BrazeHook reads it: REST endpoint resolution, refused configurations (before
any request), extras, ``test_connection()``, and the connection form metadata."""

from __future__ import annotations

import pytest
from hook_support import FUTURE, assert_no_secret, closed_loopback_port, set_connection

from airflow_braze_schedule.core.errors import BrazeConfigurationError
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.get_provider_info import get_provider_info
from airflow_braze_schedule.hooks.braze import BrazeHook
from airflow_braze_schedule.testing import Status
from tests.forward_proxy import ForwardProxy

KEY = "s3cr3t-rest-api-key-0123456789"


# --- where requests go ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("US-01", "https://rest.iad-01.braze.com"),
        ("us-01", "https://rest.iad-01.braze.com"),
        ("EU-01", "https://rest.fra-01.braze.eu"),
        ("US-10", "https://rest.us-10.braze.com"),
        ("https://rest.iad-05.braze.com/", "https://rest.iad-05.braze.com"),
        ("rest.fra-02.braze.eu", "https://rest.fra-02.braze.eu"),
        ("https://braze-proxy.example.com/braze/", "https://braze-proxy.example.com/braze"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:9", "http://127.0.0.1:9"),
        ("http://[::1]:9", "http://[::1]:9"),
    ],
)
def test_rest_endpoint_resolution_needs_no_request(fake_braze, monkeypatch, host, base_url):
    set_connection(monkeypatch, "braze_resolve", host=host, password=KEY)

    hook = BrazeHook(braze_conn_id="braze_resolve")

    assert hook.settings.base_url == base_url
    assert hook.settings.api_key == KEY
    assert fake_braze.received == []


def test_full_url_of_the_fake_over_http_loopback_is_used(fake_braze, make_hook):
    hook = make_hook()

    assert hook.settings.base_url == fake_braze.url
    assert hook.get_scheduled_broadcasts(FUTURE) == []
    assert [r.path for r in fake_braze.received] == ["/messages/scheduled_broadcasts"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"host": "http://rest.iad-01.braze.com", "password": KEY}, "plain http", id="http-remote"
        ),
        pytest.param({"host": "http://10.0.0.5:8080", "password": KEY}, "plain http", id="http-private-ip"),
        pytest.param({"host": "", "password": KEY}, "no REST endpoint", id="empty-host"),
        pytest.param({"host": "   ", "password": KEY}, "no REST endpoint", id="blank-host"),
        pytest.param({"password": KEY}, "no REST endpoint", id="no-host"),
        pytest.param({"host": "ftp://rest.iad-01.braze.com", "password": KEY}, "not an https URL", id="ftp"),
        pytest.param({"host": "https://rest.iad-01.braze.com?x=1", "password": KEY}, "query", id="query"),
        pytest.param({"host": "US-01"}, "no REST API key", id="no-password"),
        pytest.param({"host": "US-01", "password": "  "}, "no REST API key", id="blank-password"),
        pytest.param({"host": "US-01", "password": f'"{KEY}"'}, "quotes", id="double-quoted-key"),
        pytest.param({"host": "US-01", "password": f"'{KEY}'"}, "quotes", id="single-quoted-key"),
        pytest.param({"host": "US-01", "password": f"{KEY}'"}, "quotes", id="trailing-quote"),
        pytest.param(
            {"host": "US-01", "password": KEY, "extra": {"timeout": "soon"}}, "timeout", id="bad-timeout"
        ),
        pytest.param(
            {"host": "US-01", "password": KEY, "extra": {"timeout": 0}}, "positive", id="zero-timeout"
        ),
    ],
)
def test_unusable_connection_is_refused_before_any_request(fake_braze, monkeypatch, fields, expected):
    set_connection(monkeypatch, "braze_bad", **fields)
    hook = BrazeHook(braze_conn_id="braze_bad", sleep=pytest.fail)

    with pytest.raises(BrazeConfigurationError, match=expected) as info:
        hook.schedule_message(schedule={"time": FUTURE}, broadcast=True, segment_id="seg-1")

    assert fake_braze.received == []
    assert_no_secret(info.value, KEY)


def test_http_to_the_fake_under_another_name_than_loopback_is_refused(fake_braze, monkeypatch):
    port = fake_braze.url.rsplit(":", 1)[1]
    set_connection(monkeypatch, "braze_lan", host=f"http://braze-fake.internal:{port}", password=KEY)

    with pytest.raises(BrazeConfigurationError) as info:
        BrazeHook(braze_conn_id="braze_lan").get_scheduled_broadcasts(FUTURE)

    assert "unencrypted" in str(info.value)
    assert_no_secret(info.value, KEY)
    assert fake_braze.received == []


def test_key_is_stripped_of_surrounding_whitespace(fake_braze, monkeypatch, make_hook):
    set_connection(monkeypatch, "braze_ws", host=fake_braze.url, password=f"  {fake_braze.api_key}\n")

    make_hook("braze_ws").get_scheduled_broadcasts(FUTURE)

    assert fake_braze.received[0].headers["authorization"] == f"Bearer {fake_braze.api_key}"
    assert fake_braze.received[0].status == 200


def test_key_with_an_inner_newline_is_refused_without_showing_it(fake_braze, monkeypatch):
    key = "first-half-of-key\nsecond-half-of-key"
    set_connection(monkeypatch, "braze_newline", host=fake_braze.url, password=key)

    with pytest.raises(BrazeConfigurationError) as info:
        BrazeHook(braze_conn_id="braze_newline").get_scheduled_broadcasts(FUTURE)

    assert_no_secret(info.value, "first-half-of-key", "second-half-of-key")
    assert fake_braze.received == []


def test_test_connection_with_a_newline_in_the_key_does_not_show_it(fake_braze, monkeypatch):
    set_connection(monkeypatch, "braze_newline", host=fake_braze.url, password="first-half\nsecond-half")

    ok, message = BrazeHook(braze_conn_id="braze_newline").test_connection()

    assert ok is False
    assert "first-half" not in message
    assert "second-half" not in message


# --- extras ------------------------------------------------------------------------------------------------


def test_timeout_and_ca_bundle_extras(fake_braze, monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    set_connection(
        monkeypatch,
        "braze_extras",
        host="US-01",
        password=KEY,
        extra={"timeout": "12.5", "ca_bundle": str(bundle)},
    )

    hook = BrazeHook(braze_conn_id="braze_extras")

    assert hook.settings.timeout == 12.5
    assert hook.session.verify == str(bundle)
    assert hook.session.trust_env is False


def test_older_form_extras_and_the_timeout_argument(monkeypatch):
    set_connection(monkeypatch, "braze_old", host="US-01", password=KEY, extra={"extra__braze__timeout": 7})

    assert BrazeHook(braze_conn_id="braze_old").settings.timeout == 7.0
    assert BrazeHook(braze_conn_id="braze_old", timeout=2).settings.timeout == 2
    set_connection(monkeypatch, "braze_plain", host="US-01", password=KEY)
    plain = BrazeHook(braze_conn_id="braze_plain")
    assert plain.settings.timeout == 30.0
    assert plain.session.verify is True


# --- secrets in reprs -------------------------------------------------------------------------------------


def test_repr_of_hook_and_settings_hide_the_key(fake_braze, make_hook):
    hook = make_hook()
    hook.get_scheduled_broadcasts(FUTURE)  # settings and session are built

    assert fake_braze.api_key not in repr(hook)
    assert fake_braze.api_key not in str(hook)
    assert fake_braze.api_key not in repr(hook.settings)
    assert "braze_default" in repr(hook)


# --- test_connection() -------------------------------------------------------------------------------------


def test_test_connection_succeeds(fake_braze, make_hook):
    ok, message = make_hook().test_connection()

    assert ok is True
    assert fake_braze.url in message
    [request] = fake_braze.received
    assert (request.method, request.path, request.status) == ("GET", "/messages/scheduled_broadcasts", 200)
    assert "end_time" in request.query


def test_test_connection_with_a_wrong_key(fake_braze, monkeypatch, make_hook):
    set_connection(monkeypatch, "braze_wrong", host=fake_braze.url, password="not-the-right-key-42")

    ok, message = make_hook("braze_wrong").test_connection()

    assert ok is False
    assert "401" in message
    assert "key" in message.lower()
    assert "not-the-right-key-42" not in message
    assert len(fake_braze.received) == 1


def test_test_connection_without_the_broadcasts_permission(fake_braze, make_hook):
    fake_braze.set_permissions({"messages.schedule.create", "messages.schedule.update"})

    ok, message = make_hook().test_connection()

    assert ok is False
    assert "messages.schedule_broadcasts" in message
    assert "403" in message
    assert [r.status for r in fake_braze.received] == [403]


def test_test_connection_to_a_closed_port(fake_braze, monkeypatch, make_hook, recorded_sleeps):
    url = f"http://127.0.0.1:{closed_loopback_port()}"
    set_connection(monkeypatch, "braze_closed", host=url, password=KEY)

    ok, message = make_hook("braze_closed").test_connection()

    assert ok is False
    assert "Could not reach Braze" in message
    assert url in message
    assert recorded_sleeps == []  # one try, no retries
    assert KEY not in message


def test_test_connection_makes_one_request_and_restores_the_retry_policy(
    fake_braze, make_hook, recorded_sleeps
):
    policy = RetryPolicy(max_attempts=4)
    hook = make_hook(retry_policy=policy)
    fake_braze.inject(Status(503), times=3)

    ok, message = hook.test_connection()

    assert ok is False
    assert "503" in message
    assert len(fake_braze.received) == 1
    assert recorded_sleeps == []
    assert hook.retry_policy is policy


def test_test_connection_reports_a_bad_connection_without_raising(fake_braze, monkeypatch, make_hook):
    set_connection(monkeypatch, "braze_nohost", host="", password=KEY)

    ok, message = make_hook("braze_nohost").test_connection()

    assert ok is False
    assert "REST endpoint" in message
    assert KEY not in message
    assert fake_braze.received == []


# --- Airflow's connection form -----------------------------------------------------------------------------


def test_ui_field_behaviour_matches_provider_info():
    [connection_type] = get_provider_info()["connection-types"]
    behaviour = BrazeHook.get_ui_field_behaviour()
    declared = connection_type["ui-field-behaviour"]

    assert behaviour == {
        "hidden_fields": declared["hidden-fields"],
        "relabeling": declared["relabeling"],
        "placeholders": declared["placeholders"],
    }
    assert connection_type["hook-class-name"] == f"{BrazeHook.__module__}.{BrazeHook.__qualname__}"
    assert connection_type["connection-type"] == BrazeHook.conn_type == "braze"
    assert connection_type["hook-name"] == BrazeHook.hook_name
    assert {"host", "password"} <= set(behaviour["relabeling"])
    assert "password" not in behaviour["hidden_fields"]
    assert "host" not in behaviour["hidden_fields"]
    assert {"timeout", "ca_bundle", "proxy"} <= set(
        connection_type["conn-fields"]
    )  # the extras the hook reads
    assert BrazeHook.default_conn_name == "braze_default"
    assert BrazeHook.conn_name_attr == "braze_conn_id"


# --- the proxy extra --------------------------------------------------------------------------------------


def test_the_proxy_extra_sends_every_request_through_the_proxy(fake_braze, monkeypatch, make_hook):
    with ForwardProxy() as proxy:
        set_connection(
            monkeypatch,
            "braze_proxied",
            host=fake_braze.url,
            password=fake_braze.api_key,
            extra={"proxy": proxy.url},
        )
        hook = make_hook("braze_proxied")
        answer = hook.schedule_campaign("campaign-1", schedule={"time": FUTURE}, broadcast=True)
        ok, message = hook.test_connection()

        through = proxy.received
    assert ok, message
    assert [(r.method, r.status) for r in through] == [("POST", 200), ("GET", 200)]
    assert through[0].url == fake_braze.url + "/campaigns/trigger/schedule/create"
    assert [r.path for r in fake_braze.received] == [
        "/campaigns/trigger/schedule/create",
        "/messages/scheduled_broadcasts",
    ]
    assert fake_braze.schedules[answer["schedule_id"]].campaign_id == "campaign-1"
    assert hook.settings.proxy == proxy.url
    assert hook.session.trust_env is False


def test_the_proxy_password_is_masked_and_never_shown(fake_braze, monkeypatch, make_hook):
    from airflow.providers.common.compat.sdk import redact

    password = "pr0xy-pa55word-4711"
    with ForwardProxy(credentials=("svc-airflow", password)) as proxy:
        url = f"http://svc-airflow:{password}@{proxy.url.removeprefix('http://')}"
        set_connection(
            monkeypatch,
            "braze_proxy_login",
            host=fake_braze.url,
            password=fake_braze.api_key,
            extra={"proxy": url},
        )
        hook = make_hook("braze_proxy_login")
        hook.get_scheduled_broadcasts(FUTURE)

        [through] = proxy.received
    assert through.status == 200  # the proxy accepted the login
    assert password not in str(redact(f"proxy is {url}"))  # registered with Airflow's secrets masker
    for text in (repr(hook), repr(hook.settings), repr(hook.client), str(hook.settings)):
        assert password not in text


@pytest.mark.parametrize("proxy", ["proxy.corp:3128", "socks5://proxy.corp:1080"])
def test_a_proxy_that_is_not_an_http_url_is_refused_before_any_request(fake_braze, monkeypatch, proxy):
    set_connection(monkeypatch, "braze_bad_proxy", host=fake_braze.url, password=KEY, extra={"proxy": proxy})

    with pytest.raises(BrazeConfigurationError, match="proxy"):
        BrazeHook(braze_conn_id="braze_bad_proxy").get_scheduled_broadcasts(FUTURE)

    assert fake_braze.received == []
