"""Holder identity from OpenID Connect bearer tokens, checked against the IdP's JWKS.

Holders act through the provincial platform's app; their requests carry a JWT (ID or access
token) from the platform's unified identity provider (统一身份认证). `TokenVerifier` checks the
JWS signature with PyJWT against keys from the configured JWKS (selected by `kid`, algorithm
from an asymmetric allow-list and bound to the key), then the issuer, the audience and the
times (expiry, not-before, issued-at, with a small clock skew). See docs/oidc.md.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from certlib.errors import ConfigurationError, InputError, TrustError, UnavailableError
from certlib.hosts import is_loopback

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "HolderIdentity",
    "IdentityProviderUnavailable",
    "MalformedToken",
    "OidcSettings",
    "TokenAlgorithmRefused",
    "TokenAudienceInvalid",
    "TokenError",
    "TokenExpired",
    "TokenIssuerInvalid",
    "TokenNotYetValid",
    "TokenSignatureInvalid",
    "TokenVerifier",
    "UnknownTokenKey",
]

_log = logging.getLogger(__name__)

SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""JWS algorithms a verifier may allow: asymmetric only, so never `none` and never HS*."""

MAX_TOKEN_LENGTH = 16 * 1024
"""Longer tokens are refused before any parsing."""
MAX_JWKS_BYTES = 1024 * 1024
"""Larger JWKS or discovery documents are refused."""
MIN_RSA_BITS = 2048
"""RSA keys shorter than this in the JWKS are ignored."""
MAX_SUBJECT_LENGTH = 255
"""OpenID Connect Core 1.0 section 2: `sub` is at most 255 ASCII characters."""

_EC_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_OKP_CURVES = frozenset({"Ed25519", "Ed448"})
_MAX_CLOCK_SKEW = timedelta(minutes=5)
_NUMERIC_DATE_MAX = 253402300799  # 9999-12-31T23:59:59Z
_DISCOVERY_PATH = "/.well-known/openid-configuration"
_MASK = "<masked>"


# -- errors --------------------------------------------------------------------------------


class TokenError(TrustError):
    """A bearer token that cannot be trusted; the daemon answers UNAUTHENTICATED."""

    code = "TOKEN_INVALID"


class MalformedToken(TokenError):
    """Not a compact JWS, a header or payload that is not a JSON object, or a bad claim."""

    code = "TOKEN_MALFORMED"


class TokenAlgorithmRefused(TokenError):
    """The header's `alg` is missing, not allowed, or does not fit the selected key."""

    code = "TOKEN_ALGORITHM_REFUSED"


class UnknownTokenKey(TokenError):
    """No key in the identity provider's JWKS matches the token's `kid`."""

    code = "TOKEN_KEY_UNKNOWN"


class TokenSignatureInvalid(TokenError):
    """The signature does not verify with the identity provider's key."""

    code = "TOKEN_SIGNATURE_INVALID"


class TokenIssuerInvalid(TokenError):
    """The `iss` claim is not the configured issuer."""

    code = "TOKEN_ISSUER_INVALID"


class TokenAudienceInvalid(TokenError):
    """The `aud` claim does not name the configured audience."""

    code = "TOKEN_AUDIENCE_INVALID"


class TokenExpired(TokenError):
    """The token is past `exp`, or older than the configured maximum age."""

    code = "TOKEN_EXPIRED"


class TokenNotYetValid(TokenError):
    """The token's `nbf` or `iat` lies in the future, beyond the clock skew."""

    code = "TOKEN_NOT_YET_VALID"


class IdentityProviderUnavailable(UnavailableError):
    """The JWKS cannot be fetched and no usable cached keys remain; retrying may help."""

    code = "IDP_UNAVAILABLE"


# -- settings ------------------------------------------------------------------------------


