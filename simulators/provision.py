"""Provisions demo homes through the REST API, as a care centre's operator would."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import httpx

from simulators.home import DemoHome

log = logging.getLogger("eldercare.sim")


class ProvisionError(RuntimeError):
    pass


async def get_token(client: httpx.AsyncClient, username: str, password: str) -> str:
    resp = await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    if resp.status_code != 200:
        raise ProvisionError(f"login as {username} failed: {resp.status_code} {resp.text}")
    token: str = resp.json()["access_token"]
    return token


async def _create(client: httpx.AsyncClient, path: str, doc: dict[str, object]) -> bool:
    """POST a registry row; True if made, False if it existed already."""
    resp = await client.post(path, json=doc)
    if resp.status_code in (200, 201):
        return True
    if resp.status_code == 409:
        return False
    raise ProvisionError(f"POST {path} {doc.get('id', '')}: {resp.status_code} {resp.text}")


async def provision_homes(
    api_url: str, username: str, password: str, homes: Iterable[DemoHome]
) -> list[str]:
    """Create each home with its resident, six devices and a contact; skip what exists.

    Returns the ids of the homes that were newly made."""
    made: list[str] = []
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        token = await get_token(client, username, password)
        client.headers["Authorization"] = f"Bearer {token}"
        for home in homes:
            new_home = await _create(client, "/api/v1/homes", home.home_doc())
            await _create(client, "/api/v1/residents", home.resident_doc())
            for doc in home.device_docs():
                await _create(client, "/api/v1/devices", doc)
            if new_home:
                await _create(client, "/api/v1/contacts", home.contact_doc())
                made.append(home.home_id)
            log.info("home %s provisioned", home.home_id, extra={"home_id": home.home_id})
    return made
