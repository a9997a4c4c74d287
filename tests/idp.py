"""A local OpenID Connect identity provider for tests: discovery, JWKS over HTTP, token minting.

Stands in for the platform's unified identity provider (统一身份认证) on 127.0.0.1:

    with LocalIdentityProvider() as idp:          # RS256 and ES256 keys, serving on a free port
        settings = OidcSettings(issuer=idp.issuer, audience="certd", jwks_url=idp.jwks_url)
        token = idp.mint("holder-1", "certd", extra_claims={"id_number": "..."})
        idp.rotate("ES256")                       # a new key signs; the old ones are unpublished
        idp.stop(); idp.start()                   # an outage, then the same URL again

Serves `GET /.well-known/openid-configuration` and `GET /jwks.json` over plain HTTP, or over
HTTPS with a fresh test CA when given `tls_directory` (the CA is then `ca_file`); counts JWKS
requests in `jwks_requests`. Keys are made with `cryptography`, tokens signed with PyJWT.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

__all__ = ["IdpKey", "LocalIdentityProvider", "new_private_key", "public_jwk"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def new_private_key(alg: str) -> PrivateKey:
    """A fresh private key fit for JWS algorithm `alg` (RS*/PS*: RSA-2048, ES256, EdDSA)."""
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"the test IdP makes no key for {alg}")


def public_jwk(key: PrivateKey, *, kid: str, alg: str | None) -> dict[str, Any]:
    """The public JWK of `key`, with `kid`, `use: sig` and (unless None) `alg`."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    jwk.update({"kid": kid, "use": "sig"})
    if alg is not None:
        jwk["alg"] = alg
    return jwk


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _tls_context(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh test CA (`ca.pem`) and a certificate for 127.0.0.1."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("certlib test IdP CA", ca_key, None, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("127.0.0.1", server_key, ca, ca_key)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(
        server.public_bytes(serialization.Encoding.PEM)
        + server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem")
    return context


@dataclass(frozen=True)
class IdpKey:
    """One signing key of the IdP."""

    kid: str
    alg: str
    private_key: PrivateKey
    publish_alg: bool = True
    """Whether the published JWK names its algorithm (`alg`)."""

    def public_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        """The public JWK as the IdP publishes it."""
        return public_jwk(
            self.private_key, kid=self.kid, alg=self.alg if self.publish_alg else None
        )


class LocalIdentityProvider:
    """An OIDC identity provider on 127.0.0.1 serving discovery and JWKS, minting tokens."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(
        self,
        *,
        algorithms: tuple[str, ...] = ("RS256", "ES256"),
        tls_directory: Path | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._tls = _tls_context(tls_directory) if tls_directory is not None else None
        self.ca_file = tls_directory / "ca.pem" if tls_directory is not None else None
        """The test CA's certificate (PEM) when serving HTTPS, else None."""
        self._keys: dict[str, IdpKey] = {}
        self._published: list[str] = []
        self._signing_kid: str | None = None
        self._jwks_body: bytes | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self.jwks_requests = 0
        """How many times `/jwks.json` was fetched."""
        for alg in algorithms:
            self.add_key(alg)

    # -- serving -----------------------------------------------------------------------

    def start(self) -> None:
        """Serve on 127.0.0.1 (a free port the first time, the same port after a stop)."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler_class())
        server.daemon_threads = True
        if self._tls is not None:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="test-idp", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the port: requests are refused, as in an outage."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalIdentityProvider:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def issuer(self) -> str:
        """The issuer identifier (`iss`): `http://127.0.0.1:PORT` (`https` with TLS)."""
        if not self._port:
            raise RuntimeError("start the identity provider first")
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def jwks_url(self) -> str:
        """Where the JWKS is served."""
        return self.issuer + "/jwks.json"

    def jwks(self) -> dict[str, Any]:
        """The JWKS as currently published."""
        with self._lock:
            return {"keys": [self._keys[kid].jwk() for kid in self._published]}

    def serve_jwks_body(self, body: bytes | None) -> None:
        """Serve `body` as the JWKS instead of the real one (None: back to the real one)."""
        with self._lock:
            self._jwks_body = body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps(idp.discovery()).encode()
                elif self.path == "/jwks.json":
                    with idp._lock:
                        idp.jwks_requests += 1
                        body = idp._jwks_body or b""
                    body = body or json.dumps(idp.jwks()).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def discovery(self) -> dict[str, Any]:
        """The OpenID Provider metadata document."""
        with self._lock:
            algorithms = sorted({self._keys[kid].alg for kid in self._published})
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algorithms,
        }

    # -- keys --------------------------------------------------------------------------

    def add_key(self, alg: str, *, kid: str | None = None, publish_alg: bool = True) -> IdpKey:
        """Make and publish a key for `alg`; the first key made signs by default."""
        key = IdpKey(kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}", alg, new_private_key(alg),
                     publish_alg)  # fmt: skip
        with self._lock:
            self._keys[key.kid] = key
            self._published.append(key.kid)
            if self._signing_kid is None:
                self._signing_kid = key.kid
        return key

    def rotate(self, alg: str = "ES256") -> IdpKey:
        """A new key signs from now on; every older key is unpublished."""
        key = self.add_key(alg)
        with self._lock:
            self._published = [key.kid]
            self._signing_kid = key.kid
        return key

    def key(self, kid: str | None = None) -> IdpKey:
        """The key `kid`, or the current signing key."""
        with self._lock:
            chosen = kid or self._signing_kid
            assert chosen is not None
            return self._keys[chosen]

    def key_for(self, alg: str) -> IdpKey:
        """A published key for `alg`, made and published on first use."""
        with self._lock:
            for kid in self._published:
                if self._keys[kid].alg == alg:
                    return self._keys[kid]
        return self.add_key(alg)

    # -- tokens ------------------------------------------------------------------------

    def mint(
        self,
        subject: str,
        audience: str | list[str],
        expires_in: float = 300,
        extra_claims: Mapping[str, Any] | None = None,
        *,
        kid: str | None = None,
        alg: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed token: iss, sub, aud, iat (now), exp (now + expires_in), then extra_claims.

        `alg` alone picks (or makes) a key for it; `kid` picks a key; neither: the signing key.
        `extra_claims` may override any claim (use None values to drop one).
        """
        if kid is not None:
            key = self.key(kid)
        elif alg is not None:
            key = self.key_for(alg)
        else:
            key = self.key()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "exp": now + int(expires_in),
        }
        claims.update(extra_claims or {})
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(
            claims,
            key.private_key,
            algorithm=alg or key.alg,
            headers={"kid": key.kid, **(headers or {})},
        )