def _url_problem(url: str) -> str | None:
    """Why `url` may not be fetched (https only, plain http to loopback only), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a URL"
    if not host:
        return "has no host"
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host)):
        return None
    return "must use https (plain http only to a loopback address)"


def _seconds(table: Mapping[str, object], key: str, default: timedelta | None) -> Any:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"oidc.{key} must be a number of seconds")
    return timedelta(seconds=value)


def _text(table: Mapping[str, object], key: str, default: str | None) -> Any:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, str):
        raise ConfigurationError(f"oidc.{key} must be a string")
    return value


@dataclass(frozen=True)
class OidcSettings:
    """How to check holders' tokens: the identity provider, its keys and the checks' limits."""

    issuer: str
    """Expected `iss`, exactly as the IdP writes it (e.g. `https://idp.example.gov.cn/oidc`)."""
    audience: str
    """This service's client id at the IdP: the token's `aud` must contain it."""
    jwks_url: str | None = None
    """The IdP's JWKS; with neither this nor `jwks_file`, found by OIDC discovery at `issuer`."""
    jwks_file: Path | None = None
    """A JWKS file instead of a URL, for air-gapped deployments (re-read like a URL)."""
    jwks_ca_file: Path | None = None
    """PEM CA bundle for the IdP's TLS certificate; None: the system's trust store."""
    algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA")
    """Allowed JWS algorithms, a subset of `SUPPORTED_ALGORITHMS`."""
    clock_skew: timedelta = timedelta(seconds=60)
    """Tolerance for `exp`, `nbf` and `iat` (at most five minutes)."""
    max_token_age: timedelta | None = None
    """If set, tokens whose `iat` is older than this are refused as expired."""
    jwks_refresh: timedelta = timedelta(minutes=10)
    """Cached keys older than this are refreshed (in the background of a verify call)."""
    jwks_min_refetch: timedelta = timedelta(seconds=30)
    """At most one fetch per this interval, whatever unknown `kid`s arrive."""
    jwks_max_stale: timedelta = timedelta(days=1)
    """Cached keys not confirmed by the IdP for this long are no longer used."""
    http_timeout: timedelta = timedelta(seconds=5)
    """Timeout of one request to the IdP."""
    subject_claim: str = "sub"
    """Claim holding the holder's stable (pseudonymous) identifier."""
    id_number_claim: str | None = None
    """Claim holding the holder's identity number, if the IdP sends one (personal data)."""
    name_claim: str | None = "name"
    """Claim holding the holder's name (personal data); None: ignore names."""

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, str) or not self.issuer.strip():
            raise ConfigurationError("oidc.issuer must be a non-empty string")
        if not isinstance(self.audience, str) or not self.audience.strip():
            raise ConfigurationError("oidc.audience must be a non-empty string")
        if self.jwks_url is not None and self.jwks_file is not None:
            raise ConfigurationError("set oidc.jwks_url or oidc.jwks_file, not both")
        if self.jwks_url is not None and (problem := _url_problem(self.jwks_url)):
            raise ConfigurationError(f"oidc.jwks_url {problem}")
        if (
            self.jwks_url is None
            and self.jwks_file is None
            and (problem := _url_problem(self.issuer))
        ):
            raise ConfigurationError(
                f"oidc.issuer {problem}; for discovery, or set jwks_url or jwks_file"
            )
        if isinstance(self.algorithms, str) or not self.algorithms:
            raise ConfigurationError("oidc.algorithms must be a non-empty list")
        for name in self.algorithms:
            if name not in SUPPORTED_ALGORITHMS:
                raise ConfigurationError(
                    f"oidc.algorithms: {name!r} is not allowed; choose from "
                    + ", ".join(sorted(SUPPORTED_ALGORITHMS))
                )
        if not timedelta(0) <= self.clock_skew <= _MAX_CLOCK_SKEW:
            raise ConfigurationError("oidc.clock_skew must be between 0 and 300 seconds")
        if self.max_token_age is not None and self.max_token_age <= timedelta(0):
            raise ConfigurationError("oidc.max_token_age must be positive")
        for key in ("jwks_refresh", "jwks_min_refetch"):
            if getattr(self, key) < timedelta(0):
                raise ConfigurationError(f"oidc.{key} must not be negative")
        if self.jwks_max_stale < self.jwks_refresh:
            raise ConfigurationError("oidc.jwks_max_stale must be at least oidc.jwks_refresh")
        if self.http_timeout <= timedelta(0):
            raise ConfigurationError("oidc.http_timeout must be positive")
        if not self.subject_claim:
            raise ConfigurationError("oidc.subject_claim must be a claim name")
        if self.id_number_claim is not None and self.id_number_claim == self.subject_claim:
            raise ConfigurationError(
                "oidc.id_number_claim may not be the subject claim: subjects are not masked"
            )

    @classmethod
    def from_mapping(cls, table: Mapping[str, object]) -> OidcSettings:
        """Settings from a TOML `[oidc]` table; durations are given in seconds (`*_seconds`)."""
        known = {
            "issuer", "audience", "jwks_url", "jwks_file", "jwks_ca_file", "algorithms",
            "clock_skew_seconds", "max_token_age_seconds", "jwks_refresh_seconds",
            "jwks_min_refetch_seconds", "jwks_max_stale_seconds", "http_timeout_seconds",
            "subject_claim", "id_number_claim", "name_claim",
        }  # fmt: skip
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigurationError("unknown oidc settings: " + ", ".join(unknown))
        for key in ("issuer", "audience"):
            if key not in table:
                raise ConfigurationError(f"oidc.{key} is required")
        algorithms = table.get("algorithms", list(cls.algorithms))
        if not isinstance(algorithms, list) or not all(isinstance(a, str) for a in algorithms):
            raise ConfigurationError("oidc.algorithms must be a list of strings")
        jwks_file = _text(table, "jwks_file", None)
        ca_file = _text(table, "jwks_ca_file", None)
        return cls(
            issuer=_text(table, "issuer", None),
            audience=_text(table, "audience", None),
            jwks_url=_text(table, "jwks_url", None),
            jwks_file=Path(jwks_file) if jwks_file is not None else None,
            jwks_ca_file=Path(ca_file) if ca_file is not None else None,
            algorithms=tuple(algorithms),
            clock_skew=_seconds(table, "clock_skew_seconds", cls.clock_skew),
            max_token_age=_seconds(table, "max_token_age_seconds", None),
            jwks_refresh=_seconds(table, "jwks_refresh_seconds", cls.jwks_refresh),
            jwks_min_refetch=_seconds(table, "jwks_min_refetch_seconds", cls.jwks_min_refetch),
            jwks_max_stale=_seconds(table, "jwks_max_stale_seconds", cls.jwks_max_stale),
            http_timeout=_seconds(table, "http_timeout_seconds", cls.http_timeout),
            subject_claim=_text(table, "subject_claim", cls.subject_claim),
            id_number_claim=_text(table, "id_number_claim", None),
            name_claim=_text(table, "name_claim", cls.name_claim),
        )


