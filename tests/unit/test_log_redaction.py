"""The log formatters mask phone numbers and replace known secrets in every part
of a line: the message, its fields, a traceback; JSON and text alike."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from eldercare.logs import REDACT, setup_logging
from eldercare.settings import Settings

SECRET = 'tok-"quoted"-s3cret'


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    setup_logging("json", "INFO", out, secrets=[SECRET, "abc"])
    try:
        yield out
    finally:
        REDACT.clear()
        setup_logging("text", "WARNING")


def test_message_fields_and_traceback_are_redacted(stream: io.StringIO) -> None:
    log = logging.getLogger("eldercare.test")
    try:
        raise RuntimeError(f"bad token {SECRET} for +8613812345678")
    except RuntimeError:
        log.exception(
            "sms to %s via %s",
            "+8613812345678",
            "postgresql://svc:db-Pw-9@db/eldercare",
            extra={"to": "+447700912345", "form": "To=%2B8613812345678", "key": SECRET},
        )
    line = stream.getvalue().strip()
    doc = json.loads(line)
    assert doc["msg"] == "sms to +86138****5678 via postgresql://svc:***@db/eldercare"
    assert doc["to"] == "+4477****2345"
    assert doc["form"] == "To=%2B86138****5678"
    assert doc["key"] == "***"
    assert "bad token *** for +86138****5678" in doc["exc"]
    assert "s3cret" not in line and "13812345678" not in line and "db-Pw-9" not in line


def test_short_values_and_ordinary_numbers_are_left_alone(stream: io.StringIO) -> None:
    logging.getLogger("eldercare.test").warning("abc: 1796323152123 readings, +5 %, seq 12345678")
    assert json.loads(stream.getvalue())["msg"] == "abc: 1796323152123 readings, +5 %, seq 12345678"


def test_the_text_format_is_redacted_too() -> None:
    out = io.StringIO()
    setup_logging("text", "INFO", out, secrets=[SECRET])
    try:
        logging.getLogger("eldercare.test").warning("call +8613812345678", extra={"k": SECRET})
    finally:
        REDACT.clear()
        setup_logging("text", "WARNING")
    assert out.getvalue().rstrip().endswith("call +86138****5678  [k=***]")


def test_the_settings_name_their_secrets() -> None:
    settings = Settings.load(
        {
            "ELDERCARE_ADMIN_PASSWORD": "admin-Pw-0123",
            "ELDERCARE_SECRET_KEY": "k" * 40,
            "ELDERCARE_TWILIO_AUTH_TOKEN": "twilio-tok",
            "ELDERCARE_TWILIO_ACCOUNT_SID": "AC1",
            "ELDERCARE_MQTT_URL": "mqtt://gw:mq%40pw@broker:1883",
            "ELDERCARE_DATABASE_URL": "postgresql://svc:db-pw@db/eldercare",
        }
    )
    found = settings.secret_values()
    for value in ("admin-Pw-0123", "k" * 40, "twilio-tok", "mq%40pw", "mq@pw", "db-pw"):
        assert value in found
    assert "QUMxOnR3aWxpby10b2s=" in found  # base64("AC1:twilio-tok"): HTTP Basic
