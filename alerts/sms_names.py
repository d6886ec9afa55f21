"""Names as they may appear in an SMS or a call (Issue 20 item 10).

Resident, home and contact names are typed by operators or come from
provisioning files; they must not be able to turn a family SMS into something
else. ``safe_name`` keeps letters, digits, spaces and ordinary punctuation, and:

- removes control and format characters (newlines and tabs become a space;
  zero-width and bidirectional overrides go), private-use and unassigned ones;
- removes links and addresses: e-mail addresses, anything with a scheme
  (``http://``, ``sms:``…), ``www.``, and bare domains with a common
  top-level domain (``t.cn/x``, ``evil.com``);
- removes the brackets an SMS signature is written in (``【】``, ``[]``…), so
  a name cannot pose as a sender such as ``【某银行】``;
- collapses spaces and cuts the name to ``NAME_MAX`` characters with an
  ellipsis (``...`` for an ASCII name, so an English SMS stays in its
  160-character GSM alphabet; ``…`` otherwise).

It is idempotent: a safe name stays as it is.
"""

from __future__ import annotations

import re
import unicodedata

NAME_MAX = 20
"""Characters of a name in a text, ellipsis included."""

_ASCII_EDGE = r"(?<![A-Za-z0-9.-])"
_PATH = r"[!-~]*"  # a link runs on over ASCII, not into the Chinese text after it
_SCHEME = re.compile(
    rf"(?i){_ASCII_EDGE}(?:[a-z][a-z0-9+.-]*://|(?:mailto|sms|smsto|tel|weixin|alipays?):){_PATH}"
)
_WWW = re.compile(rf"(?i){_ASCII_EDGE}www\.{_PATH}")
_EMAIL = re.compile(rf"(?i){_ASCII_EDGE}[a-z0-9._%+-]+@[a-z0-9.-]+")
_TLDS = (
    "com|cn|net|org|info|top|xyz|io|co|me|ly|cc|tv|app|link|site|online|vip|shop|club"
    "|biz|us|uk|hk|tw|ru|de|gl|to|ws|gd|la|mobi|live|icu|work|fun|pro|asia|tk|ml|ga|cf"
)
_DOMAIN = re.compile(
    rf"(?i){_ASCII_EDGE}[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:{_TLDS})(?![a-z0-9-])(?:[:/?#]{_PATH})?"
)
_BRACKETS = str.maketrans("", "", "【】〖〗〔〕[]［］{}<>")
_SPACES = re.compile(r"\s+")
_EMPTY_PARENS = re.compile(r"[(（]\s*[)）]")


def _clean_char(c: str) -> str:
    cat = unicodedata.category(c)
    if cat in ("Cc", "Zl", "Zp", "Zs"):
        return " "  # newline, tab, other controls and odd spaces: one plain space
    if cat[0] == "C":  # Cf (zero-width, bidi overrides), Co, Cs, Cn
        return ""
    return c


def safe_name(raw: str, limit: int = NAME_MAX) -> str:
    """``raw`` fit to stand in an SMS; may be empty (nothing usable was left)."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(_clean_char(c) for c in text)
    for pattern in (_SCHEME, _WWW, _EMAIL, _DOMAIN):
        text = pattern.sub(" ", text)
    text = _EMPTY_PARENS.sub(" ", text.translate(_BRACKETS))
    text = _SPACES.sub(" ", text).strip(" ,;:，；：")
    if len(text) <= limit:
        return text
    ellipsis = "..." if text.isascii() else "…"
    return text[: limit - len(ellipsis)].rstrip(" ,;:，；：") + ellipsis
