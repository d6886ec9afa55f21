"""The local Twilio-compatible server with Twilio's China rules on a manual clock,
and the real Twilio channels pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from alerts.twilio_channels import TwilioConfig, TwilioSms, TwilioTransport, TwilioVoice
from eldercare.clock import ManualClock
from simulators.twilio_server import CHINA_RULES, TwilioServer, new_sid
from tests.e2e.helpers import free_port

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
"""23:00 in Shanghai."""
AUTH_TOKEN = "local-test-auth-token-0123456789"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def twilio(clock: ManualClock) -> AsyncIterator[TwilioServer]:
    async with TwilioServer(
        new_sid("AC"), AUTH_TOKEN, callback_interval=0.001, rules=CHINA_RULES, clock=clock.now
    ) as server:
        yield server


@pytest.fixture
async def transport(twilio: TwilioServer) -> AsyncIterator[TwilioTransport]:
    config = TwilioConfig(
        account_sid=twilio.account_sid,
        auth_token=AUTH_TOKEN,
        from_number="+15005550006",
        public_url=f"http://127.0.0.1:{free_port()}",  # nobody listens: callbacks go nowhere
        base_url=twilio.base_url,
        timeout_s=2.0,
        attempts=2,
        backoff_s=0.01,
        backoff_max_s=0.02,
    )
    t = TwilioTransport(config)
    yield t
    await t.aclose()


@pytest.fixture
def sms(transport: TwilioTransport) -> TwilioSms:
    return TwilioSms(transport)


@pytest.fixture
def voice(transport: TwilioTransport) -> TwilioVoice:
    return TwilioVoice(transport)
