"""The policy file: DOMAIN.md's defaults, and clear errors for a wrong file."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.escalation_texts import is_handling_reply
from alerts.policy import PolicyError, load_policy, parse_policy
from eldercare.domain import Severity


def test_the_default_policy_is_the_domain_table() -> None:
    policy = load_policy()
    critical = {s.name: s for s in policy.steps(Severity.CRITICAL)}
    assert [(s.after_s, s.to, s.unless) for s in critical.values()] == [
        (0, "family_first", "none"),
        (60, "family_all", "acknowledged"),
        (180, "family_first", "acknowledged"),
        (180, "supervisors", "acknowledged"),
        (420, "supervisors", "on_site"),
        (0, "everyone", "on_site"),
    ]
    assert critical["voice_first"].action == "voice"
    assert critical["window_breached"].start == "deadline"
    assert critical["window_breached"].repeat_every_s == 300
    assert [s.after_s for s in policy.steps(Severity.HIGH)] == [180, 420, 0]
    assert policy.steps(Severity.WARNING) == () and policy.steps(Severity.INFO) == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[critical.steps]]\nname = "x"\naction = "fax"\nto = "family_all"', "action must be"),
        ('[[critical.steps]]\nname = "x"\naction = "sms"\nto = "none"', "needs recipients"),
        ('[[high.steps]]\nname = "x"\naction = "sms"\nto = "everyone"\nwhen = 3', "unknown"),
        ('[[high.steps]]\nname = "x"\naction = "sms"\nto = "supervisors"\nafter = -5', "negative"),
        ("[urgent]\nsteps = []", "unknown table"),
        ("critical = [", "not valid TOML"),
    ],
)
def test_a_wrong_policy_file_is_refused_with_the_place(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert problem in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_custom_policy_replaces_the_ladder() -> None:
    policy = parse_policy(
        {
            "warning": {
                "steps": [{"name": "nudge", "after": 900, "action": "sms", "to": "supervisors"}]
            }
        }
    )
    (step,) = policy.steps(Severity.WARNING)
    assert (step.after_s, step.unless, step.message) == (900, "none", "alert")
    assert policy.steps(Severity.CRITICAL) == ()


@pytest.mark.parametrize("body", ["1", "OK", "ok", " Ok. ", "收到", "收到！", "１", "ＯＫ"])
def test_handling_replies(body: str) -> None:
    assert is_handling_reply(body)


@pytest.mark.parametrize("body", ["", "no", "who is this", "10", "okay?", "收到了吗"])
def test_other_replies_do_not_stop_anything(body: str) -> None:
    assert not is_handling_reply(body)
