"""Holder bearer tokens: every check of certlib.oidc against a real local identity provider."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from jwt.api_jws import PyJWS

from certlib.errors import ConfigurationError, InputError, TrustError, UnavailableError
from certlib.oidc import (
    HolderIdentity,
    IdentityProviderUnavailable,
    OidcSettings,
    TokenError,
    TokenVerifier,
)
from tests.idp import LocalIdentityProvider, new_private_key, public_jwk
from tests.samples import LI_SI, ZHANG_SAN

AUDIENCE = "certd-holder-api"
NAME = "张三"


def _settings(idp: LocalIdentityProvider, **changes: Any) -> OidcSettings:
    base = OidcSettings(
        issuer=idp.issuer, audience=AUDIENCE, jwks_url=idp.jwks_url, id_number_claim="id_number"
    )
    return replace(base, **changes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    segments = [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode())]
    return ".".join([*segments, _b64(signature)])


def _claims(idp: LocalIdentityProvider, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": idp.issuer,
        "sub": "holder-1",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        **extra,
    }


def _jwks(*keys: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


def _code(verifier: TokenVerifier, token: str, **kwargs: Any) -> str:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token, **kwargs)
    return caught.value.code


@pytest.fixture(scope="module")
def idp() -> Iterator[LocalIdentityProvider]:
    """One IdP for the tests that neither rotate its keys nor stop it."""
    with LocalIdentityProvider(algorithms=("RS256", "ES256", "PS256", "EdDSA")) as provider:
        yield provider


@pytest.fixture(scope="module")
def verifier(idp: LocalIdentityProvider) -> TokenVerifier:
    return TokenVerifier(_settings(idp))


@pytest.fixture
def own_idp() -> Iterator[LocalIdentityProvider]:
    """An IdP of the test's own, to rotate or stop."""
    with LocalIdentityProvider() as provider:
        yield provider


