"""SQLite: the monthly report's people and the home tiles' liveness."""

from __future__ import annotations

from datetime import datetime

from eldercare.domain import DeviceLiveness
from eldercare.store._reports_sql import (
    LIVENESS_IN_ORGANISATION_SQL,
    LIVENESS_SQL,
    RESPONSE_PEOPLE_IN_ORGANISATION_SQL,
    RESPONSE_PEOPLE_SQL,
    ResponsePeople,
)
from eldercare.store._sqlite_base import SQLiteBase, _liveness, _ts


class SQLiteReports(SQLiteBase):
    async def list_response_people(
        self, since: datetime, until: datetime, organisation_id: str | None = None
    ) -> list[ResponsePeople]:
        query = (
            RESPONSE_PEOPLE_SQL if organisation_id is None else RESPONSE_PEOPLE_IN_ORGANISATION_SQL
        )
        params = (_ts(since), _ts(until), *([] if organisation_id is None else [organisation_id]))
        rows = await self._run(lambda: self._conn.execute(query, params).fetchall())
        return [ResponsePeople(r["id"], r["home_id"], r["acknowledged_by"]) for r in rows]

    async def list_all_liveness(self, organisation_id: str | None = None) -> list[DeviceLiveness]:
        query = LIVENESS_SQL if organisation_id is None else LIVENESS_IN_ORGANISATION_SQL
        params = () if organisation_id is None else (organisation_id,)
        rows = await self._run(lambda: self._conn.execute(query, params).fetchall())
        return [_liveness(r) for r in rows]