# -- the verified identity -----------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class HolderIdentity:
    """A holder authenticated by a verified token; personal fields are masked in its repr."""

    subject: str
    """The holder's stable identifier at the IdP (the configured subject claim)."""
    issuer: str
    audience: tuple[str, ...]
    """Every audience the token names (the configured one among them)."""
    expires_at: datetime
    issued_at: datetime
    id_number: str | None = None
    """The identity number from the configured claim, if any (personal data)."""
    name: str | None = None
    """The holder's name, if the token carries one (personal data)."""
    _claims: Mapping[str, object] = field(default_factory=dict, compare=False)

    def claim(self, name: str) -> object:
        """A copy of claim `name` of the verified token, or None if absent."""
        return copy.deepcopy(self._claims.get(name))

    def __repr__(self) -> str:
        id_number = None if self.id_number is None else _MASK
        name = None if self.name is None else _MASK
        return (
            f"HolderIdentity(subject={self.subject!r}, issuer={self.issuer!r}, "
            f"audience={self.audience!r}, expires_at={self.expires_at.isoformat()!r}, "
            f"issued_at={self.issued_at.isoformat()!r}, id_number={id_number}, name={name})"
        )

    __str__ = __repr__


# -- the key cache -------------------------------------------------------------------------


class _FetchError(Exception):
    """Why the key set could not be obtained; the message names no secret or claim."""


def _algorithm_fits(algorithm: str, kty: object, crv: object) -> bool:
    if algorithm.startswith(("RS", "PS")):
        return kty == "RSA"
    if algorithm in _EC_CURVE:
        return kty == "EC" and crv == _EC_CURVE[algorithm]
    return algorithm == "EdDSA" and kty == "OKP" and crv in _OKP_CURVES