# -- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_valid_token_gives_the_holder(
    idp: LocalIdentityProvider, verifier: TokenVerifier, alg: str
) -> None:
    token = idp.mint("holder-1", AUDIENCE, 600, {"id_number": ZHANG_SAN, "name": NAME}, alg=alg)
    identity = verifier.verify(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert identity.subject == "holder-1"
    assert identity.issuer == idp.issuer
    assert identity.audience == (AUDIENCE,)
    assert identity.expires_at == datetime.fromtimestamp(claims["exp"], UTC)
    assert identity.issued_at == datetime.fromtimestamp(claims["iat"], UTC)
    assert identity.id_number == ZHANG_SAN
    assert identity.name == NAME
    assert identity.claim("id_number") == ZHANG_SAN
    assert identity.claim("absent") is None


def test_audience_list_and_optional_personal_claims(
    idp: LocalIdentityProvider, verifier: TokenVerifier
) -> None:
    identity = verifier.verify(idp.mint("holder-2", ["other-client", AUDIENCE]))
    assert identity.audience == ("other-client", AUDIENCE)
    assert identity.id_number is None
    assert identity.name is None
    assert "id_number=None" in repr(identity)


def test_claims_are_a_private_copy(idp: LocalIdentityProvider, verifier: TokenVerifier) -> None:
    identity = verifier.verify(idp.mint("holder-1", AUDIENCE, extra_claims={"roles": ["a"]}))
    roles = identity.claim("roles")
    assert roles == ["a"]
    assert isinstance(roles, list)
    roles.append("admin")
    assert identity.claim("roles") == ["a"]


def test_jwk_without_alg_verifies_each_fitting_allowed_algorithm(
    own_idp: LocalIdentityProvider,
) -> None:
    key = own_idp.add_key("RS256", publish_alg=False)
    verifier = TokenVerifier(_settings(own_idp))
    for alg in ("RS256", "PS256"):
        assert verifier.verify(own_idp.mint("h", AUDIENCE, kid=key.kid, alg=alg)).subject == "h"
    # RS512 fits the key but is not allowed by the settings.
    token = own_idp.mint("h", AUDIENCE, kid=key.kid, alg="RS512")
    assert _code(verifier, token) == "TOKEN_ALGORITHM_REFUSED"


def test_token_without_kid_only_when_the_set_has_one_key(own_idp: LocalIdentityProvider) -> None:
    single = LocalIdentityProvider(algorithms=("ES256",))
    with single:
        key = single.key()
        token = jwt.encode(_claims(single), key.private_key, algorithm="ES256")
        assert TokenVerifier(_settings(single)).verify(token).subject == "holder-1"
    key = own_idp.key()  # own_idp publishes two keys
    token = jwt.encode(_claims(own_idp), key.private_key, algorithm=key.alg)
    assert _code(TokenVerifier(_settings(own_idp)), token) == "TOKEN_KEY_UNKNOWN"


# -- refused claims -------------------------------------------------------------------------


def test_wrong_issuer(idp: LocalIdentityProvider, verifier: TokenVerifier) -> None:
    for issuer in ("https://evil.example", idp.issuer + "/", idp.issuer.upper()):
        token = idp.mint("holder-1", AUDIENCE, extra_claims={"iss": issuer})
        assert _code(verifier, token) == "TOKEN_ISSUER_INVALID"


def test_wrong_audience(idp: LocalIdentityProvider, verifier: TokenVerifier) -> None:
    for audience in ("other-client", ["a", "b"], AUDIENCE.upper()):
        token = idp.mint("holder-1", audience)
        assert _code(verifier, token) == "TOKEN_AUDIENCE_INVALID"


def test_expiry_with_clock_skew(idp: LocalIdentityProvider, verifier: TokenVerifier) -> None:
    assert _code(verifier, idp.mint("h", AUDIENCE, expires_in=-120)) == "TOKEN_EXPIRED"
    assert verifier.verify(idp.mint("h", AUDIENCE, expires_in=-30)).subject == "h"  # within 60 s
    strict = TokenVerifier(_settings(idp, clock_skew=timedelta(0)))
    assert _code(strict, idp.mint("h", AUDIENCE, expires_in=-30)) == "TOKEN_EXPIRED"


def test_now_argument_drives_the_time_checks(
    idp: LocalIdentityProvider, verifier: TokenVerifier
) -> None:
    token = idp.mint("h", AUDIENCE, expires_in=600)
    later = datetime.now(UTC) + timedelta(hours=1)
    earlier = datetime.now(UTC) - timedelta(hours=1)
    assert _code(verifier, token, now=later) == "TOKEN_EXPIRED"
    assert _code(verifier, token, now=earlier) == "TOKEN_NOT_YET_VALID"
    with pytest.raises(InputError, match="aware"):
        verifier.verify(token, now=datetime.now())  # naive: refused


def test_not_yet_valid(idp: LocalIdentityProvider, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert _code(verifier, idp.mint("h", AUDIENCE, 900, {"nbf": now + 300})) == (
        "TOKEN_NOT_YET_VALID"
    )
    assert _code(verifier, idp.mint("h", AUDIENCE, 900, {"iat": now + 300})) == (
        "TOKEN_NOT_YET_VALID"
    )
    assert verifier.verify(idp.mint("h", AUDIENCE, 900, {"nbf": now + 30})).subject == "h"


def test_maximum_token_age(idp: LocalIdentityProvider) -> None:
    verifier = TokenVerifier(_settings(idp, max_token_age=timedelta(minutes=10)))
    old = idp.mint("h", AUDIENCE, 3600, {"iat": int(time.time()) - 1800})
    assert _code(verifier, old) == "TOKEN_EXPIRED"
    assert verifier.verify(idp.mint("h", AUDIENCE, 3600)).subject == "h"


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": None},
        {"iat": None},
        {"iss": None},
        {"aud": None},
        {"sub": None},
        {"sub": ""},
        {"sub": "x" * 256},
        {"sub": 42},
        {"aud": 7},
        {"aud": []},
        {"aud": [AUDIENCE, 3]},
        {"exp": "tomorrow"},
        {"exp": True},
        {"exp": 10**13},
        {"iat": -5},
        {"nbf": "now"},
        {"id_number": 630102198506152311},
        {"name": ["张", "三"]},
    ],
    ids=repr,
)
def test_missing_or_mistyped_claims(
    idp: LocalIdentityProvider, verifier: TokenVerifier, changes: dict[str, Any]
) -> None:
    token = idp.mint("holder-1", AUDIENCE, extra_claims=changes)
    assert _code(verifier, token) == "TOKEN_MALFORMED"


