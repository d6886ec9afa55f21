"""A phone number as a voice call should read it: the way the listener dials it.

A listener in the same country hears the national number in its usual groups
(``+8657100000000`` → ``0 5 7 1，0 0 0 0，0 0 0 0``: a Chinese listener dials
0571 0000 0000, never 86 571…); a listener abroad hears the international
form (``plus 8 6, 5 7 1, 0 0 0 0, 0 0 0 0``). Digits are read one by one,
groups separated by a pause (a comma). The grouping is libphonenumber's
(the ``phonenumbers`` package), so every country's plan is known.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

_GROUP = re.compile(r"\+|\d+")


def _parse(number: str | None) -> phonenumbers.PhoneNumber | None:
    if not number:
        return None
    try:
        return phonenumbers.parse(number, None)
    except NumberParseException:
        return None


def dial_groups(number: str, listener: str | None = None) -> list[str]:
    """The groups a listener at ``listener`` (E.164, or None: same country) dials."""
    parsed = _parse(number)
    if parsed is None:
        digits = "".join(c for c in number if c.isdigit())
        return [digits] if digits else []
    heard_from = _parse(listener)
    if heard_from is None or heard_from.country_code == parsed.country_code:
        text = phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
    else:
        text = phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
    return _GROUP.findall(text)


def spoken_number(number: str, listener: str | None, lang: str) -> str:
    """``number`` for a voice call in ``lang`` (``zh-CN`` or ``en``) to ``listener``."""
    zh = not lang.lower().startswith("en")
    plus, pause = ("加", "，") if zh else ("plus", ", ")
    groups = dial_groups(number, listener)
    lead = ""
    if groups[:1] == ["+"]:
        lead, groups = plus + " ", groups[1:]
    return lead + pause.join(" ".join(g) for g in groups)
