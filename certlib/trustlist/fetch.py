"""Fetching a trust list from the location a list names: `file:`, `https:`, loopback `http:`.

`fetch_location` is the `fetch` that `TrustListClient.refresh` takes. It reads

- `file:///absolute/path` (also `file:/path`, `file://localhost/path`) and plain absolute
  paths: regular files only;
- `https://...`: certificate and host name verified against the system's CA certificates
  plus an optional CA bundle; redirects only to other `https:` URLs;
- `http://...` only to a loopback address (tests, a local mirror); redirects only to
  loopback `http:`.

Every fetch is bounded in size (`max_bytes`) and in time (`timeout`). Failures raise
`TrustListFetchFailed` subclasses (all `UnavailableError`s) that name the location, never
its user information. The signatures are the client's business: a fetched document is just
bytes until `TrustListClient` has checked it.
"""

from __future__ import annotations

import http.client
import os
import ssl
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from certlib.errors import ConfigurationError, UnavailableError
from certlib.hosts import is_loopback
from certlib.trustlist.canonical import MAX_DOCUMENT_BYTES

DEFAULT_TIMEOUT = 10.0
"""Seconds a fetch may take (connecting, and reading the whole document)."""
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


class TrustListFetchFailed(UnavailableError):
    """A trust list could not be fetched from its location; the last good copy stays."""

    code = "TRUST_LIST_FETCH_FAILED"

    def __init__(self, location: str, problem: str) -> None:
        self.location = shown(location)
        super().__init__(f"cannot fetch {self.location}: {problem}")


class TrustListNotFound(TrustListFetchFailed):
    """Nothing at the location (no such file, HTTP 404 or 410): e.g. no newer version yet."""

    code = "TRUST_LIST_NOT_FOUND"


class LocationRefused(TrustListFetchFailed):
    """A location (or a redirect) this client does not fetch from: another scheme, plain
    http beyond loopback, a relative path, a file on another host."""

    code = "TRUST_LIST_LOCATION_REFUSED"


class TrustListTooLarge(TrustListFetchFailed):
    """The document at the location is larger than `max_bytes`."""

    code = "TRUST_LIST_TOO_LARGE"


def shown(location: str) -> str:
    """The location as messages show it: without user information (`user:password@`)."""
    try:
        parts = urllib.parse.urlsplit(location)
    except ValueError:
        return "<an unparsable location>"
    if parts.username is None and parts.password is None:
        return location
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def fetch_location(location: str, *, ca_file: Path | None = None,
                   timeout: float = DEFAULT_TIMEOUT,
                   max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes at a trust-list location; TrustListFetchFailed (a subclass) if unreachable."""
    return _fetch(location, lambda: https_context(ca_file), timeout, max_bytes)


def location_fetcher(*, ca_file: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
                     max_bytes: int = MAX_DOCUMENT_BYTES) -> Callable[[str], bytes]:
    """`fetch_location` with these settings and one TLS context, for `refresh`; raises
    ConfigurationError at once if `ca_file` is unusable."""
    context = https_context(ca_file)
    return lambda location: _fetch(location, lambda: context, timeout, max_bytes)


def https_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A TLS client context: the system's CA certificates plus those in `ca_file` (PEM)."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError, ValueError):
            raise ConfigurationError(
                f"the CA file {ca_file} cannot be read as PEM CA certificates") from None
    return context


def _fetch(location: str, context: Callable[[], ssl.SSLContext], timeout: float,
           max_bytes: int) -> bytes:
    if not isinstance(location, str) or not location:
        raise LocationRefused("<empty>", "no location")
    if location.startswith("/"):
        return _read_file(location, location, max_bytes)
    try:
        parts = urllib.parse.urlsplit(location)
    except ValueError:
        raise LocationRefused(location, "not a URL") from None
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise LocationRefused(location, "a file: location is a local absolute path")
        return _read_file(location, urllib.parse.unquote(parts.path), max_bytes)
    if problem := _http_problem(location):
        raise LocationRefused(location, problem)
    return _read_http(location, context, timeout, max_bytes)


# -- files ------------------------------------------------------------------------------------


def _read_file(location: str, path: str, max_bytes: int) -> bytes:
    if not path.startswith("/"):
        raise LocationRefused(location, "a file location is an absolute path")
    try:  # O_NONBLOCK: a FIFO must not hang the fetch; it is refused below
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise TrustListNotFound(location, "no such file") from None
    except (OSError, ValueError) as error:
        raise TrustListFetchFailed(location, _reason(error)) from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise LocationRefused(location, "not a regular file")
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise TrustListFetchFailed(location, _reason(error)) from None
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise TrustListTooLarge(location, f"more than {max_bytes} bytes")
    return data


# -- http(s) ----------------------------------------------------------------------------------


def _http_problem(url: str, scheme: str | None = None) -> str | None:
    """Why `url` may not be fetched (or followed from a `scheme` URL), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("https", "http"):
        return "only file:, https: and loopback http: locations are fetched"
    if not host:
        return "no host"
    if parts.scheme == "http" and not is_loopback(host):
        return "plain http is fetched from a loopback address only"
    if scheme is not None and parts.scheme != scheme:
        return f"a redirect from {scheme}: to {parts.scheme}: is not followed"
    return None


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows a few redirects, each to a URL of the same scheme that may be fetched."""

    max_redirections = MAX_REDIRECTS

    def __init__(self, location: str) -> None:
        self.location = location
        self.scheme = urllib.parse.urlsplit(location).scheme

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
        headers: Any, newurl: str,
    ) -> urllib.request.Request | None:
        if problem := _http_problem(newurl, self.scheme):
            fp.close()
            raise LocationRefused(self.location, problem)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _read_http(location: str, context: Callable[[], ssl.SSLContext], timeout: float,
               max_bytes: int) -> bytes:
    handlers: list[urllib.request.BaseHandler] = [_Redirects(location)]
    if urllib.parse.urlsplit(location).scheme == "https":
        handlers.append(urllib.request.HTTPSHandler(context=context()))
    if is_loopback(urllib.parse.urlsplit(location).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))  # never send loopback to a proxy
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(  # noqa: S310 - scheme checked by _http_problem
        location, headers={"Accept": "application/json", "User-Agent": "certlib-trustlist"})
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise TrustListFetchFailed(location, f"HTTP {response.status}")
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise TrustListTooLarge(location, f"more than {max_bytes} bytes")
            return _read_body(location, response, deadline, max_bytes)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code in (404, 410):
            raise TrustListNotFound(location, f"HTTP {error.code}") from None
        if 300 <= error.code < 400:  # urllib refused to follow it (another scheme)
            raise LocationRefused(location, f"HTTP {error.code}: a redirect that is not "
                                  "followed") from None
        raise TrustListFetchFailed(location, f"HTTP {error.code}") from None
    except urllib.error.URLError as error:
        raise TrustListFetchFailed(location, _reason(error.reason)) from None
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise TrustListFetchFailed(location, _reason(error)) from None


def _read_body(location: str, response: http.client.HTTPResponse, deadline: float,
               max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TrustListFetchFailed(location, "timed out")
        chunk = response.read1(min(_CHUNK, max_bytes + 1 - size))  # what has arrived
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise TrustListTooLarge(location, f"more than {max_bytes} bytes")


def _reason(error: object) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({error.verify_message})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