# -- refused signatures and algorithms ------------------------------------------------------


def test_tampered_payload(idp: LocalIdentityProvider, verifier: TokenVerifier) -> None:
    header, payload, signature = idp.mint("holder-1", AUDIENCE).split(".")
    claims = json.loads(_unb64(payload))
    claims["sub"] = "holder-2"
    forged = ".".join([header, _b64(json.dumps(claims).encode()), signature])
    assert _code(verifier, forged) == "TOKEN_SIGNATURE_INVALID"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_tampered_signature(idp: LocalIdentityProvider, verifier: TokenVerifier, alg: str) -> None:
    header, payload, signature = idp.mint("holder-1", AUDIENCE, alg=alg).split(".")
    raw = bytearray(_unb64(signature))
    raw[len(raw) // 2] ^= 0x01
    forged = ".".join([header, payload, _b64(bytes(raw))])
    assert _code(verifier, forged) == "TOKEN_SIGNATURE_INVALID"
    assert _code(verifier, f"{header}.{payload}.") == "TOKEN_SIGNATURE_INVALID"


def test_unknown_kid(idp: LocalIdentityProvider, verifier: TokenVerifier) -> None:
    stranger = new_private_key("ES256")
    token = jwt.encode(_claims(idp), stranger, algorithm="ES256", headers={"kid": "stranger"})
    assert _code(verifier, token) == "TOKEN_KEY_UNKNOWN"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_other_key_under_a_known_kid(
    idp: LocalIdentityProvider, verifier: TokenVerifier, alg: str
) -> None:
    known = idp.key_for(alg)
    impostor = new_private_key(alg)
    token = jwt.encode(_claims(idp), impostor, algorithm=alg, headers={"kid": known.kid})
    assert _code(verifier, token) == "TOKEN_SIGNATURE_INVALID"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "", None])
def test_alg_none(idp: LocalIdentityProvider, verifier: TokenVerifier, alg: str | None) -> None:
    header: dict[str, Any] = {"typ": "JWT", "kid": idp.key_for("RS256").kid}
    if alg is not None:
        header["alg"] = alg
    assert _code(verifier, _compact(header, _claims(idp))) == "TOKEN_ALGORITHM_REFUSED"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_with_the_public_key_as_secret(
    idp: LocalIdentityProvider, verifier: TokenVerifier, alg: str
) -> None:
    """The classic algorithm confusion: HS* keyed with the IdP's published public key."""
    key = idp.key_for("RS256")
    header = {"alg": alg, "typ": "JWT", "kid": key.kid}
    unsigned = _compact(header, _claims(idp)).rsplit(".", 1)[0]
    digest = getattr(hashlib, "sha" + alg[2:])
    for secret in (key.public_pem(), json.dumps(key.jwk()).encode(), _unb64(key.jwk()["n"])):
        mac = hmac.new(secret, unsigned.encode(), digest).digest()
        assert _code(verifier, f"{unsigned}.{_b64(mac)}") == "TOKEN_ALGORITHM_REFUSED"


def test_algorithm_must_fit_the_key_under_its_kid(
    idp: LocalIdentityProvider, verifier: TokenVerifier
) -> None:
    rsa_key, ec_key = idp.key_for("RS256"), idp.key_for("ES256")
    # An EC signature presented under the RSA key's kid, and RSA-PSS under a key published as RS256.
    ec_token = jwt.encode(
        _claims(idp), ec_key.private_key, algorithm="ES256", headers={"kid": rsa_key.kid}
    )
    pss_token = jwt.encode(
        _claims(idp), rsa_key.private_key, algorithm="PS256", headers={"kid": rsa_key.kid}
    )
    assert _code(verifier, ec_token) == "TOKEN_ALGORITHM_REFUSED"
    assert _code(verifier, pss_token) == "TOKEN_ALGORITHM_REFUSED"