@dataclass(frozen=True)
class _KeySet:
    """The IdP's signature keys: kid -> one PyJWK per allowed algorithm it may verify."""

    by_kid: Mapping[str | None, tuple[Mapping[str, jwt.PyJWK], ...]]
    count: int

    @classmethod
    def parse(cls, body: bytes, algorithms: tuple[str, ...]) -> _KeySet:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise _FetchError("the JWKS is not JSON") from None
        members = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(members, list):
            raise _FetchError("the JWKS has no 'keys' list")
        by_kid: dict[str | None, list[Mapping[str, jwt.PyJWK]]] = {}
        count = 0
        for member in members:
            usable = cls._usable(member, algorithms)
            if usable:
                by_kid.setdefault(member.get("kid"), []).append(MappingProxyType(usable))
                count += 1
        if not count:
            raise _FetchError("the JWKS has no usable signature key")
        return cls(MappingProxyType({k: tuple(v) for k, v in by_kid.items()}), count)

    @staticmethod
    def _usable(member: object, algorithms: tuple[str, ...]) -> dict[str, jwt.PyJWK]:
        """The PyJWK for each allowed algorithm this JWK may verify; empty if none."""
        if not isinstance(member, dict):
            return {}
        kid = member.get("kid")
        if kid is not None and not isinstance(kid, str):
            return {}
        if member.get("use", "sig") != "sig":
            return {}
        key_ops = member.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            return {}
        if "d" in member or "p" in member or "k" in member:
            _log.warning("JWKS key %r carries private or secret material; ignored", kid)
            return {}
        declared = member.get("alg")
        usable: dict[str, jwt.PyJWK] = {}
        for algorithm in algorithms:
            if declared is not None and declared != algorithm:
                continue
            if not _algorithm_fits(algorithm, member.get("kty"), member.get("crv")):
                continue
            try:
                key = jwt.PyJWK(member, algorithm)
            except (jwt.PyJWTError, ValueError, TypeError):
                return {}
            if isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size < MIN_RSA_BITS:
                _log.warning("JWKS key %r is a short RSA key; ignored", kid)
                return {}
            usable[algorithm] = key
        return usable

    def lookup(self, kid: str | None, algorithm: str) -> list[jwt.PyJWK] | None:
        """Keys that may verify `algorithm` under `kid`; None if the kid is unknown."""
        if kid is None:
            if self.count != 1:
                return None
            candidates = next(iter(self.by_kid.values()))
        else:
            found = self.by_kid.get(kid)
            if found is None:
                return None
            candidates = found
        keys = [usable[algorithm] for usable in candidates if algorithm in usable]
        if not keys:
            raise TokenAlgorithmRefused("the token's algorithm does not fit its key")
        return keys


