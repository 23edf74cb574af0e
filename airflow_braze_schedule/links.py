"""Links from a Braze task to its campaign or Canvas in the Braze dashboard.

Kept small (the operators module imports it when a DAG file is parsed): the core, the XCom and the
connection are imported only when a link is asked for.

Each Braze instance has one dashboard host (braze-api.md §1.1), listed here beside the REST endpoints of
:data:`~airflow_braze_schedule.core.endpoints.INSTANCES`. Braze documents no deep-link format for its
dashboard; the paths below are the ones its dashboard shows for a campaign and a Canvas. A REST endpoint on
loopback (the fake Braze) is its own dashboard: the fake serves a page at those paths listing what it holds
for the campaign or Canvas, so the link works in tests and ``make demo``. Any other host (a proxy, say)
gets no link: there is no way to know which dashboard lies behind it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow.providers.common.compat.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator

#: Braze instance -> dashboard (braze-api.md §1.1, newest list; an older one gave US-10's as dashboard-10).
DASHBOARDS: dict[str, str] = {
    **{f"US-0{n}": f"https://dashboard-0{n}.braze.com" for n in range(1, 9)},
    "US-10": "https://dashboard.us-10.braze.com",
    "EU-01": "https://dashboard-01.braze.eu",
    "EU-02": "https://dashboard-02.braze.eu",
    "AU-01": "https://dashboard.au-01.braze.com",
    "ID-01": "https://dashboard.id-01.braze.com",
    "JP-01": "https://dashboard.jp-01.braze.com",
    "KR-01": "https://dashboard.kr-01.braze.com",
}
CAMPAIGN_PAGE = "/engagement/campaigns/{id}"
CANVAS_PAGE = "/engagement/canvas/{id}"


@functools.cache
def _dashboard_by_rest_host() -> dict[str | None, str]:
    # The core is imported here, not at module level: parsing a DAG file never needs it.
    from airflow_braze_schedule.core.endpoints import INSTANCES

    return {urlsplit(INSTANCES[name]).hostname: url for name, url in DASHBOARDS.items()}


def dashboard_for(rest_endpoint: str) -> str | None:
    """The dashboard of the instance whose REST endpoint (as resolved) is ``rest_endpoint``, if known."""
    from airflow_braze_schedule.core.endpoints import is_loopback_host

    parts = urlsplit(rest_endpoint)
    host = (parts.hostname or "").lower()
    dashboards = _dashboard_by_rest_host()
    if host in dashboards:
        return dashboards[host]
    if is_loopback_host(host):
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return None


def dashboard_link(rest_endpoint: str, handle: dict[str, Any]) -> str | None:
    """The dashboard page of a handle's campaign or Canvas, for a connection's REST endpoint, or None."""
    return dashboard_page(dashboard_for(rest_endpoint), handle)


def dashboard_page(dashboard: str | None, handle: dict[str, Any] | None) -> str | None:
    """The page of a handle's campaign or Canvas on a dashboard, or None.

    A campaign schedule links to its campaign, a Canvas schedule to its Canvas, a message schedule to the
    campaign it is attributed to; a message schedule attributed to none, or a dry run (nothing exists in
    Braze), has no link. The task's extra link and the schedules page both ask here.
    """
    if dashboard is None or not handle or handle.get("dry_run") is True:
        return None
    kind, campaign_id, canvas_id = handle.get("kind"), handle.get("campaign_id"), handle.get("canvas_id")
    if kind == "canvas" and isinstance(canvas_id, str) and canvas_id:
        return dashboard + CANVAS_PAGE.format(id=quote(canvas_id, safe=""))
    if kind in ("campaign", "message") and isinstance(campaign_id, str) and campaign_id:
        return dashboard + CAMPAIGN_PAGE.format(id=quote(campaign_id, safe=""))
    return None


class BrazeDashboardLink(BaseOperatorLink):
    """ "Braze dashboard": the campaign or Canvas of the schedule a task created, updated or cancelled."""

    name = "Braze dashboard"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        from airflow.providers.common.compat.sdk import BaseHook, XCom

        from airflow_braze_schedule.core.endpoints import resolve_rest_endpoint
        from airflow_braze_schedule.core.errors import BrazeError

        handle = XCom.get_value(ti_key=ti_key, key="return_value")
        if not isinstance(handle, dict):
            return ""  # the task has not (successfully) returned a handle
        conn_id = getattr(operator, "braze_conn_id", None) or "braze_default"
        try:
            rest_endpoint = resolve_rest_endpoint(BaseHook.get_connection(conn_id).host)
        except BrazeError:
            return ""
        return dashboard_link(rest_endpoint, handle) or ""
