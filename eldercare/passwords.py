"""Password hashing with argon2 (argon2-cffi), and the rules a new password must pass.

``check_new_password`` refuses a password that is short, one of the 30,000
most common passwords of a breach corpus, or guessable by zxcvbn (Dropbox's
estimator, the maintained ``zxcvbn`` package). The list is the one zxcvbn
ships (``zxcvbn.frequency_lists``, "passwords": the top 30,000 of Mark
Burnett's 10 million passwords from public breaches, xato.net, 2015), so
nothing is downloaded. zxcvbn is also given the username and "eldercare", so
``admin12345`` or ``Eldercare2026`` score as guessable. This follows NIST SP
800-63B §3.1.1.2: a minimum length, a check against breached and common
values, no composition rules.
"""

from __future__ import annotations

import functools
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_PASSWORD_LENGTH = 10
MIN_ZXCVBN_SCORE = 2
"""0-4; 2 is "somewhat guessable: protection from unthrottled online attacks"
(logins are throttled and hashed with argon2)."""
_ZXCVBN_MAX_CHARS = 72
"""zxcvbn's cost grows with length (and zxcvbn 4.5 refuses more than 72
characters with a ValueError): past this a password is judged by its start."""

_hasher = PasswordHasher()


class WeakPassword(ValueError):
    """The password is refused; ``str(exc)`` says why, for the person choosing it."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def breached_passwords() -> frozenset[str]:
    """The 30,000 most common breached passwords (lower case), from zxcvbn's list."""
    listed: Any = FREQUENCY_LISTS["passwords"]
    words = listed.split(",") if isinstance(listed, str) else listed
    return frozenset(str(w).lower() for w in words)


def check_new_password(password: str, username: str = "") -> None:
    """Raise WeakPassword unless ``password`` may be set for ``username``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.lower() in breached_passwords():
        raise WeakPassword(
            "this password is on the list of common passwords from breaches; choose another"
        )
    result = zxcvbn(password[:_ZXCVBN_MAX_CHARS], user_inputs=[username, "eldercare"])
    if result["score"] < MIN_ZXCVBN_SCORE:
        warning = result["feedback"].get("warning") or "it is too easy to guess"
        raise WeakPassword(f"this password is too easy to guess: {warning}; choose a longer one")
