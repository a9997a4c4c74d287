"""One logged-in PKCS#11 session per token per process, used by one thread at a time.

python-pkcs11 initialises modules with NULL arguments, so SoftHSM2 turns its own
locking off: two threads calling into it at once, even on two sessions, corrupt its
heap. Every call into a module therefore goes through that module's process-wide lock,
and parallelism comes from processes (the daemon runs one worker per core), each with
its own session. All `TokenSession` objects of a process share that session, because
PKCS#11 login state belongs to the process: closing one logged-in session logs out
every other. A forked child re-initialises the module before first use, as PKCS#11
requires, and opens its own session.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pkcs11
import pkcs11.exceptions as p11e

from hsm.errors import HsmError, HsmLoginFailed, HsmUnavailable

_OPEN_ATTEMPTS = 6
"""Tries to open the token when it reports a transient GeneralError (about 1.6 s in all)."""

T = TypeVar("T")

# A lost session or a logged-out token: reopen once and retry.
_RECOVERABLE = (
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.UserNotLoggedIn,
    p11e.DeviceRemoved,
    p11e.TokenNotPresent,
)


@dataclass(frozen=True)
class TokenConfig:
    """Where the token is and how to log in; the PIN is never printed."""

    module: str
    token_label: str
    pin: str

    def __repr__(self) -> str:
        return f"TokenConfig(module={self.module!r}, token_label={self.token_label!r}, pin=***)"


class _Shared:
    """The process's session on one token, with its users and generation."""

    def __init__(self) -> None:
        self.session: pkcs11.Session | None = None
        self.pid = 0
        self.generation = 0
        self.users = 0


class _ModuleLock:
    """The lock every call into one PKCS#11 module takes; renewed in forked children."""

    def __init__(self) -> None:
        self.lock = threading.RLock()


_module_locks: dict[str, _ModuleLock] = {}
_module_pids: dict[str, int] = {}
_shared: dict[tuple[str, str], _Shared] = {}
_registry = _ModuleLock()
"""Guards the three tables above."""


def _lock_for(module: str) -> _ModuleLock:
    with _registry.lock:
        return _module_locks.setdefault(module, _ModuleLock())


def _reset_after_fork() -> None:
    _registry.lock = threading.RLock()
    for holder in _module_locks.values():
        holder.lock = threading.RLock()


os.register_at_fork(after_in_child=_reset_after_fork)


class TokenSession:
    """A lazily opened, serialised, self-healing handle on the process's token session."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self._key = (config.module, config.token_label)
        self._closed = False
        self._module_lock = _lock_for(config.module)
        with _registry.lock:
            self._shared = _shared.setdefault(self._key, _Shared())
            self._shared.users += 1

    @property
    def generation(self) -> int:
        """Bumped whenever the session is replaced; callers drop cached object handles."""
        return self._shared.generation

    def run(self, operation: Callable[[pkcs11.Session], T]) -> T:
        """Run `operation` on the session under the module lock, reopening once if lost."""
        with self._module_lock.lock:
            session = self._open()
            try:
                return operation(session)
            except _RECOVERABLE:
                self._discard()
                session = self._open()
                try:
                    return operation(session)
                except p11e.PKCS11Error as again:
                    raise _translate(again) from again
            except p11e.PKCS11Error as error:
                raise _translate(error) from error

    def close(self) -> None:
        """Stop using the session; the last user in this process closes it."""
        with self._module_lock.lock:
            if self._closed:
                return
            self._closed = True
            shared = self._shared
            shared.users -= 1
            if shared.users <= 0 and shared.session is not None and shared.pid == os.getpid():
                with contextlib.suppress(p11e.PKCS11Error):
                    shared.session.close()
                shared.session = None

    def _open(self) -> pkcs11.Session:
        shared = self._shared
        if shared.session is not None and shared.pid == os.getpid():
            return shared.session
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                return self._open_once()
            except HsmUnavailable as error:
                # SoftHSM2 answers GeneralError while another process rewrites the token's
                # files; a moment later the token opens. Other faults are not retried.
                if not isinstance(error.__cause__, p11e.GeneralError) or (
                        attempt == _OPEN_ATTEMPTS - 1):
                    raise
                time.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _open_once(self) -> pkcs11.Session:
        shared, pid = self._shared, os.getpid()
        shared.session = None
        try:
            library = pkcs11.lib(self.config.module)
            if _module_pids.get(self.config.module, pid) != pid:
                library.reinitialize()
            _module_pids[self.config.module] = pid
            token = library.get_token(token_label=self.config.token_label)
            try:
                session = token.open(rw=True, user_pin=self.config.pin)
            except p11e.UserAlreadyLoggedIn:
                # Something else in this process logged in; login state is shared.
                session = token.open(rw=True)
        except (p11e.PinIncorrect, p11e.PinLocked, p11e.PinInvalid, p11e.PinLenRange,
                p11e.UserPinNotInitialized) as error:
            raise HsmLoginFailed(
                f"token {self.config.token_label!r} refused the PIN ({type(error).__name__})"
            ) from error
        except p11e.NoSuchToken as error:
            raise HsmUnavailable(f"no token labelled {self.config.token_label!r}") from error
        except (p11e.PKCS11Error, OSError, RuntimeError) as error:
            raise HsmUnavailable(
                f"cannot open token {self.config.token_label!r} through "
                f"{self.config.module}: {type(error).__name__}: {error}"
            ) from error
        shared.session, shared.pid = session, pid
        shared.generation += 1
        return session

    def _discard(self) -> None:
        shared = self._shared
        if shared.session is not None:
            with contextlib.suppress(p11e.PKCS11Error):
                shared.session.close()
        shared.session = None


def _translate(error: p11e.PKCS11Error) -> HsmError:
    if isinstance(error, _RECOVERABLE):
        return HsmUnavailable(f"token session lost twice in a row ({type(error).__name__})")
    if isinstance(error, (p11e.DeviceError, p11e.DeviceMemory, p11e.GeneralError)):
        return HsmUnavailable(f"the token failed: {type(error).__name__}")
    name = type(error).__name__
    detail = f": {error}" if str(error) else ""
    return HsmError(f"PKCS#11 call failed: {name}{detail}")
