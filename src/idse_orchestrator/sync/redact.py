"""The one scrubbing function for URLs and connection strings: ``redact``.

Everything sync shows or stores that may hold a URL or DSN (the remote's description, which is also
the sync record's key; settings; error messages, including a library's) goes through ``redact``
first. It works on the text, not on a parse, so a URL that does not parse is scrubbed too:

- the password of a ``scheme://user:password@host`` user part, up to the last ``@`` of the token;
- the value of a sensitive parameter, in a query (``?sig=…``, ``&access_token=…``) or in the
  ``key=value`` form of a PostgreSQL DSN (``password=…``, ``password='…'``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"

# scheme://user:password@ — the user part stops at the first ':'; the password runs to the last '@'
# before whitespace, so a password holding '@', '/' or '?' (a URL that does not parse) is covered.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#:]*):(?P<password>\S*)@")
# The same on one value taken as a whole (a configured URL), where even whitespace is password.
_USERINFO_WHOLE = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.\-]*://[^/?#:]*:(?P<password>.*)@", re.DOTALL)
# name=value, in a query string or a key=value DSN; quoted values (DSN) may contain spaces.
_PARAM = re.compile(
    r"(?<![\w.\-%])(?P<name>[A-Za-z_][\w.\-]*)(?P<eq>\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|\"[^\"]*\"?|[^\s&#]+)"
)
# A parameter is sensitive when one of its words (split at '_', '-', '.') is one of these, or ends
# with one of the suffixes: sig, X-Amz-Signature, access_token, api_key, sslpassword, client_secret…
_WORDS = frozenset(
    {"pass", "password", "passwd", "pwd", "secret", "token", "key", "apikey", "sig", "signature"}
    | {"auth", "authorization", "credential", "credentials", "sas", "jwt", "bearer"}
)
_SUFFIXES = ("password", "passwd", "pwd", "secret", "token", "key", "signature")
# Parameters whose name looks sensitive but whose value is a file path, not a secret.
_NOT_SECRET = frozenset({"sslkey", "passfile"})
_CLOSING = "'\")],;:."


def sensitive(name: str) -> bool:
    """Whether a query or DSN parameter named ``name`` carries a secret."""
    lower = name.lower()
    if lower in _NOT_SECRET:
        return False
    words = [w for w in re.split(r"[^a-z0-9]+", lower) if w]
    return any(w in _WORDS or w.endswith(_SUFFIXES) for w in words)


def _mask_param(match: re.Match[str]) -> str:
    if not sensitive(match.group("name")):
        return match.group(0)
    value = match.group("value")
    # Punctuation closing the text around the URL is kept, so `'…?sig=***': …` still reads right.
    tail = ""
    while len(value) > 1 and value[-1] in _CLOSING and value[-1] not in value[:-1]:
        tail, value = value[-1] + tail, value[:-1]
    return f"{match.group('name')}{match.group('eq')}{MASK}{tail}"


def redact(text: str) -> str:
    """``text`` with every URL password and sensitive parameter value replaced by ``***``.

    Idempotent, never raises, and needs no parse: apply it to a bare URL, a DSN, or a message.
    """
    text = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    return _PARAM.sub(_mask_param, text)


def has_secret(text: str) -> bool:
    return redact(text) != text


def secret_parts(value: str) -> list[str]:
    """The secret substrings of one URL or DSN (raw and percent-decoded), to scrub them from text
    that shows them out of context, such as a library's error message."""
    found: list[str] = []
    whole = _USERINFO_WHOLE.match(value)
    if whole:
        found.append(whole.group("password"))
    for match in _PARAM.finditer(value):
        if sensitive(match.group("name")):
            found.append(match.group("value").strip("'\""))
    out: list[str] = []
    for secret in found:
        for variant in (secret, unquote(secret)):
            if variant and variant != MASK and variant not in out:
                out.append(variant)
    return out


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``redact(text)``, after replacing each known secret value found anywhere in it."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted(set(secrets), key=len, reverse=True):
        # Replacing a one- to three-letter "secret" would mangle every message and hide nothing.
        if len(secret) >= 4:
            text = text.replace(secret, MASK)
    return redact(text)
