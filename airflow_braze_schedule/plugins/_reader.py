"""A read-only registry for the schedules page and the CLI: a stand-in until the registry package has one.

The registry engineer is adding ``open_registry_reader`` to :mod:`airflow_braze_schedule.registry` with
this very signature; once it lands, the plugin and the CLI swap this import for that one and this module
goes. Until then it reads:

* the SQL registry (``registry_conn_id``) through its own tables, answering a page with one ``COUNT`` and
  one ``LIMIT``/``OFFSET`` select on the indexed columns (``state``, ``send_first``, ``send_last``), and
  never creating a table (a reader writes nothing);
* on Airflow 3.3+, the asset store of ``braze://<conn_id>/schedules`` straight from the metadata database,
  one ``SELECT`` per page where no state or time is asked for; with those, it reads the scope's entries and
  filters them here (the registry's own reader is to make that fast too).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from airflow_braze_schedule.core.registry_model import PRESUMED_SENT, SCHEDULED, UPDATED, utc_now
from airflow_braze_schedule.registry import (
    DEFAULT_TABLE,
    RegistryQuery,
    RegistryUnavailableError,
    ScheduleRegistry,
    open_registry,
    schedules_asset_uri,
)
from airflow_braze_schedule.registry.sql import SqlBackend

_ENTRY = "entry:"


def _stamp(moment: datetime) -> str:
    # The SQL registry keeps instants as isoformat(timespec="seconds") in UTC: text that sorts as time.
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class SqlReaderBackend(SqlBackend):
    """The SQL registry, read only, with a paged query done by the database."""

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self.hook.get_conn()  # no DDL: a reader must not create the tables
        return self._conn

    def query(self, query: RegistryQuery, now: datetime | None) -> tuple[int, list[dict[str, Any]]]:
        mark = self.mark
        where = [f"workspace = {mark}", f"SUBSTR(schedule_key, 1, {len(query.prefix)}) = {mark}"]
        params: list[Any] = [self.workspace, query.prefix]
        now_text = _stamp(now or utc_now())
        if query.state == PRESUMED_SENT:
            where.append(
                f"state IN ('{SCHEDULED}', '{UPDATED}') AND send_last IS NOT NULL AND send_last <= {mark}"
            )
            params.append(now_text)
        elif query.state in (SCHEDULED, UPDATED):
            where.append(f"state = {mark} AND (send_last IS NULL OR send_last > {mark})")
            params += [query.state, now_text]
        elif query.state is not None:
            where.append(f"state = {mark}")
            params.append(query.state)
        if query.send_after is not None:
            where.append(f"send_first >= {mark}")
            params.append(_stamp(query.send_after))
        if query.send_before is not None:
            where.append(f"send_first < {mark}")
            params.append(_stamp(query.send_before))
        condition = " AND ".join(where)
        cursor = self.conn.cursor()
        try:
            cursor.execute(f"SELECT COUNT(*) FROM {self.table} WHERE {condition}", tuple(params))
            total = int(cursor.fetchone()[0])
            cursor.execute(
                f"SELECT entry FROM {self.table} WHERE {condition} ORDER BY schedule_key "
                f"LIMIT {int(query.limit)} OFFSET {int(query.offset)}",
                tuple(params),
            )
            rows = cursor.fetchall()
        except Exception as error:
            self.conn.rollback()
            raise RegistryUnavailableError(
                f"The registry {self.description} cannot be read ({type(error).__name__}: {error}); "
                "it is created by the first keyed task that uses it"
            ) from None
        self.conn.commit()  # end the read transaction
        return total, [json.loads(entry) for (entry,) in rows]


class MetadataAssetStoreBackend:
    """The asset store of a Braze connection's schedules asset, read from the metadata database.

    Every ``entry:<key>`` row is listed, not only those in the store's key index: a reader may as well
    show an entry whose index write was lost (see :mod:`airflow_braze_schedule.registry.asset_store`).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.description = f"the asset_state_store of {uri}"

    def _select(self, session: Any, *columns: Any) -> Any:
        """A select of ``columns`` of this asset's store rows (the asset's id looked up first, so that
        every query runs on the store's primary key, ``(asset_id, key)``, alone)."""
        from airflow.models.asset import AssetModel
        from airflow.models.asset_state_store import AssetStateStoreModel
        from sqlalchemy import select

        asset_id = session.scalar(select(AssetModel.id).where(AssetModel.uri == self.uri).limit(1))
        return (
            select(*columns)
            .select_from(AssetStateStoreModel)
            .where(AssetStateStoreModel.asset_id == asset_id)
        )

    def _in_scope(self, prefix: str) -> Any:
        from airflow.models.asset_state_store import AssetStateStoreModel
        from sqlalchemy import func

        # SUBSTR rather than LIKE: a prefix with % or _ in it needs no escaping.
        stored = _ENTRY + prefix
        return func.substr(AssetStateStoreModel.key, 1, len(stored)) == stored

    def load(self, schedule_key: str) -> dict[str, Any] | None:
        from airflow.models.asset_state_store import AssetStateStoreModel
        from airflow.utils.session import create_session

        with create_session() as session:
            value = session.scalar(
                self._select(session, AssetStateStoreModel.value).where(
                    AssetStateStoreModel.key == _ENTRY + schedule_key
                )
            )
        found = json.loads(value) if value is not None else None
        return found if isinstance(found, dict) else None

    def save(self, entry: dict[str, Any]) -> None:
        raise RegistryUnavailableError("the schedules page and CLI read the registry; they never write it")

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]:
        from airflow.models.asset_state_store import AssetStateStoreModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.execute(
                self._select(session, AssetStateStoreModel.key, AssetStateStoreModel.value).where(
                    self._in_scope(prefix)
                )
            ).all()
        return {key.removeprefix(_ENTRY): json.loads(value) for key, value in rows}

    def query(self, query: RegistryQuery, now: datetime | None) -> tuple[int, list[dict[str, Any]]]:
        from airflow.models.asset_state_store import AssetStateStoreModel
        from airflow.utils.session import create_session
        from sqlalchemy import func

        from airflow_braze_schedule.core.registry_model import RegistryEntry

        if query.state is None and query.send_after is None and query.send_before is None:
            with create_session() as session:
                in_scope = self._select(session, AssetStateStoreModel.key).where(self._in_scope(query.prefix))
                total = session.scalar(in_scope.with_only_columns(func.count())) or 0
                # The page's keys first (the primary key's index alone), then only their values: an
                # offset deep in the store then skips keys, not whole entries.
                keys = session.scalars(
                    in_scope.order_by(AssetStateStoreModel.key).limit(query.limit).offset(query.offset)
                ).all()
                values = dict(
                    session.execute(
                        self._select(session, AssetStateStoreModel.key, AssetStateStoreModel.value).where(
                            AssetStateStoreModel.key.in_(keys)
                        )
                    ).all()
                )
            return int(total), [json.loads(values[key]) for key in keys if key in values]
        scope = self.load_scope(query.prefix)
        matched = [
            scope[key] for key in sorted(scope) if query.matches(RegistryEntry.from_json(scope[key]), now)
        ]
        return len(matched), matched[query.offset : query.offset + query.limit]


