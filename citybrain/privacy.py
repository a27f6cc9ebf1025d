"""Personal data never reaches silver in clear: keyed tokens, display masks, scrubbed free text.

``token`` is HMAC-SHA256 computed in Spark SQL (sha2 over the key pads), so it runs on
any Spark Connect engine and the same person gets the same token in every department's
table: joins across departments still work on the token.

The key is ``CITYBRAIN_PII_KEY`` when set. Otherwise the local and CI profiles generate a
random 256-bit key on first use and keep it outside the lake, in
``<state_dir>/secrets/pii.key`` (mode 0600); the cluster profile refuses to run without
one. There is no published key: a masked phone (138****1234 leaves 10,000 candidates) can
be brute-forced against its token only by someone who holds the key, so the key is what
keeps tokens private. Losing or changing it changes every token (see README, "Keys").
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F

from citybrain.settings import Settings

log = logging.getLogger(__name__)

# Patterns of personal data in free text, each with the placeholder that replaces it.
# Written for both Spark (Java) and Sail (Rust) regex engines: no look-around, no \b
# (a word boundary never falls between a Chinese character and a digit). Full-width digits
# are made ASCII first (scrub_text), so the patterns only need ASCII digits.
_HAN = "[一-鿿]"
_CN_DIGIT = "[零〇一二三四五六七八九幺]"
# the most common family names (together about 85 % of the population), for the patterns
# that need a name to start with one to tell "我是王伟，" from "我是周边居民"
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
TEXT_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}", "[email]"),
    (
        "cn_id_number",
        r"(^|[^0-9])[1-9][0-9]{5}[ -]?(19|20)[0-9]{2}[ -]?[01][0-9][ -]?[0-3][0-9][ -]?[0-9]{3}[0-9Xx]([^0-9]|$)",
        "$1[id]$3",
    ),
    ("card_number", r"(^|[^0-9])[3-6][0-9]{3}[ -]?[0-9]{4,6}[ -]?[0-9]{4,5}([ -]?[0-9]{1,4})?([^0-9]|$)", "$1[card]$3"),
    # 13812345678, 138 1234 5678, 138-1234-5678, +86 138...: any single space or dash between digits
    ("cn_mobile", r"(^|[^0-9])(\+?86[ -]?)?1[3-9]([ -]?[0-9]){9}([^0-9]|$)", "$1[phone]$4"),
    ("us_ssn", r"(^|[^0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}([^0-9]|$)", "$1[ssn]$2"),
    ("phone", r"(^|[^0-9])(\+?1[ .-]?)?\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4}([^0-9]|$)", "$1[phone]$3"),
    # a number read out in Chinese digits (幺三八一二三四五六七八): eleven or more of them
    ("cn_digit_number", f"(^|[^零〇一二三四五六七八九幺]){_CN_DIGIT}([ -]?{_CN_DIGIT}){{10,}}", "$1[number]"),
    # a caller naming themself: 我叫张伟 / 姓名：张伟 / 我是王伟， / 我姓王
    ("self_named", f"(我叫|我名叫|名字叫|名字是|姓名是|姓名[:：]?)[ ]?{_HAN}{{2,3}}", "$1[name]"),
    ("self_introduced", f"(我是|联系人[:：]?|来电人[:：]?)[ ]?[{_SURNAMES}]{_HAN}{{1,2}}([，,。；;、 ]|$)", "$1[name]$2"),
    ("family_name", f"(我姓)[{_SURNAMES}]", "$1[name]"),
)
_FULL_WIDTH_DIGITS = "０１２３４５６７８９"
_ANY_PATTERN = "|".join(f"({pattern})" for _, pattern, _ in TEXT_PATTERNS)

# What a clear value looks like, per PII kind, for checks that silver holds none.
CLEAR_VALUE_PATTERNS = {
    # (not inside a longer run of letters and digits, such as a hex token)
    "phone": re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])"),
    "id_number": re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{5}(19|20)[0-9]{2}[01][0-9][0-3][0-9]{4}[0-9Xx](?![0-9A-Za-z])"),
    "plate": re.compile(r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z]·?[A-Z0-9]{5,6}"),
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "us_ssn": re.compile(r"(?<![0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9])"),
    "us_phone": re.compile(r"(?<![0-9])[0-9]{3}-[0-9]{3}-[0-9]{4}(?![0-9])"),
}


class PrivacyKeyMissing(RuntimeError):
    """The cluster profile needs CITYBRAIN_PII_KEY."""


def key_file(settings: Settings) -> Path:
    return settings.state_dir / "secrets" / "pii.key"


def pii_key(settings: Settings) -> str:
    """The tokenising key: the environment's, else this installation's generated one (see the module doc)."""
    if settings.pii_key:
        return settings.pii_key
    if settings.profile == "cluster":
        raise PrivacyKeyMissing("CITYBRAIN_PII_KEY is not set: the cluster profile will not tokenise personal data without a key")
    return ensure_generated_key(settings)[0]


def ensure_generated_key(settings: Settings) -> tuple[str, bool]:
    """(key, created now): read ``key_file``, creating it with a random key (mode 0600) if absent.

    Created with O_EXCL, so two processes starting together agree on one key.
    """
    path = key_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path), False
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    log.warning("generated a personal-data key in %s: keep it, every token depends on it", path)
    return _read_key(path), True


def _read_key(path: Path) -> str:
    for _ in range(50):  # another process may be writing it this instant
        key = path.read_text().strip()
        if key:
            if path.stat().st_mode & 0o077:
                raise PermissionError(f"{path} can be read by other users: chmod 600 {path}")
            return key
        time.sleep(0.1)
    raise RuntimeError(f"{path} is empty: remove it to generate a new key (every token will change)")


def _pads(key: str) -> tuple[str, str]:
    raw = key.encode()
    if len(raw) > 64:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in raw).hex(), bytes(b ^ 0x5C for b in raw).hex()


def token(col: Column | str, key: str) -> Column:
    """HMAC-SHA256 (hex) of the trimmed value; empty and null give null."""
    ipad, opad = _pads(key)
    value = F.nullif(F.trim(F.col(col) if isinstance(col, str) else col), F.lit(""))
    inner = F.unhex(F.sha2(F.concat(F.unhex(F.lit(ipad)), F.encode(value, "UTF-8")), 256))
    return F.sha2(F.concat(F.unhex(F.lit(opad)), inner), 256)


def mask_phone(col: Column | str) -> Column:
    """138****1234: the first three and last four digits; null when fewer than 7 digits."""
    return _mask_digits(F.regexp_replace(F.col(col) if isinstance(col, str) else col, "[^0-9]", ""))


def _mask_digits(digits: Column) -> Column:
    n = F.length(digits)
    return F.when(n >= 7, F.concat(F.substring(digits, 1, 3), F.lit("****"), F.substring(digits, -4, 4)))


def mask_name(col: Column | str) -> Column:
    """张** : the family name and one star per other character."""
    name = F.nullif(F.trim(F.col(col) if isinstance(col, str) else col), F.lit(""))
    return F.concat(F.substring(name, 1, 1), F.regexp_replace(F.substring(name, 2, 100), ".", "*"))


def scrub_text(col: Column | str) -> Column:
    """Free text with e-mails, ID, card, phone and SSN numbers and self-introduced names replaced
    by placeholders (full-width digits are made ASCII first)."""
    text = F.translate(F.col(col) if isinstance(col, str) else col, _FULL_WIDTH_DIGITS, "0123456789")
    out = text
    for _, pattern, placeholder in TEXT_PATTERNS:
        out = F.regexp_replace(out, pattern, placeholder)
    # A text none of the patterns matches comes out unchanged: one test of them all together
    # spares most labels and short texts the ten replacements.
    return F.when(text.rlike(_ANY_PATTERN), out).otherwise(text)


def find_clear_pii(text: str) -> list[str]:
    """Kinds of clear personal data found in a string (for tests and audits)."""
    return [kind for kind, pattern in CLEAR_VALUE_PATTERNS.items() if pattern.search(text or "")]
