"""``eldercare serve --check``: are the settings ones the service can start with?

Loads the settings (environment and ``--config``) and everything ``serve``
reads from them before it connects to anything: the escalation policy, the SMS
provider limits, the CN SMS templates (when Aliyun or Tencent Cloud is set),
the SMS channels, the admin password's strength and the paths of the files the
settings name. Connects to nothing (the database and the broker may start
after the service's unit; ``/readyz`` tells about them once it runs). Exits 0
with one line saying what it would run on, or 1 with the setting named, so a
systemd ``ExecStartPre=`` stops a start with a clear line in the journal
instead of a restart loop.

The defaults unfit for production (``eldercare.settings_help``) are printed as
warnings; they do not fail the check.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from eldercare.settings import Settings, SettingsError
from eldercare.settings_help import unfit_for_production

PREFIX = "eldercare serve --check"


def check_settings(settings: Settings) -> list[str]:
    """Raise SettingsError (or ValueError) naming the setting; return the warnings."""
    from alerts.policy import load_policy
    from alerts.provider_limits import load_provider_limits
    from alerts.sms_routing import build_channels
    from eldercare.passwords import WeakPassword, check_new_password

    for name in ("escalation_policy", "sms_limits", "sms_templates", "report_font"):
        path = getattr(settings, name)
        if path is not None and not Path(path).is_file():
            raise SettingsError(f"ELDERCARE_{name.upper()}: no such file: {path}")
    if settings.database_url.startswith("sqlite:///"):
        folder = Path(settings.database_url.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise SettingsError(
                f"ELDERCARE_DATABASE_URL: the folder of the SQLite file does not exist: {folder}"
            )
    load_policy(settings.escalation_policy)
    load_provider_limits(settings.sms_limits)
    build_channels(settings)  # the CN templates too, when a CN provider is configured
    if settings.admin_password is not None:
        try:
            check_new_password(settings.admin_password, settings.admin_user)
        except WeakPassword as exc:
            raise SettingsError(f"ELDERCARE_ADMIN_PASSWORD: {exc}") from exc
    return unfit_for_production(settings)


def run_check(config_file: str | None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        settings = Settings.load(config_file=config_file)
        warnings = check_settings(settings)
    except ValueError as exc:  # SettingsError, PolicyError, LimitsError, TemplateError, …
        print(f"{PREFIX}: refused: {exc}", file=err)
        return 1
    for warning in warnings:
        print(f"{PREFIX}: warning: not fit for production: {warning}", file=err)
    broker = _redact(settings.mqtt_url) if settings.mqtt_url else "the embedded broker"
    print(
        f"{PREFIX}: settings OK (database {_redact(settings.database_url)}, broker {broker}, "
        f"API on {settings.api_host}:{settings.api_port}; nothing was connected to)",
        file=out,
    )
    return 0


def _redact(url: str) -> str:
    password = urlsplit(url).password
    return url.replace(f":{password}@", ":***@") if password else url
