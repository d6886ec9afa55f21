"""PostgreSQL: single-statement reads and writes on the alert path run in
autocommit (one round trip instead of three), and their connection goes back to
the pool transactional, so a later multi-statement change stays atomic."""

from __future__ import annotations

import pytest

from eldercare.domain import Home
from eldercare.store import NotFound
from eldercare.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres


async def test_an_autocommit_read_leaves_the_pooled_connection_transactional(
    pg_url: str,
) -> None:
    store = await PostgresStore.open(pg_url, max_size=1)  # every call shares one connection
    try:
        await store.migrate()
        await store.create_home(Home("h1", "Home"))
        assert (await store.get_home("h1")).name == "Home"  # autocommit
        with pytest.raises(NotFound):
            await store.get_home("nope")  # autocommit, failing
        async with store._tx() as conn:
            await conn.execute("UPDATE homes SET name = 'changed' WHERE id = 'h1'")
            assert not conn.autocommit
            await conn.rollback()  # possible only inside a transaction
        assert (await store.get_home("h1")).name == "Home"
    finally:
        await store.close()
