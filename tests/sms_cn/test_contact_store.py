"""A contact's SMS provider override in the store, on both backends (migration 0011)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eldercare.domain import Home
from eldercare.provision import provision
from eldercare.store.base import Store, StoreError


async def test_a_contacts_provider_override_is_kept_changed_and_cleared(store: Store) -> None:
    await store.create_home(Home("h1", "Home", "", "Asia/Shanghai"))
    plain = await store.create_contact("h1", "Son", "+8613800000001", "zh-CN", 1)
    abroad = await store.create_contact("h1", "Daughter", "+14155550100", "en", 2, "twilio")
    assert plain.sms_provider is None
    assert (await store.get_contact(abroad.id)).sms_provider == "twilio"
    assert (await store.update_contact(plain.id, {"sms_provider": "aliyun"})).sms_provider == (
        "aliyun"
    )
    assert (await store.update_contact(abroad.id, {"sms_provider": None})).sms_provider is None
    listed = {c.name: c.sms_provider for c in await store.list_contacts("h1")}
    assert listed == {"Son": "aliyun", "Daughter": None}
    with pytest.raises(StoreError):  # the column's CHECK: only the known providers
        await store.update_contact(plain.id, {"sms_provider": "pigeon"})


async def test_provisioning_sets_a_contacts_provider(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "homes.toml"
    path.write_text(
        '[[homes]]\nid = "h7"\nname = "Chen home"\n\n'
        '[[contacts]]\nhome_id = "h7"\nname = "Chen Min"\nphone = "+14155550100"\n'
        'language = "en"\nsms_provider = "twilio"\n',
        "utf-8",
    )
    first = await provision(path, store, "Asia/Shanghai")
    again = await provision(path, store, "Asia/Shanghai")
    assert [c.sms_provider for c in await store.list_contacts("h7")] == ["twilio"]
    assert first.created == 2 and again.unchanged == 2
