"""``eldercare provision FILE``: bulk import from CSV or TOML, all or nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from eldercare.cli import main
from eldercare.provision import ProvisionError, provision
from eldercare.store import Store, open_store

TOML = """\
[[homes]]
id = "h2"
name = "Zhang home"
address = "2 River Rd"
timezone = "Asia/Shanghai"

[[residents]]
id = "h2-r1"
home_id = "h2"
name = "Zhang Wei"
limits = { hr_low = 45, hr_high = 115 }

[[devices]]
id = "h2-bed"
home_id = "h2"
kind = "bed_band"
resident_id = "h2-r1"
location = "bedroom"

[[devices]]
id = "h2-sos"
home_id = "h2"
kind = "sos_button"

[[contacts]]
home_id = "h2"
name = "Zhang Min"
phone = "+8613800000002"
language = "zh-CN"
priority = 1
"""

CSV_BAD = """\
type,id,home_id,name,timezone,kind,resident_id,phone,limits
home,h3,,Li home,Mars/Olympus,,,,
resident,h3-r1,h3,Li Na,,,,,hr_low=40;hr_high=120
device,h3-bed,h3,,,bed_band,,,
device,h3-tv,h3,,,television,,,
contact,,h3,Li Lei,,,,13800000000,
device,h3-sos,h9,,,sos_button,,,
"""


async def test_a_toml_file_provisions_everything_and_again_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "homes.toml"
    path.write_text(TOML)
    result = await provision(path, store, "Asia/Shanghai")
    assert (result.created, result.updated, result.unchanged) == (5, 0, 0)
    resident = await store.get_resident("h2-r1")
    assert resident.limits == {"hr_low": 45, "hr_high": 115}  # passed through
    assert (await store.get_device("h2-bed")).resident_id == "h2-r1"
    (contact,) = await store.list_contacts("h2")
    assert contact.phone == "+8613800000002"
    again = await provision(path, store, "Asia/Shanghai")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    path.write_text(TOML.replace('location = "bedroom"', 'location = "guest room"'))
    changed = await provision(path, store, "Asia/Shanghai")
    assert (changed.created, changed.updated) == (0, 1)
    assert (await store.get_device("h2-bed")).location == "guest room"


async def test_errors_name_line_and_field_and_nothing_is_applied(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(CSV_BAD)
    with pytest.raises(ProvisionError) as caught:
        await provision(path, store, "Asia/Shanghai")
    text = str(caught.value)
    found = {(p.line, p.field) for p in caught.value.problems}
    assert (2, "timezone") in found, text  # not an IANA zone
    assert (4, "resident_id") in found, text  # a bed band needs a resident
    assert (5, "kind") in found, text  # not a device kind
    assert (6, "phone") in found, text  # not E.164
    assert (7, "home_id") in found, text  # no such home
    assert "line 2: home h3: timezone:" in text
    assert "nothing was changed" in text
    assert [h.id for h in await store.list_homes()] == ["h1"]  # the valid rows were not applied
    assert await store.list_residents() == []


async def test_toml_errors_point_at_the_field_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TOML.replace('phone = "+8613800000002"', 'phone = "0571-1234"'))
    with pytest.raises(ProvisionError) as caught:
        await provision(path, store, "Asia/Shanghai")
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (
        TOML.splitlines().index('phone = "+8613800000002"') + 1,
        "phone",
    )


def test_the_command_reports_and_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    good, bad = tmp_path / "good.toml", tmp_path / "bad.csv"
    good.write_text(TOML)
    bad.write_text(CSV_BAD)
    assert main(["provision", str(bad)]) == 1
    assert "line 4: device h3-bed: resident_id:" in capsys.readouterr().err
    assert main(["provision", "--dry-run", str(good)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert main(["provision", str(good)]) == 0
    assert "5 created, 0 updated, 0 unchanged" in capsys.readouterr().out


SOURCES_TOML = """\
[[homes]]
id = "h5"
name = "Zhou home"

[[devices]]
id = "h5-sos"
home_id = "h5"
kind = "sos_button"
source = { type = "zigbee2mqtt", topic = "zigbee2mqtt/h5_sos" }

