"""Store contract for signing in (migration 0008), on SQLite and on TimescaleDB:
token versions, the stored signing key, and Twilio webhooks already handled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from eldercare.domain import Role, User
from eldercare.store import NotFound, Store

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


async def test_a_password_or_role_change_and_revoke_move_the_token_version_on(
    store: Store,
) -> None:
    ann = await store.create_user(User("ann", "hash-1", Role.OPERATOR))
    v = ann.token_version
    assert (await store.update_user("ann", {"phone": "+8613900000000"})).token_version == v
    assert (await store.update_user("ann", {"role": Role.OPERATOR})).token_version == v
    assert (await store.update_user("ann", {"password_hash": "hash-2"})).token_version == v + 1
    assert (await store.update_user("ann", {"role": Role.SUPERVISOR})).token_version == v + 2
    revoked = await store.revoke_tokens("ann")
    assert revoked.token_version == v + 3
    assert await store.get_user("ann") == revoked
    with pytest.raises(NotFound, match="nobody"):
        await store.revoke_tokens("nobody")


async def test_a_recreated_account_does_not_get_the_old_token_version(store: Store) -> None:
    versions = set()
    for _ in range(3):
        versions.add((await store.create_user(User("bob", "h", Role.OPERATOR))).token_version)
        await store.delete_user("bob")
    assert len(versions) == 3


async def test_the_first_stored_secret_is_kept(store: Store) -> None:
    made = await asyncio.gather(
        *(store.get_or_create_secret("jwt", f"candidate-{n}", T0) for n in range(5))
    )
    assert len(set(made)) == 1 and made[0].startswith("candidate-")
    assert await store.get_or_create_secret("jwt", "another", T0) == made[0]
    assert await store.get_or_create_secret("other", "x", T0) == "x"


async def test_a_webhook_is_claimed_once_and_a_released_one_again(store: Store) -> None:
    key = "sms_inbound:SM123"
    assert await store.claim_webhook(key, T0, keep_s=86400)
    assert not await store.claim_webhook(key, T0 + timedelta(seconds=5), keep_s=86400)
    assert await store.claim_webhook("sms_status:SM123:delivered", T0, keep_s=86400)
    await store.release_webhook(key)  # its handling failed: the retry is handled
    assert await store.claim_webhook(key, T0 + timedelta(seconds=6), keep_s=86400)
    # past keep_s a key is forgotten
    assert await store.claim_webhook(key, T0 + timedelta(days=2), keep_s=86400)


async def test_an_ended_session_is_known_until_its_tokens_expire(store: Store) -> None:
    await store.create_user(User("ann", "h", Role.OPERATOR))

    async def ended(sid: str) -> bool:
        return (await store.get_session_user("ann", sid))[1]

    assert not await ended("s1")
    await store.end_session("s1", "ann", T0, until=T0 + timedelta(hours=1))
    await store.end_session("s1", "ann", T0, until=T0 + timedelta(hours=1))  # twice: no error
    assert await ended("s1")
    assert not await ended("s2")
    await store.end_session("s2", "ann", T0 + timedelta(hours=2), until=T0 + timedelta(hours=3))
    assert not await ended("s1")  # its last token expired: forgotten
    assert await ended("s2")


async def test_the_account_of_a_session_and_whether_it_ended_in_one_call(store: Store) -> None:
    ann = await store.create_user(User("ann", "h", Role.OPERATOR))
    assert await store.get_session_user("ann", "s1") == (ann, False)
    await store.end_session("s1", "ann", T0, until=T0 + timedelta(hours=1))
    assert await store.get_session_user("ann", "s1") == (ann, True)
    assert await store.get_session_user("ann", "s2") == (ann, False)
    with pytest.raises(NotFound, match="bob"):
        await store.get_session_user("bob", "s1")
