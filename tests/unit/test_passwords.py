"""The rules for a new password (pure logic; the API and CLI tests use them over
HTTP and the command line)."""

from __future__ import annotations

import pytest

from eldercare.passwords import WeakPassword, breached_passwords, check_new_password


def test_the_shipped_breach_list_has_the_common_passwords() -> None:
    listed = breached_passwords()
    assert len(listed) == 30_000
    assert {"password", "12345678", "iloveyou", "qwerty123"} <= listed


@pytest.mark.parametrize(
    "password", ["PASSWORD123", "Qwertyuiop", "Password2024", "aaaaaaaaaaaa", "abcdefghij"]
)
def test_common_shapes_are_refused_whatever_the_case(password: str) -> None:
    with pytest.raises(WeakPassword):
        check_new_password(password, "ann")


@pytest.mark.parametrize(
    "password", ["ward-7-night-shift", "correct horse battery", "长城-2026-守夜人"]
)
def test_long_uncommon_passwords_pass(password: str) -> None:
    check_new_password(password, "ann")


def test_a_password_longer_than_zxcvbn_takes_is_judged_not_an_error() -> None:
    """zxcvbn raises ValueError past 72 characters: a long password must get a
    verdict (the API's 422 or a new account), never a 500 (found by schemathesis)."""
    check_new_password("correct horse battery staple, said the old man " * 3, "li")
    with pytest.raises(WeakPassword):
        check_new_password("0" * 100, "li")
