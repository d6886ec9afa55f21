"""The providers' limits as data: the packaged defaults, a centre's own file over
them, and the check of one send against what the number already received."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.provider_limits import LimitsError, ProviderLimits, load_provider_limits
from eldercare.store.base import SentSms

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
CN = "+8613800000001"


def sent(at_s: float, body: str) -> SentSms:
    return SentSms(f"k{at_s}", 1, body, T0 + timedelta(seconds=at_s))


@pytest.fixture
def limits() -> ProviderLimits:
    return load_provider_limits()


def test_twilio_to_mainland_china_has_its_published_rules(limits: ProviderLimits) -> None:
    cn = limits.destination("twilio", CN)
    assert (cn.prefix, cn.two_way, cn.links) == ("+86", False, False)
    assert {(r.name, r.max, r.window_s, r.same_text, r.outcome) for r in cn.rules} == {
        ("identical_24h", 2, 86400, True, "rejected"),
        ("review_24h", 4, 86400, False, "review"),
    }
    # Hong Kong (+852) and the UK are not mainland numbers: two-way, no limits
    for phone in ("+85291234567", "+447700900002"):
        other = limits.destination("twilio", phone)
        assert (other.prefix, other.two_way, other.rules) == ("*", True, ())
    tencent = limits.destination("tencent", CN)
    assert {(r.max, r.window_s, r.same_text) for r in tencent.rules} == {
        (1, 30, True),
        (10, 86400, False),
    }
    assert [(r.max, r.window_s) for r in limits.destination("aliyun", CN).rules] == [(50, 86400)]
    # a provider nobody described (the console) has no limits and may ask for replies
    assert limits.destination("console", CN).rules == ()


def test_third_identical_text_within_24_h_is_refused_until_the_first_leaves(
    limits: ProviderLimits,
) -> None:
    cn = limits.destination("twilio", CN)
    history = [sent(0, "same"), sent(60, "same")]
    breach = limits.check(cn, "same", history, T0 + timedelta(minutes=5))
    assert breach is not None and breach.rule == "identical_24h"
    assert breach.outcome == "rejected"
    assert breach.allowed_at == T0 + timedelta(hours=24)
    assert limits.check(cn, "different", history, T0 + timedelta(minutes=5)) is None
    assert limits.check(cn, "same", history, T0 + timedelta(hours=24, seconds=1)) is None


def test_fifth_text_within_24_h_would_go_to_manual_review(limits: ProviderLimits) -> None:
    cn = limits.destination("twilio", CN)
    history = [sent(i * 3600, f"text {i}") for i in range(4)]
    breach = limits.check(cn, "text 4", history, T0 + timedelta(hours=5))
    assert breach is not None and breach.rule == "review_24h" and breach.outcome == "review"
    assert breach.allowed_at == T0 + timedelta(hours=24)  # when the first leaves the window
    assert limits.check(cn, "text 4", history[1:], T0 + timedelta(hours=5)) is None


def test_links_are_never_sent_to_mainland_numbers_on_twilio(limits: ProviderLimits) -> None:
    cn = limits.destination("twilio", CN)
    breach = limits.check(cn, "see https://example.org/a/1", [], T0)
    assert breach is not None and breach.rule == "links" and breach.allowed_at is None
    uk = limits.destination("twilio", "+447700900002")
    assert limits.check(uk, "see https://example.org/a/1", [], T0) is None


def test_tencent_same_content_waits_30_s(limits: ProviderLimits) -> None:
    dest = limits.destination("tencent", CN)
    breach = limits.check(dest, "same", [sent(0, "same")], T0 + timedelta(seconds=10))
    assert breach is not None and breach.allowed_at == T0 + timedelta(seconds=30)


def test_a_centre_file_replaces_the_destinations_it_names(tmp_path: Path) -> None:
    own = tmp_path / "limits.toml"
    own.write_text(
        '[twilio."+86"]\ntwo_way = true\n'
        '[[twilio."+86".rules]]\nname = "contract"\nmax = 20\nwindow = 86400\n'
        '[twilio."+8613"]\ntwo_way = false\nrules = []\n',
        encoding="utf-8",
    )
    limits = load_provider_limits(own)
    cn = limits.destination("twilio", "+8615000000001")
    assert cn.two_way and [(r.name, r.max) for r in cn.rules] == [("contract", 20)]
    assert limits.destination("twilio", CN).prefix == "+8613"  # the longest prefix wins
    assert limits.destination("tencent", CN).rules  # other providers keep their defaults


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[twilio."86"]\n', 'a destination is "*" or a prefix like "+86"'),
        ('[twilio."+86"]\nmax = 3\n', "unknown field(s) max"),
        ('[[twilio."+86".rules]]\nname = "x"\nmax = 0\nwindow = 60\n', "max must be"),
        ('[[twilio."+86".rules]]\nname = "x"\nmax = 2\n', "window must be"),
        ('[[twilio."+86".rules]]\nname = "x"\nmax = 2\nwindow = 9\noutcome = "drop"\n', "outcome"),
        ("not toml", "not valid TOML"),
    ],
)
def test_a_wrong_file_is_refused_naming_the_place(tmp_path: Path, text: str, problem: str) -> None:
    own = tmp_path / "bad.toml"
    own.write_text(text, encoding="utf-8")
    with pytest.raises(LimitsError) as err:
        load_provider_limits(own)
    assert problem in str(err.value) and str(own) in str(err.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LimitsError, match="cannot read it"):
        load_provider_limits(tmp_path / "nope.toml")


def test_serve_with_a_wrong_limits_file_stops_in_one_line(tmp_path: Path) -> None:
    own = tmp_path / "bad.toml"
    own.write_text('[twilio."+86"]\nmax = 1\n', encoding="utf-8")
    env = {
        **os.environ,
        "ELDERCARE_SMS_LIMITS": str(own),
        "ELDERCARE_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
    }
    done = subprocess.run(
        [sys.executable, "-m", "eldercare", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert f'SMS limits {own} twilio."+86": unknown field(s) max' in done.stderr
    assert "Traceback" not in done.stderr