[[devices]]
id = "h5-fall"
home_id = "h5"
kind = "fall_radar"
source = { type = "esphome", node = "h5-mr60fda2" }
"""

SOURCES_CSV = """\
type,id,home_id,name,kind,source
home,h6,,Sun home,,
device,h6-water,h6,,water,type=shelly;id=shellyflood-A1B2C3
device,h6-door,h6,,door,type=tasmota;topic=tele/zbbridge/SENSOR;device=0x1234
device,h6-sos,h6,,sos_button,type=esphome;node=h6-sos;objects.red_button=action
device,h6-gas,h6,,gas,type=esphome;node=h6-gas;objects.gas_sensor=hr
"""


async def test_device_sources_from_toml_and_csv(store: Store, tmp_path: Path) -> None:
    toml = tmp_path / "sources.toml"
    toml.write_text(SOURCES_TOML)
    await provision(toml, store, "Asia/Shanghai")
    assert (await store.get_device("h5-fall")).source == {
        "type": "esphome",
        "node": "h5-mr60fda2",
    }
    again = await provision(toml, store, "Asia/Shanghai")
    assert again.unchanged == 3
    csv_path = tmp_path / "sources.csv"
    csv_path.write_text(SOURCES_CSV)
    with pytest.raises(ProvisionError) as info:
        await provision(csv_path, store, "Asia/Shanghai")
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (6, "source")
    assert "objects.gas_sensor: 'hr' is not a field of a gas" in problem.message
    csv_path.write_text(SOURCES_CSV.replace("objects.gas_sensor=hr", "objects.gas_sensor=alarm"))
    await provision(csv_path, store, "Asia/Shanghai")
    assert (await store.get_device("h6-door")).source == {
        "type": "tasmota",
        "topic": "tele/zbbridge/SENSOR",
        "device": "0x1234",
    }
    assert (await store.get_device("h6-sos")).source == {
        "type": "esphome",
        "node": "h6-sos",
        "objects": {"red_button": "action"},
    }


ORGANISATIONS_CSV = """\
type,id,home_id,name,organisation_id
home,h8,,Wu home,bee
home,h9,,Ma home,
resident,h9-r1,h9,Ma Li,
"""


def test_homes_go_to_the_organisation_they_or_the_command_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tenancy: a row's organisation_id, else --organisation, else the default one;
    an unknown organisation, or a home moving to another, is a problem of its line."""
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    path = tmp_path / "centres.csv"
    path.write_text(ORGANISATIONS_CSV)
    assert main(["provision", str(path)]) == 1
    assert "line 2: home h8: organisation_id: no organisation bee" in capsys.readouterr().err
    assert main(["organisations", "add", "bee", "Centre Bee"]) == 0
    assert main(["organisations", "add", "cee", "Centre Cee"]) == 0
    assert main(["provision", "--organisation", "cee", str(path)]) == 0
    assert "3 created" in capsys.readouterr().out

    async def homes() -> dict[str, str]:
        store = await open_store(f"sqlite:///{tmp_path}/cli.db")
        try:
            return {h.id: h.organisation_id for h in await store.list_homes()}
        finally:
            await store.close()

    assert asyncio.run(homes()) == {"h8": "bee", "h9": "cee"}
    assert main(["provision", str(path)]) == 1  # h9 would move to the default centre
    err = capsys.readouterr().err
    assert "line 3: home h9: organisation_id: home h9 belongs to organisation cee" in err


RECORD_TOML = TOML.replace(
    "limits = { hr_low = 45, hr_high = 115 }\n",
    "limits = { hr_low = 45, hr_high = 115 }\n\n"
    "[residents.record]\n"
    "date_of_birth = 1941-05-02\n"
    'allergies = ["penicillin"]\n'
    'hearing = "hearing_aid"\n'
    'key_safe_code = "4711"\n'
    'entry_instructions = "Key safe left of the door"\n',
)


async def test_a_resident_record_is_imported_and_checked(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "records.toml"
    path.write_text(RECORD_TOML)
    result = await provision(path, store, "Asia/Shanghai")
    assert (result.created, result.updated, result.unchanged) == (6, 0, 0)
    stored = await store.get_resident_record("h2-r1")
    assert stored is not None
    assert stored.record["date_of_birth"] == "1941-05-02"
    assert stored.record["allergies"] == ["penicillin"]
    assert stored.record["key_safe_code"] == "4711"
    assert stored.updated_by == "provision"
    again = await provision(path, store, "Asia/Shanghai")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)

    path.write_text(
        RECORD_TOML.replace('"hearing_aid"', '"loud"').replace("1941-05-02", "2999-01-01")
    )
    with pytest.raises(ProvisionError) as caught:
        await provision(path, store, "Asia/Shanghai")
    fields = {p.field for p in caught.value.problems}
    assert fields == {"record.hearing", "record.date_of_birth"}, str(caught.value)
    assert "resident h2-r1: record.date_of_birth: date_of_birth is in the future" in str(
        caught.value
    )
    unchanged = await store.get_resident_record("h2-r1")
    assert unchanged is not None and unchanged.record["hearing"] == "hearing_aid"
