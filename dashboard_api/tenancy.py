"""Tenancy: which care centre's rows a request may see (Issue 20 item 6).

Every account belongs to one organisation (a care centre) and every store read
of the API passes ``scope(user)``: a row of another organisation is NotFound
with the same message as a missing one, so the API says nothing of another
centre, not even that an id exists there (404 for a path, 422 for a body that
names it). A platform admin (an admin account with no organisation) manages
the organisations and is not scoped.

Ids of homes, residents, devices and accounts are unique in the installation,
so creating one whose id another centre took is a 409: that says the id is
taken, nothing else.
"""

from __future__ import annotations

from fastapi import HTTPException

from eldercare.domain import DEFAULT_ORGANISATION, User
from eldercare.store.base import NotFound, Store


def scope(user: User) -> str | None:
    """The organisation the user's reads are limited to (None: a platform admin)."""
    return user.organisation_id


def _no_such(organisation_id: str) -> HTTPException:
    return HTTPException(422, f"organisation_id: no organisation {organisation_id!r}")


async def home_organisation(store: Store, user: User, named: str | None) -> str:
    """The organisation a new home goes into: the user's own; a platform admin
    names one (default: the default organisation)."""
    own = scope(user)
    if own is not None:
        if named is not None and named != own:
            raise _no_such(named)
        return own
    chosen = named or DEFAULT_ORGANISATION
    await _existing(store, chosen)
    return chosen


async def account_organisation(store: Store, user: User, named: str | None) -> str | None:
    """The organisation a new account goes into: the creating admin's own; a
    platform admin names one, or none (another platform admin)."""
    own = scope(user)
    if own is not None:
        if named is not None and named != own:
            raise _no_such(named)
        return own
    if named is not None:
        await _existing(store, named)
    return named


async def _existing(store: Store, organisation_id: str) -> None:
    try:
        await store.get_organisation(organisation_id)
    except NotFound as exc:
        raise _no_such(organisation_id) from exc
