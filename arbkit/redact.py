"""Masking of the credentials URLs carry, shared by every sub-package that shows a URL.

RPC endpoints and webhooks often embed a secret: in the user-info part
(``user:password@``), in a path segment (``/v2/<key>``, ``/v3/<key>``) or in the query
string (``?apikey=...``), of any length. :func:`redact_url` reduces a URL to what is
safe to show (scheme, host, port); :func:`scrub_url` removes a URL and its secrets from
a message, such as the text of a ``requests`` exception, which quotes the URL and
sometimes its path alone. This module imports nothing heavy, so that light modules
(the metrics, the CLI) can use it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["redact_url", "scrub_url"]

_MASK = "***"
_MIN_BARE = 6
"""Secrets at least this long are also removed where they appear without context."""


def redact_url(url: str) -> str:
    """Return ``url`` reduced to scheme, host and port, safe to show in errors and logs.

    User names, passwords, query strings and fragments are dropped, and a non-empty
    path (which often carries an API key, as in ``/v3/<key>``) is shown as ``/...``,
    whatever the length of its segments.

    Parameters
    ----------
    url
        Any string.

    Returns
    -------
    str
        ``scheme://host[:port][/...]``, or ``"<unparseable URL>"`` when ``url`` has no
        scheme or host or cannot be split.

    Examples
    --------
    >>> redact_url("https://alice:pw@mainnet.infura.io/v3/0123abcd?apikey=x")
    'https://mainnet.infura.io/...'
    >>> redact_url("http://127.0.0.1:8545")
    'http://127.0.0.1:8545'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not host:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    path = "/..." if parts.path.strip("/") else ""
    return f"{parts.scheme}://{netloc}{path}"


def scrub_url(text: str, url: str) -> str:
    """Return ``text`` with ``url`` and the credentials it embeds masked.

    The whole URL is replaced by :func:`redact_url`'s form; its user-info
    (``user:pw@`` becomes ``***@``), its path (with its query, as ``requests`` quotes
    it: ``/v3/<key>?a=b`` becomes ``/...``) and each ``name=value`` of its query
    (``name=***``) are masked wherever they appear. A user name, password, path
    segment or query value of at least six characters is masked even where it appears
    alone; shorter ones only in the contexts above, so that unrelated text is kept.

    Parameters
    ----------
    text
        A message that may quote ``url`` or parts of it.
    url
        The URL whose secrets must not be shown.

    Returns
    -------
    str
        The scrubbed message.
    """
    replacements: list[tuple[str, str]] = [(url, redact_url(url))]
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None:
        bare: list[str] = []
        userinfo, at, _ = parts.netloc.rpartition("@")
        if at and userinfo:
            replacements.append((f"{userinfo}@", f"{_MASK}@"))
            bare.extend(userinfo.split(":"))
        query = f"?{parts.query}" if parts.query else ""
        if parts.path.strip("/"):
            replacements.append((f"{parts.path}{query}", "/..."))
            replacements.append((parts.path, "/..."))
            bare.extend(parts.path.split("/"))
        if query:
            replacements.append((query, f"?{_MASK}"))
            for pair in parts.query.split("&"):
                name, eq, value = pair.partition("=")
                if eq and value:
                    replacements.append((pair, f"{name}={_MASK}"))
                    bare.append(value)
        replacements.extend((secret, _MASK) for secret in bare if len(secret) >= _MIN_BARE)
    for secret, replacement in sorted(replacements, key=lambda r: len(r[0]), reverse=True):
        if secret:
            text = text.replace(secret, replacement)
    return text