def test_algorithm_outside_the_allow_list(idp: LocalIdentityProvider) -> None:
    only_ec = TokenVerifier(_settings(idp, algorithms=("ES256",)))
    assert only_ec.verify(idp.mint("h", AUDIENCE, alg="ES256")).subject == "h"
    assert _code(only_ec, idp.mint("h", AUDIENCE, alg="RS256")) == "TOKEN_ALGORITHM_REFUSED"


def _garbage(idp: LocalIdentityProvider) -> list[str]:
    kid = idp.key_for("ES256").kid
    good = idp.mint("holder-1", AUDIENCE, alg="ES256")
    header, payload, signature = good.split(".")
    key = idp.key_for("ES256").private_key
    not_json = PyJWS().encode(b"not json", key, algorithm="ES256", headers={"kid": kid})
    array = PyJWS().encode(b"[1, 2]", key, algorithm="ES256", headers={"kid": kid})
    return [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "....",
        "..",
        f"{header}.{payload}",
        f"{header}.{payload}.{signature}.extra",
        f"{header}.{payload}.{signature}!",
        f"{_b64(b'not json')}.{payload}.{signature}",
        f"{_b64(b'[1]')}.{payload}.{signature}",
        f"{_b64(json.dumps({'alg': 'ES256', 'kid': 5}).encode())}.{payload}.{signature}",
        f"{_b64(json.dumps({'alg': 'ES256', 'kid': kid, 'crit': ['exp']}).encode())}"
        f".{payload}.{signature}",
        "Bearer " + good,
        good + " ",
        "令牌." + good,
        "eyJ" + "A" * 20000,
        not_json,
        array,
    ]


def test_garbage_strings(idp: LocalIdentityProvider, verifier: TokenVerifier) -> None:
    for text in _garbage(idp):
        assert _code(verifier, text) == "TOKEN_MALFORMED", text[:80]
    with pytest.raises(TokenError):
        verifier.verify(b"bytes are not a token")  # type: ignore[arg-type]


def test_oversized_token_refused_before_parsing(
    idp: LocalIdentityProvider, verifier: TokenVerifier
) -> None:
    fits = idp.mint("h", AUDIENCE, extra_claims={"pad": "x" * 10_000})
    assert verifier.verify(fits).subject == "h"
    huge = idp.mint("h", AUDIENCE, extra_claims={"pad": "x" * 20_000})
    assert _code(verifier, huge) == "TOKEN_MALFORMED"


# -- the key set: rotation, rate limit, outage ---------------------------------------------


def test_rotation_is_picked_up_through_the_unknown_kid(own_idp: LocalIdentityProvider) -> None:
    verifier = TokenVerifier(_settings(own_idp, jwks_min_refetch=timedelta(0)))
    old = own_idp.mint("h", AUDIENCE)
    assert verifier.verify(old).subject == "h"
    assert own_idp.jwks_requests == 1
    assert verifier.verify(own_idp.mint("h", AUDIENCE)).subject == "h"
    assert own_idp.jwks_requests == 1  # cached

    own_idp.rotate("ES256")
    assert verifier.verify(own_idp.mint("h", AUDIENCE)).subject == "h"
    assert own_idp.jwks_requests == 2
    # The old key was unpublished: its tokens no longer verify once the set is refetched.
    assert _code(verifier, old) == "TOKEN_KEY_UNKNOWN"
    assert own_idp.jwks_requests == 3


