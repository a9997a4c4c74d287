"""The server interceptor every call passes: request id, authentication, roles, deadline,
error mapping, logs and metrics. Services see only a `CallContext`."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import code_pb2
from grpc_status import rpc_status

from certlib.audit import AuditLog
from certlib.errors import CertlibError
from daemon.errors import RpcFailure, rich_status
from daemon.identity import (
    OPEN_METHODS,
    Caller,
    PeerRecognition,
    Policy,
    RevocationCache,
    authenticate,
    authorise,
)
from daemon.observe import ERRORS, LATENCY, REQUESTS, monotonic

log = logging.getLogger("certd.calls")
REQUEST_ID_HEADER = "x-request-id"
AUTHORIZATION_HEADER = "authorization"
BEARER_SERVICES = ("certsvc.v1.HolderService/",)
"""Services whose calls carry a holder's `authorization: Bearer <jwt>` (read for these only)."""


@dataclass(frozen=True)
class CallContext:
    """What a service knows about the call: who, which request."""

    caller: Caller
    request_id: str
    method: str
    bearer: str | None = field(default=None, repr=False)
    """The holder's bearer token (HolderService only; a secret: never logged)."""


current_call: contextvars.ContextVar[CallContext] = contextvars.ContextVar("certd_call")


def call() -> CallContext:
    """The context of the call being served."""
    return current_call.get()


class _Undecodable:
    """Stands in for a request whose bytes are not the method's message."""


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A deserializer that hands over _Undecodable instead of failing the call."""
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:
            return _Undecodable()

    return parse


def _decoded(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_INPUT",
                         "the request is not a valid message of this method", field="request")
    return request


def _decoded_stream(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        yield _decoded(request)


def _bearer(context: grpc.ServicerContext) -> str | None:
    """The token of `authorization: Bearer <token>`, None without the header."""
    for key, value in context.invocation_metadata():
        if key == AUTHORIZATION_HEADER:
            scheme, _, token = value.partition(" ") if isinstance(value, str) else ("", "", "")
            if scheme.lower() != "bearer" or not token.strip():
                raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MALFORMED",
                                 "the authorization metadata must be `Bearer <token>`")
            return token.strip()
    return None


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata():
        if key == REQUEST_ID_HEADER and isinstance(value, str) and 0 < len(value) <= 100:
            return value
    return uuid.uuid4().hex


class CallInterceptor(grpc.ServerInterceptor):
    """Wraps every handler; see the module docstring."""

    def __init__(self, policy: Policy, revocations: RevocationCache,
                 audit: Callable[[], AuditLog], *, peers: PeerRecognition | None = None) -> None:
        self.policy = policy
        self.revocations = revocations
        self.audit = audit
        self.peers = peers

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Any],
                          handler_call_details: grpc.HandlerCallDetails) -> Any:
        """Return the handler, wrapped."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.lstrip("/")
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(handler.stream_stream, method, streaming_requests=True),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler

    # -- wrapping ---------------------------------------------------------------------

    def _begin(self, context: grpc.ServicerContext, method: str) -> CallContext | None:
        request_id = _request_id(context)
        context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
        if method in OPEN_METHODS:
            return None
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED",
                             "the deadline passed before the call started")
        placeholder = CallContext(Caller("", "", frozenset(), 0), request_id, method)
        current_call.set(placeholder)
        caller = authenticate(context, self.policy, self.revocations, self.peers, method)
        current = CallContext(caller, request_id, method)
        current_call.set(current)
        authorise(caller, method, self.policy)
        if method.startswith(BEARER_SERVICES):
            current = CallContext(caller, request_id, method, _bearer(context))
            current_call.set(current)
        return current

    def _record_denial(self, current: CallContext) -> None:
        try:
            self.audit().record(actor=current.caller.actor, method=current.method,
                                outcome="PERMISSION_DENIED", request_id=current.request_id)
        except CertlibError:
            log.warning("could not record a denied call", extra={
                "request_id": current.request_id})

    def _fail(self, context: grpc.ServicerContext, method: str, started: float,
              error: BaseException) -> None:
        try:
            request_id = current_call.get().request_id
        except LookupError:
            request_id = _request_id(context)
        if isinstance(error, RpcFailure | CertlibError):
            status = rich_status(error, request_id)
            reason = error.reason if isinstance(error, RpcFailure) else error.code
            if isinstance(error, RpcFailure) and error.status is grpc.StatusCode.PERMISSION_DENIED:
                self._record_denial(current_call.get())
            if isinstance(error, CertlibError) and status.code == code_pb2.INTERNAL:
                # The caller sees only the request id; the operator needs the cause
                # (certlib messages never carry personal data).
                log.error("internal failure", extra={"request_id": request_id,
                                                     "method": method, "reason": error.code,
                                                     "detail": error.message})
        else:
            log.error("unexpected error", exc_info=error, extra={"request_id": request_id,
                                                                "method": method})
            status = rich_status(RpcFailure(grpc.StatusCode.INTERNAL, "INTERNAL",
                                            "internal error; quote the request id"),
                                 request_id)
            reason = "INTERNAL"
        code_name = grpc.StatusCode(
            next(c for c in grpc.StatusCode if c.value[0] == status.code)).name
        self._finish(method, code_name, started, request_id, reason)
        context.abort_with_status(rpc_status.to_status(status))

    def _finish(self, method: str, code: str, started: float, request_id: str,
                reason: str | None = None) -> None:
        elapsed = monotonic() - started
        REQUESTS.labels(method, code).inc()
        LATENCY.labels(method).observe(elapsed)
        if reason is not None:
            ERRORS.labels(reason).inc()
        caller = ""
        with contextlib.suppress(LookupError):
            caller = current_call.get().caller.uscc
        log.info("rpc", extra={"method": method, "code": code, "request_id": request_id,
                               "caller": caller, "ms": round(elapsed * 1000, 3),
                               **({"reason": reason} if reason else {})})

    def _unary(self, behaviour: Callable[[Any, grpc.ServicerContext], Any],
               method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            started = monotonic()
            token = current_call.set(CallContext(Caller("", "", frozenset(), 0), "", method))
            try:
                try:
                    current = self._begin(context, method)
                    response = behaviour(_decoded(request), context)
                except Exception as error:
                    self._fail(context, method, started, error)
                    return None
                request_id = current.request_id if current else ""
                self._finish(method, "OK", started, request_id)
                return response
            finally:
                current_call.reset(token)

        return wrapped

    def _stream(self, behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]],
                method: str, streaming_requests: bool = False,
                ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def wrapped(requests: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = monotonic()
            token = current_call.set(CallContext(Caller("", "", frozenset(), 0), "", method))
            try:
                try:
                    current = self._begin(context, method)
                    incoming = (_decoded_stream(requests) if streaming_requests
                                else _decoded(requests))
                    yield from behaviour(incoming, context)
                except Exception as error:
                    self._fail(context, method, started, error)
                    return
                self._finish(method, "OK", started, current.request_id if current else "")
            finally:
                current_call.reset(token)

        return wrapped
