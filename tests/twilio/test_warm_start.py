"""The first alert's SMS does not wait for twilio's API modules to load: they are
imported when the channels are built at start (they took 60 ms with the event
loop held, at the first SMS). A fresh interpreter, since this test process may
have imported them already."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from alerts.twilio_channels import build_channels
from eldercare.settings import Settings
module = "twilio.rest.api.v2010.account.message"
before = module in sys.modules
settings = Settings.load(env={}).with_(
    twilio_account_sid="AC" + "0" * 32,
    twilio_auth_token="token",
    twilio_from="+15005550006",
    twilio_base_url="http://127.0.0.1:9",
    public_url="http://127.0.0.1:9",
)
build_channels(settings)
print(before, module in sys.modules)
"""


def test_building_the_twilio_channels_loads_the_message_api() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "True"]