def test_unknown_kids_do_not_hammer_the_idp(own_idp: LocalIdentityProvider) -> None:
    verifier = TokenVerifier(_settings(own_idp, jwks_min_refetch=timedelta(hours=1)))
    assert verifier.verify(own_idp.mint("h", AUDIENCE)).subject == "h"
    stranger = new_private_key("ES256")
    for i in range(20):
        token = jwt.encode(
            _claims(own_idp), stranger, algorithm="ES256", headers={"kid": f"random-{i}"}
        )
        assert _code(verifier, token) == "TOKEN_KEY_UNKNOWN"
    assert own_idp.jwks_requests == 1
    # A rotation inside the interval is seen only after it.
    own_idp.rotate("RS256")
    assert _code(verifier, own_idp.mint("h", AUDIENCE)) == "TOKEN_KEY_UNKNOWN"
    verifier.refresh_keys()
    assert verifier.verify(own_idp.mint("h", AUDIENCE)).subject == "h"


def test_periodic_refresh(own_idp: LocalIdentityProvider) -> None:
    verifier = TokenVerifier(
        _settings(own_idp, jwks_refresh=timedelta(seconds=0.2), jwks_min_refetch=timedelta(0))
    )
    token = own_idp.mint("h", AUDIENCE)
    verifier.verify(token)
    verifier.verify(token)
    assert own_idp.jwks_requests == 1
    time.sleep(0.3)
    verifier.verify(token)
    assert own_idp.jwks_requests == 2