def _has_asset_state_store() -> bool:
    try:
        import airflow.models.asset_state_store  # noqa: F401
    except ImportError:
        return False
    return True


def open_registry_reader(
    braze_conn_id: str = "braze_default",
    *,
    registry_conn_id: str | None = None,
    registry_table: str = DEFAULT_TABLE,
) -> ScheduleRegistry:
    """The registry of ``braze_conn_id``'s keyed schedules, to read from outside a task.

    :param registry_conn_id: the Airflow SQL connection the registry is kept in; without it, the asset
        store (Airflow 3.3+).
    :raises RegistryUnavailableError: saying what to set up.
    """
    if registry_conn_id:
        sql = open_registry(
            braze_conn_id=braze_conn_id, registry_conn_id=registry_conn_id, registry_table=registry_table
        )
        hook = getattr(sql.backend, "hook")  # noqa: B009  (the SQL backend's; the protocol has none)
        reader = SqlReaderBackend(hook, workspace=braze_conn_id, table=registry_table)
        return ScheduleRegistry(reader, workspace=braze_conn_id)
    if not _has_asset_state_store():
        raise RegistryUnavailableError(
            "This Airflow has no asset_state_store (it came in 3.3), so the registry is a SQL table: give "
            "registry_conn_id (the plugin: [braze_schedule] registry_conn_id; the CLI: --registry-conn-id)"
        )
    uri = schedules_asset_uri(braze_conn_id)
    return ScheduleRegistry(MetadataAssetStoreBackend(uri), workspace=braze_conn_id)
