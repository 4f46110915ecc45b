"""Whether a Secret key holds a credential, for the advice of ``secret-value-shared``: a credential copied across
tiers is fixed by issuing one per tier, a setting (a repository URL, a host name, a user name) by declaring it
public (the shareable label) or moving it to a ConfigMap. Advice only: whether a shared value is refused never
depends on this.

Decided from the key's name and, when the value is at hand, its shape (``Shape``, from ``shape_of``, which
``fingerprints.value_shapes`` shows each value to while the Secret is judged): a key named for a credential
(``password``, ``token``, ``tls.key``, ``sshPrivateKey``) is one whatever it holds, and so is any value that is
a URL carrying something secret (a password or token in its user part, a query parameter named for one, a
token-like path segment: a webhook URL). Otherwise a key named for a setting (``username``, ``host``) holds a
setting; a key named for an address (``url``, ``endpoint``, ``server``) holds one when its value is at hand and
carries no secret, and is taken as a credential when the value is not at hand (an audit's listing, whose values
were dropped as they arrived): such URLs often carry one (``postgres://app:...@db``). Any other key holds a
setting only when its value is an address. Where in doubt the advice stays the credential's, which is never
wrong, only heavier.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from urllib.parse import parse_qsl, urlsplit


class Shape(StrEnum):
    """What a value looks like, nothing more: never the value or a part of it."""

    ADDRESS = "address"
    """A URL with a host and nothing secret in it, or a bare host name (``db.example.com:5432``)."""
    SECRET_URL = "secret-url"
    """A URL carrying what looks like a credential: user info (``https://<token>@github.com``), a query parameter
    named for a credential or holding a token, or a token-like path segment (``hooks.slack.com/services/...``)."""
    OPAQUE = "opaque"
    """Anything else: a password, a key, a JSON document, a user name, ``git@github.com:org/repo.git``."""


CREDENTIAL_WORDS = frozenset({
    "password", "passwd", "pass", "pwd", "passphrase", "passcode", "secret", "secrets", "token", "tokens", "key",
    "keys", "apikey", "privatekey", "credential", "credentials", "creds", "cred", "auth", "authorization",
    "bearer", "jwt", "cookie", "session", "salt", "hmac", "signature", "sig", "otp", "pin", "seed", "webhook",
    "hook", "dsn", "connection", "connectionstring", "conn", "kubeconfig", "dockerconfigjson", "dockercfg",
    "htpasswd", "keystore", "pem", "p12", "pfx", "jks", "sas", "signing", "encryption", "cipher", "license",
})
"""Words of a key's name that make it a credential whatever else the name says (``tls.key``, ``api-token``,
``DB_PASSWORD``, ``client_secret``, Kubernetes' ``.dockerconfigjson``, ``ssh-privatekey``, nginx's ``auth``)."""
SETTING_WORDS = frozenset({
    "host", "hosts", "hostname", "domain", "port", "username", "user", "login", "email", "mail", "region", "zone",
    "bucket", "project", "database", "db", "dbname", "namespace", "cluster", "tenant", "account", "org",
    "organization", "name", "id", "issuer", "audience", "type", "path", "branch", "ref", "revision",
})
"""Words of a name that hold a setting, which a URL with a secret in it does not usually fill."""
ADDRESS_WORDS = frozenset({"url", "urls", "uri", "endpoint", "endpoints", "address", "addr", "server", "servers",
                           "repository", "repo", "registry", "proxy"})
"""Words of a name for an address: a setting (Argo CD's repository ``url``), unless the URL carries a secret,
which only its value tells."""

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_HOST = re.compile(r"(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]|"
                   r"[0-9]{1,3}(?:\.[0-9]{1,3}){3})(?::[0-9]{1,5})?")
"""A host name with at least one dot (``db.prod.example.com``) or an IPv4 address, with an optional port."""
MAX_ADDRESS = 2048
TOKEN_LENGTH = 16
"""A path segment, user name or query parameter this long that mixes letters and digits looks generated."""


def words(name: str) -> list[str]:
    """A key's name as lower-case words: ``sshPrivateKey`` -> ssh, private, key; ``DB_PASSWORD`` -> db, password;
    ``tls.key`` -> tls, key. Also each camel-case run joined (``apiKey`` -> apikey)."""
    found: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        pieces = [p.lower() for p in _WORD.findall(part)]
        found += pieces
        if len(pieces) > 1:
            found.append("".join(pieces))
    return found


def is_credential(key: str, shape: Shape | None) -> bool:
    """Whether ``key`` holds a credential (``shape``: its value's, or None when the value is not at hand)."""
    said = set(words(key))
    if said & CREDENTIAL_WORDS or shape is Shape.SECRET_URL:
        return True
    if said & ADDRESS_WORDS:
        return shape is None  # DATABASE_URL: only the value tells whether a password is in it
    if said & SETTING_WORDS:
        return False
    return shape is not Shape.ADDRESS


def shape_of(value: bytes) -> Shape:
    """What ``value`` looks like; it is read here and kept nowhere."""
    try:
        text = value.decode("ascii").strip()
    except UnicodeDecodeError:
        return Shape.OPAQUE
    if not text or len(text) > MAX_ADDRESS or any(c.isspace() for c in text):
        return Shape.OPAQUE
    if "://" not in text:
        return Shape.ADDRESS if _HOST.fullmatch(text) else Shape.OPAQUE
    try:
        parts = urlsplit(text)
        host, _ = parts.hostname, parts.port  # a port that is not a number raises
    except ValueError:
        return Shape.OPAQUE
    if not parts.scheme or not host:
        return Shape.OPAQUE
    if parts.password is not None or (parts.username is not None and _generated(parts.username)):
        return Shape.SECRET_URL
    parameters = parse_qsl(parts.query, keep_blank_values=True) + parse_qsl(parts.fragment, keep_blank_values=True)
    if _secret_parameters(parameters) or any(_generated(s) for s in parts.path.split("/")):
        return Shape.SECRET_URL
    if (parts.query or parts.fragment) and not parameters:
        return Shape.SECRET_URL  # not name=value pairs: nothing says what they hold
    return Shape.ADDRESS


def _secret_parameters(parameters: Iterable[tuple[str, str]]) -> bool:
    return any(set(words(name)) & CREDENTIAL_WORDS or _generated(name) or _generated(value)
               for name, value in parameters)


def _generated(text: str) -> bool:
    """Long, with letters and digits: a token (Slack's webhook path, a GitHub token) rather than a name."""
    return len(text) >= TOKEN_LENGTH and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)