def test_idp_down_with_cached_keys(
    own_idp: LocalIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = TokenVerifier(
        _settings(own_idp, jwks_refresh=timedelta(0), jwks_min_refetch=timedelta(0))
    )
    token = own_idp.mint("h", AUDIENCE, extra_claims={"id_number": ZHANG_SAN})
    assert verifier.verify(token).subject == "h"
    own_idp.stop()
    with caplog.at_level(logging.WARNING, logger="certlib.oidc"):
        for _ in range(3):  # every call tries to refresh, fails, and keeps the last good keys
            assert verifier.verify(token).subject == "h"
    assert "unreachable" in caplog.text
    assert ZHANG_SAN not in caplog.text
    # A kid it has never seen cannot be checked while the IdP is down: try again later.
    stranger = jwt.encode(
        _claims(own_idp), new_private_key("ES256"), algorithm="ES256", headers={"kid": "new"}
    )
    with pytest.raises(IdentityProviderUnavailable):
        verifier.verify(stranger)
    own_idp.start()
    assert verifier.verify(own_idp.mint("h", AUDIENCE)).subject == "h"


def test_idp_down_without_cached_keys(own_idp: LocalIdentityProvider) -> None:
    verifier = TokenVerifier(_settings(own_idp, jwks_min_refetch=timedelta(0)))
    token = own_idp.mint("h", AUDIENCE)
    own_idp.stop()
    with pytest.raises(IdentityProviderUnavailable) as caught:
        verifier.verify(token)
    assert isinstance(caught.value, UnavailableError)
    assert not isinstance(caught.value, TrustError)
    assert caught.value.code == "IDP_UNAVAILABLE"
    with pytest.raises(IdentityProviderUnavailable):
        verifier.refresh_keys()
    own_idp.start()
    assert verifier.verify(token).subject == "h"


def test_no_hammering_while_the_idp_is_down(own_idp: LocalIdentityProvider) -> None:
    verifier = TokenVerifier(_settings(own_idp, jwks_min_refetch=timedelta(hours=1)))
    own_idp.serve_jwks_body(b"<html>maintenance</html>")
    token = own_idp.mint("h", AUDIENCE)
    for _ in range(5):
        with pytest.raises(IdentityProviderUnavailable):
            verifier.verify(token)
    assert own_idp.jwks_requests == 1


def test_cached_keys_expire_after_max_stale(own_idp: LocalIdentityProvider) -> None:
    verifier = TokenVerifier(
        _settings(
            own_idp,
            jwks_refresh=timedelta(0),
            jwks_min_refetch=timedelta(0),
            jwks_max_stale=timedelta(seconds=1),
        )
    )
    token = own_idp.mint("h", AUDIENCE)
    verifier.verify(token)
    fetched = time.monotonic()
    own_idp.stop()
    verifier.verify(token)  # stale but within the limit
    time.sleep(max(0.0, fetched + 1.1 - time.monotonic()))
    with pytest.raises(IdentityProviderUnavailable):
        verifier.verify(token)
    own_idp.start()
    assert verifier.verify(token).subject == "h"


def test_bad_key_sets_keep_the_last_good_keys(own_idp: LocalIdentityProvider) -> None:
    verifier = TokenVerifier(
        _settings(own_idp, jwks_refresh=timedelta(0), jwks_min_refetch=timedelta(0))
    )
    token = own_idp.mint("h", AUDIENCE)
    verifier.verify(token)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    signing = own_idp.key()
    assert isinstance(signing.private_key, rsa.RSAPrivateKey)
    private_jwk = RSAAlgorithm.to_jwk(signing.private_key, as_dict=True)
    private_jwk.pop("key_ops")
    private_jwk.update({"kid": signing.kid, "use": "sig", "alg": "RS256"})
    bad_sets = [
        b"not json",
        b"[]",
        b'{"keys": "none"}',
        b'{"keys": []}',
        _jwks({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"}),
        _jwks(public_jwk(weak, kid="weak", alg="RS256")),
        _jwks({**public_jwk(new_private_key("ES256"), kid="e", alg="ES256"), "use": "enc"}),
        _jwks({**public_jwk(new_private_key("ES256"), kid="o", alg="ES256"), "key_ops": ["sign"]}),
        _jwks(private_jwk),  # the IdP's own key with its private half: never used
        b"x" * (1024 * 1024 + 1),
    ]
    for body in bad_sets:
        own_idp.serve_jwks_body(body)
        assert verifier.verify(token).subject == "h"
        fresh = TokenVerifier(_settings(own_idp))
        with pytest.raises(IdentityProviderUnavailable):
            fresh.verify(token)


def test_weak_and_non_signature_keys_are_ignored(own_idp: LocalIdentityProvider) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    good = own_idp.key_for("ES256")
    body = {"keys": [public_jwk(weak, kid="weak", alg="RS256"), good.jwk()]}
    own_idp.serve_jwks_body(json.dumps(body).encode())
    verifier = TokenVerifier(_settings(own_idp))
    assert verifier.verify(own_idp.mint("h", AUDIENCE, kid=good.kid)).subject == "h"
    with pytest.warns(jwt.InsecureKeyLengthWarning):
        weak_token = jwt.encode(_claims(own_idp), weak, algorithm="RS256", headers={"kid": "weak"})
    assert _code(verifier, weak_token) == "TOKEN_KEY_UNKNOWN"


def test_jwks_file_for_air_gapped_deployments(
    own_idp: LocalIdentityProvider, tmp_path: Path
) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(own_idp.jwks()))
    verifier = TokenVerifier(
        OidcSettings(
            issuer=own_idp.issuer,
            audience=AUDIENCE,
            jwks_file=jwks_file,
            jwks_min_refetch=timedelta(0),
        )
    )
    own_idp.stop()  # the file is all it needs
    assert verifier.verify(own_idp.mint("h", AUDIENCE)).subject == "h"
    own_idp.rotate("EdDSA")
    assert _code(verifier, own_idp.mint("h", AUDIENCE)) == "TOKEN_KEY_UNKNOWN"
    jwks_file.write_text(json.dumps(own_idp.jwks()))
    assert verifier.verify(own_idp.mint("h", AUDIENCE)).subject == "h"
    missing = TokenVerifier(
        OidcSettings(issuer=own_idp.issuer, audience=AUDIENCE, jwks_file=tmp_path / "absent.json")
    )
    with pytest.raises(IdentityProviderUnavailable):
        missing.verify(own_idp.mint("h", AUDIENCE))


def test_discovery(own_idp: LocalIdentityProvider) -> None:
    discovered = TokenVerifier(OidcSettings(issuer=own_idp.issuer, audience=AUDIENCE))
    assert discovered.verify(own_idp.mint("h", AUDIENCE)).subject == "h"
    assert own_idp.jwks_requests == 1
    # A discovery document that names another issuer is not followed.
    other = TokenVerifier(OidcSettings(issuer=own_idp.issuer + "/", audience=AUDIENCE))
    token = own_idp.mint("h", AUDIENCE, extra_claims={"iss": own_idp.issuer + "/"})
    with pytest.raises(IdentityProviderUnavailable):
        other.verify(token)
    assert own_idp.jwks_requests == 1


def test_https_identity_provider(tmp_path: Path) -> None:
    with LocalIdentityProvider(tls_directory=tmp_path / "tls") as https_idp:
        assert https_idp.issuer.startswith("https://")
        assert https_idp.ca_file is not None
        trusted = TokenVerifier(
            OidcSettings(issuer=https_idp.issuer, audience=AUDIENCE, jwks_ca_file=https_idp.ca_file)
        )
        assert trusted.verify(https_idp.mint("h", AUDIENCE)).subject == "h"
        # Without the test CA, the system trust store does not know the IdP's certificate.
        untrusting = TokenVerifier(OidcSettings(issuer=https_idp.issuer, audience=AUDIENCE))
        with pytest.raises(IdentityProviderUnavailable):
            untrusting.verify(https_idp.mint("h", AUDIENCE))
        assert https_idp.jwks_requests == 1


def test_concurrent_verification_through_a_rotation(own_idp: LocalIdentityProvider) -> None:
    verifier = TokenVerifier(_settings(own_idp, jwks_min_refetch=timedelta(0)))
    before = own_idp.mint("h", AUDIENCE)
    own_idp.add_key("EdDSA")  # published, used after the barrier
    new_kid = own_idp.jwks()["keys"][-1]["kid"]
    verifier.verify(before)
    own_idp.add_key("PS256")  # published after the verifier cached the set
    after = own_idp.mint("h", AUDIENCE, alg="PS256")
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        try:
            barrier.wait()
            for i in range(30):
                token = (before, after)[i % 2]
                assert verifier.verify(token).subject == "h"
            assert verifier.verify(own_idp.mint("h", AUDIENCE, kid=new_kid)).subject == "h"
        except BaseException as error:  # collected and re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert own_idp.jwks_requests == 2  # the unknown PS256 kid made exactly one refetch


# -- personal data -----------------------------------------------------------------------------


def _everything_said(error: BaseException) -> str:
    return "\n".join(
        [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    )


def test_personal_data_never_in_errors_or_repr(
    idp: LocalIdentityProvider, verifier: TokenVerifier
) -> None:
    personal = {"id_number": ZHANG_SAN, "name": NAME}
    identity = verifier.verify(idp.mint("holder-1", AUDIENCE, extra_claims=personal))
    for text in (repr(identity), str(identity), f"{identity}", repr([identity])):
        assert ZHANG_SAN not in text
        assert NAME not in text
        assert "<masked>" in text
    assert isinstance(identity, HolderIdentity)

    now = int(time.time())
    refused = [
        idp.mint("holder-1", "other", extra_claims=personal),
        idp.mint("holder-1", AUDIENCE, extra_claims={**personal, "iss": "https://evil"}),
        idp.mint("holder-1", AUDIENCE, -600, personal),
        idp.mint("holder-1", AUDIENCE, 600, {**personal, "nbf": now + 900}),
        idp.mint("holder-1", AUDIENCE, extra_claims={**personal, "exp": ZHANG_SAN}),
        idp.mint("holder-1", AUDIENCE, extra_claims={**personal, "sub": ZHANG_SAN * 20}),
        idp.mint("holder-1", AUDIENCE, extra_claims={"id_number": list(ZHANG_SAN)}),
        idp.mint("holder-1", AUDIENCE, extra_claims={"name": {"full": NAME}}),
        idp.mint(ZHANG_SAN, ZHANG_SAN, extra_claims={"iss": ZHANG_SAN}),
        _compact({"alg": "none", "kid": ZHANG_SAN}, _claims(idp, **personal)),
        _compact({"alg": "ES256", "kid": ZHANG_SAN}, _claims(idp, **personal), b"x" * 64),
        _compact(
            {"alg": "ES256", "kid": idp.key_for("ES256").kid}, _claims(idp, **personal), b"x" * 64
        ),
        _b64(json.dumps({"alg": ZHANG_SAN}).encode()) + ".." + ZHANG_SAN,
        ZHANG_SAN,
    ]
    for token in refused:
        with pytest.raises(TokenError) as caught:
            verifier.verify(token)
        said = _everything_said(caught.value)
        assert ZHANG_SAN not in said, caught.value.code
        assert NAME not in said, caught.value.code
        for segment in token.split("."):
            if len(segment) > 8:
                assert segment not in said, caught.value.code


def test_other_holders_number_is_not_mistaken(
    idp: LocalIdentityProvider, verifier: TokenVerifier
) -> None:
    identity = verifier.verify(idp.mint("holder-2", AUDIENCE, extra_claims={"id_number": LI_SI}))
    assert identity.id_number == LI_SI
    assert identity != verifier.verify(
        idp.mint("holder-2", AUDIENCE, extra_claims={"id_number": ZHANG_SAN})
    )


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"algorithms": ("HS256",)},
        {"algorithms": ("RS256", "none")},
        {"algorithms": ()},
        {"algorithms": "RS256"},
        {"issuer": ""},
        {"audience": " "},
        {"jwks_url": "http://idp.example.gov.cn/jwks.json"},
        {"jwks_url": "ftp://127.0.0.1/jwks.json"},
        {"jwks_url": None, "issuer": "http://idp.example.gov.cn"},
        {"jwks_file": Path("/etc/jwks.json")},
        {"clock_skew": timedelta(hours=1)},
        {"clock_skew": timedelta(seconds=-1)},
        {"jwks_max_stale": timedelta(seconds=1)},
        {"http_timeout": timedelta(0)},
        {"max_token_age": timedelta(0)},
        {"id_number_claim": "sub"},
    ],
    ids=repr,
)
def test_settings_refused(idp: LocalIdentityProvider, changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        _settings(idp, **changes)


def test_unreadable_ca_file_is_a_configuration_error(
    idp: LocalIdentityProvider, tmp_path: Path
) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    for ca_file in (tmp_path / "absent.pem", tmp_path / "ca.pem"):
        with pytest.raises(ConfigurationError):
            TokenVerifier(_settings(idp, jwks_ca_file=ca_file))


def test_settings_from_toml_table(idp: LocalIdentityProvider) -> None:
    settings = OidcSettings.from_mapping(
        {
            "issuer": idp.issuer,
            "audience": AUDIENCE,
            "jwks_url": idp.jwks_url,
            "algorithms": ["ES256"],
            "clock_skew_seconds": 30,
            "id_number_claim": "id_number",
            "jwks_refresh_seconds": 120.5,
        }
    )
    assert settings.algorithms == ("ES256",)
    assert settings.clock_skew == timedelta(seconds=30)
    assert settings.jwks_refresh == timedelta(seconds=120.5)
    assert settings.jwks_min_refetch == timedelta(seconds=30)
    assert TokenVerifier(settings).verify(idp.mint("h", AUDIENCE, alg="ES256")).subject == "h"
    for table in (
        {"issuer": idp.issuer},
        {"issuer": idp.issuer, "audience": AUDIENCE, "jwks_url": idp.jwks_url, "colour": 1},
        {
            "issuer": idp.issuer,
            "audience": AUDIENCE,
            "jwks_url": idp.jwks_url,
            "clock_skew_seconds": "60",
        },
        {
            "issuer": idp.issuer,
            "audience": AUDIENCE,
            "jwks_url": idp.jwks_url,
            "algorithms": "RS256",
        },
        {"issuer": 5, "audience": AUDIENCE, "jwks_url": idp.jwks_url},
    ):
        with pytest.raises(ConfigurationError):
            OidcSettings.from_mapping(table)