class _NoInsecureRedirect(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to URLs the settings would accept (https, or http to loopback)."""

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if problem := _url_problem(newurl):
            raise _FetchError(f"the identity provider redirected to a URL that {problem}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _KeyCache:
    """Thread-safe JWKS cache: one fetch at a time, rate-limited, last good keys kept."""

    def __init__(self, settings: OidcSettings) -> None:
        self._settings = settings
        self._state = threading.Lock()
        self._fetching = threading.Lock()
        self._keys: _KeySet | None = None
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._attempts = 0  # completed fetch attempts, successful or not
        self._jwks_url = settings.jwks_url
        try:
            context = ssl.create_default_context(
                cafile=str(settings.jwks_ca_file) if settings.jwks_ca_file else None
            )
        except (OSError, ssl.SSLError):
            raise ConfigurationError(
                "oidc.jwks_ca_file cannot be read as PEM CA certificates"
            ) from None
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _NoInsecureRedirect()
        )

    def keys_for(self, kid: str | None, algorithm: str) -> list[jwt.PyJWK]:
        """Keys to verify a token naming `kid` and `algorithm`, fetching when needed."""
        keys, attempts = self._current()
        found = keys.lookup(kid, algorithm)
        if found is None:
            # An unknown kid: the IdP may have rotated; refetch, at most once per interval.
            problem = self._fetch(wait=True, after=attempts)
            latest = self._snapshot()[0]
            found = latest.lookup(kid, algorithm) if latest is not None else None
            if found is None and problem is not None:
                raise IdentityProviderUnavailable(
                    "the token's key is not cached and the identity provider is unreachable"
                )
        if found is None:
            raise UnknownTokenKey("no key of the identity provider matches the token's key id")
        return found

    def refresh(self) -> None:
        """Fetch the key set now, ignoring the rate limit; raise if that fails."""
        problem = self._fetch(wait=True, after=None)
        if problem is not None:
            raise IdentityProviderUnavailable(
                f"cannot fetch the identity provider's keys: {problem}"
            )

    def _snapshot(self) -> tuple[_KeySet | None, float, int]:
        with self._state:
            return self._keys, self._fetched_at, self._attempts

    def _current(self) -> tuple[_KeySet, int]:
        """Usable cached keys (refreshing as due) and the count of completed fetch attempts."""
        settings = self._settings
        keys, fetched, attempts = self._snapshot()
        age = time.monotonic() - fetched
        too_old = age > settings.jwks_max_stale.total_seconds()
        if keys is None or too_old or age >= settings.jwks_refresh.total_seconds():
            # Without usable keys, wait for the fetch; otherwise leave it to whichever thread
            # gets there first and go on with the cached keys.
            self._fetch(wait=keys is None or too_old, after=attempts)
            keys, fetched, attempts = self._snapshot()
        if keys is None:
            raise IdentityProviderUnavailable(
                "the identity provider's keys cannot be fetched and none are cached"
            )
        if time.monotonic() - fetched > settings.jwks_max_stale.total_seconds():
            raise IdentityProviderUnavailable(
                "the identity provider's keys could not be refreshed for too long"
            )
        return keys, attempts

    def _fetch(self, *, wait: bool, after: int | None) -> str | None:
        """Fetch and install the key set; the reason if that failed, else None.

        Skipped (None) when rate-limited, or when an attempt completed since the caller saw
        `after` completed attempts; `after` None fetches regardless.
        """
        if not self._fetching.acquire(blocking=wait):
            return None
        try:
            with self._state:
                if after is not None:
                    if self._attempts != after:
                        return None  # another thread fetched while this one waited
                    since = time.monotonic() - self._attempted_at
                    if since < self._settings.jwks_min_refetch.total_seconds():
                        return None
                self._attempted_at = time.monotonic()
            keys: _KeySet | None = None
            problem: str | None = None
            try:
                keys = _KeySet.parse(self._load(), self._settings.algorithms)
            except _FetchError as error:
                problem = str(error)
                _log.warning("identity provider keys not refreshed: %s", problem)
            with self._state:
                if keys is not None:
                    self._keys = keys
                    self._fetched_at = time.monotonic()
                self._attempts += 1
            return problem
        finally:
            self._fetching.release()

    def _load(self) -> bytes:
        if self._settings.jwks_file is not None:
            try:
                with self._settings.jwks_file.open("rb") as stream:
                    body = stream.read(MAX_JWKS_BYTES + 1)
            except OSError as error:
                raise _FetchError(f"cannot read the JWKS file ({error.strerror})") from None
            if len(body) > MAX_JWKS_BYTES:
                raise _FetchError("the JWKS file is too large")
            return body
        if self._jwks_url is None:
            self._jwks_url = self._discover()
        return self._get(self._jwks_url)

    def _discover(self) -> str:
        url = self._settings.issuer.rstrip("/") + _DISCOVERY_PATH
        try:
            document = json.loads(self._get(url))
        except (ValueError, RecursionError):
            raise _FetchError("the discovery document is not JSON") from None
        if not isinstance(document, dict) or document.get("issuer") != self._settings.issuer:
            raise _FetchError("the discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise _FetchError("the discovery document has no jwks_uri")
        if problem := _url_problem(jwks_uri):
            raise _FetchError(f"the discovered jwks_uri {problem}")
        return jwks_uri

    def _get(self, url: str) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - URL checked by _url_problem
            url, headers={"Accept": "application/json", "User-Agent": "certlib-oidc"}
        )
        timeout = self._settings.http_timeout.total_seconds()
        try:
            with self._opener.open(request, timeout=timeout) as response:
                if response.status != 200:
                    raise _FetchError(f"the identity provider answered HTTP {response.status}")
                body: bytes = response.read(MAX_JWKS_BYTES + 1)
        except urllib.error.HTTPError as error:
            raise _FetchError(f"the identity provider answered HTTP {error.code}") from None
        except urllib.error.URLError as error:
            raise _FetchError(f"the identity provider is unreachable ({error.reason})") from None
        except (OSError, ValueError) as error:
            raise _FetchError(f"the identity provider is unreachable ({error})") from None
        if len(body) > MAX_JWKS_BYTES:
            raise _FetchError("the identity provider's document is too large")
        return body


# -- the verifier --------------------------------------------------------------------------


def _numeric_date(claims: Mapping[str, object], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise MalformedToken(f"the token has no {name} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedToken(f"the token's {name} claim is not a number")
    if not 0 <= value <= _NUMERIC_DATE_MAX:  # also refuses NaN
        raise MalformedToken(f"the token's {name} claim is out of range")
    return float(value)


def _optional_text(claims: Mapping[str, object], name: str | None) -> str | None:
    if name is None:
        return None
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedToken(f"the token's {name} claim is not a string")
    return value.strip() or None


class TokenVerifier:
    """Checks holders' bearer tokens against one identity provider; safe across threads."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._keys = _KeyCache(settings)

    def refresh_keys(self) -> None:
        """Fetch the IdP's keys now (e.g. at start-up); IdentityProviderUnavailable on failure."""
        self._keys.refresh()

    def verify(self, token: str, *, now: datetime | None = None) -> HolderIdentity:
        """The holder a token authenticates; a TokenError or IdentityProviderUnavailable if not."""
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            raise InputError("now must be an aware datetime")
        if not isinstance(token, str) or not token:
            raise MalformedToken("the token must be a non-empty string")
        if len(token) > MAX_TOKEN_LENGTH:
            raise MalformedToken(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
        if not token.isascii():
            raise MalformedToken("the token is not a compact JWS")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise MalformedToken("the token is not a compact JWS") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.settings.algorithms:
            raise TokenAlgorithmRefused("the token's algorithm is not allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise MalformedToken("the token's key id is not a string")
        claims = self._verified_claims(token, kid, algorithm)
        return self._identity(claims, now)

    def _verified_claims(self, token: str, kid: str | None, algorithm: str) -> dict[str, Any]:
        for key in self._keys.keys_for(kid, algorithm):
            try:
                return jwt.decode(
                    token,
                    key=key,
                    algorithms=list(self.settings.algorithms),
                    options={
                        "verify_signature": True,
                        "verify_aud": False,
                        "verify_iss": False,
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_sub": False,
                        "verify_jti": False,
                        "enforce_minimum_key_length": True,
                    },
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidAlgorithmError:
                raise TokenAlgorithmRefused("the token's algorithm does not fit its key") from None
            except jwt.InvalidKeyError:
                raise TokenSignatureInvalid("the token's key is not acceptable") from None
            except jwt.PyJWTError:
                raise MalformedToken("the token's header or payload is malformed") from None
        raise TokenSignatureInvalid("the token's signature does not verify")

    def _identity(self, claims: dict[str, Any], now: datetime) -> HolderIdentity:
        settings = self.settings
        issuer = claims.get("iss")
        if not isinstance(issuer, str):
            raise MalformedToken("the token has no iss claim")
        if issuer != settings.issuer:
            raise TokenIssuerInvalid("the token's issuer is not the configured identity provider")
        audience = claims.get("aud")
        if isinstance(audience, str):
            audiences: tuple[str, ...] = (audience,)
        elif isinstance(audience, list) and audience and all(isinstance(a, str) for a in audience):
            audiences = tuple(audience)
        else:
            raise MalformedToken("the token's aud claim is missing or malformed")
        if settings.audience not in audiences:
            raise TokenAudienceInvalid("the token is not meant for this service")

        instant = now.timestamp()
        skew = settings.clock_skew.total_seconds()
        expires = _numeric_date(claims, "exp", required=True)
        issued = _numeric_date(claims, "iat", required=True)
        not_before = _numeric_date(claims, "nbf", required=False)
        assert expires is not None and issued is not None
        if expires <= instant - skew:
            raise TokenExpired("the token has expired")
        if not_before is not None and not_before > instant + skew:
            raise TokenNotYetValid("the token is not valid yet (nbf)")
        if issued > instant + skew:
            raise TokenNotYetValid("the token was issued in the future (iat)")
        max_age = settings.max_token_age
        if max_age is not None and instant - issued > max_age.total_seconds() + skew:
            raise TokenExpired("the token is older than the maximum token age")

        subject = claims.get(settings.subject_claim)
        if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_LENGTH:
            raise MalformedToken(f"the token's {settings.subject_claim} claim is not a subject")
        return HolderIdentity(
            subject=subject,
            issuer=issuer,
            audience=audiences,
            expires_at=datetime.fromtimestamp(expires, UTC),
            issued_at=datetime.fromtimestamp(issued, UTC),
            id_number=_optional_text(claims, settings.id_number_claim),
            name=_optional_text(claims, settings.name_claim),
            _claims=MappingProxyType(copy.deepcopy(claims)),
        )
