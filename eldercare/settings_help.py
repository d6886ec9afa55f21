"""What the settings are, for ``eldercare serve --help``, and which of their
defaults are not fit for production (warned about by ``eldercare serve``).

The descriptions are the attribute docstrings of ``Settings`` (read from its
source), so a new setting documented there shows up here by itself.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from dataclasses import MISSING, dataclass, fields

from eldercare.settings import PREFIX, Settings

DEFAULTS = Settings()
PLACEHOLDER_CARE_CENTRE_PHONE = DEFAULTS.care_centre_phone


@dataclass(frozen=True, slots=True)
class SettingDoc:
    name: str
    env: str
    default: str
    meaning: str


def setting_docs() -> list[SettingDoc]:
    meanings = _attribute_docstrings()
    docs = []
    for f in fields(Settings):
        default = "unset" if f.default is MISSING or f.default is None else f.default
        if isinstance(default, float) and default.is_integer():
            default = int(default)
        docs.append(
            SettingDoc(f.name, PREFIX + f.name.upper(), str(default), meanings.get(f.name, ""))
        )
    return docs


def settings_epilog(width: int = 100) -> str:
    lines = [
        "settings (environment, or --config FILE with the lower-case names without the "
        "prefix; the environment wins):"
    ]
    for doc in setting_docs():
        lines.append(f"  {doc.env}  (default: {doc.default})")
        if doc.meaning:
            lines += textwrap.wrap(
                doc.meaning, width, initial_indent="      ", subsequent_indent="      "
            )
    return "\n".join(lines)


def unfit_for_production(settings: Settings) -> list[str]:
    """One sentence per default in force that a care centre must not run on."""
    found = []
    if settings.mqtt_url is None:
        found.append(
            "ELDERCARE_MQTT_URL is unset: devices connect to the embedded broker in this "
            "process (no persistence across restarts, no credentials); set it to your "
            "Mosquitto, e.g. mqtts://gateway:…@broker:8883"
        )
    elif settings.broker().username is None:
        found.append(
            "ELDERCARE_MQTT_URL has no account: the broker lets anyone in, and any client "
            "with the gateway's client id can take its session and its messages; see "
            "`eldercare broker-config`"
        )
    if settings.database_url.startswith("sqlite:"):
        found.append(
            f"ELDERCARE_DATABASE_URL is {settings.database_url}: SQLite, for demos and "
            "tests; set postgresql://… (TimescaleDB) for a care centre"
        )
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        found.append(
            "ELDERCARE_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM are not all set: family "
            "SMS and calls are only printed to this log, nobody receives them"
        )
    elif settings.public_url == DEFAULTS.public_url:
        found.append(
            f"ELDERCARE_PUBLIC_URL is {settings.public_url}: Twilio cannot reach it, so no "
            "delivery status or family reply comes back; set the address Twilio calls"
        )
    if settings.care_centre_phone == PLACEHOLDER_CARE_CENTRE_PHONE:
        found.append(
            f"ELDERCARE_CARE_CENTRE_PHONE is the placeholder {PLACEHOLDER_CARE_CENTRE_PHONE}: "
            "families are told to call a number that is not yours"
        )
    return found


@functools.cache
def _attribute_docstrings() -> dict[str, str]:
    source = textwrap.dedent(inspect.getsource(Settings))
    try:
        tree = ast.parse(source)
    except SystemError:
        # CPython 3.11's "AST constructor recursion depth mismatch" (gh-106905):
        # spurious, seen in threaded processes; the same parse again succeeds.
        tree = ast.parse(source)
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    for node, after in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            found[node.target.id] = " ".join(after.value.value.replace("``", "").split())
    return found
