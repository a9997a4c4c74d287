"""certsvc.v1.KeyService (administrators): HSM keys, every change audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import grpc

from certlib.audit import AUDIT_KEY
from certsvc.v1 import key_service_pb2, key_service_pb2_grpc
from daemon import convert
from daemon.calls import call
from daemon.errors import RpcFailure, invalid
from daemon.runtime import WorkerRuntime
from hsm import KeyRef
from hsm.errors import InvalidKeyRequest
from hsm.keystore import check_key_name

T = TypeVar("T")


def _key_name(name: str, field: str = "name") -> str:
    if not name.startswith("keys/"):
        raise invalid(field, "name must be keys/{key}")
    key = name.removeprefix("keys/")
    try:
        return check_key_name(key)
    except InvalidKeyRequest as error:
        raise invalid(field, error.message) from None


class KeyService(key_service_pb2_grpc.KeyServiceServicer):
    """Create, inspect, rotate, disable and destroy HSM keys."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def _versions(self, key: str) -> list[KeyRef]:
        versions = [ref for ref in self.runtime.platform.keystore.list() if ref.name == key]
        if not versions:
            self.runtime.platform.keystore.get(key)  # raises KeyNotFoundError
        return versions

    def _run_audited(self, method: str, key: str, action: Callable[[], T]) -> T:
        """Do an HSM change inside the transaction that holds its audit record: if the
        record cannot be written, the change is not made."""
        current = call()
        with self.runtime.platform.store.transaction() as connection:
            self.runtime.platform.audit.append(
                connection, actor=current.caller.actor, method=method,
                objects=(f"keys/{key}",), request_id=current.request_id)
            return action()

    def CreateKey(self, request: key_service_pb2.CreateKeyRequest,
                  context: grpc.ServicerContext) -> key_service_pb2.CreateKeyResponse:
        """Generate a key in the HSM."""
        try:
            key = check_key_name(request.key_id)
        except InvalidKeyRequest as error:
            raise invalid("key_id", error.message) from None
        if request.algorithm not in self.runtime.platform.keystore.algorithms():
            raise invalid("algorithm", "give one of "
                          + ", ".join(self.runtime.platform.keystore.algorithms()),
                          "UNKNOWN_ALGORITHM")
        keystore = self.runtime.platform.keystore
        self._run_audited("key.create", key, lambda: keystore.generate(request.algorithm, key))
        return key_service_pb2.CreateKeyResponse(key=convert.key(self._versions(key)))

    def GetKey(self, request: key_service_pb2.GetKeyRequest,
               context: grpc.ServicerContext) -> key_service_pb2.GetKeyResponse:
        """One key and its versions."""
        return key_service_pb2.GetKeyResponse(key=convert.key(self._versions(
            _key_name(request.name))))

    def ListKeys(self, request: key_service_pb2.ListKeysRequest,
                 context: grpc.ServicerContext) -> key_service_pb2.ListKeysResponse:
        """Keys in name order, paged."""
        if request.page_size < 0 or request.page_size > 1000:
            raise invalid("page_size", "page_size is 0 to 1000")
        size = request.page_size or 100
        grouped: dict[str, list[KeyRef]] = {}
        for ref in self.runtime.platform.keystore.list():
            grouped.setdefault(ref.name, []).append(ref)
        names = sorted(name for name in grouped if name > request.page_token)
        page = names[:size]
        return key_service_pb2.ListKeysResponse(
            keys=[convert.key(grouped[name]) for name in page],
            next_page_token=page[-1] if len(names) > size else "")

    def RotateKey(self, request: key_service_pb2.RotateKeyRequest,
                  context: grpc.ServicerContext) -> key_service_pb2.RotateKeyResponse:
        """A new version; older ones verify only."""
        key = _key_name(request.name)
        keystore = self.runtime.platform.keystore
        created = self._run_audited("key.rotate", key, lambda: keystore.rotate(key))
        return key_service_pb2.RotateKeyResponse(key=convert.key(self._versions(key)),
                                                 created_version=convert.key_version(created))

    def DisableKey(self, request: key_service_pb2.DisableKeyRequest,
                   context: grpc.ServicerContext) -> key_service_pb2.DisableKeyResponse:
        """Stop every version from signing."""
        key = _key_name(request.name)
        keystore = self.runtime.platform.keystore
        self._run_audited("key.disable", key, lambda: keystore.disable(key))
        return key_service_pb2.DisableKeyResponse(key=convert.key(self._versions(key)))

    def DestroyKey(self, request: key_service_pb2.DestroyKeyRequest,
                   context: grpc.ServicerContext) -> key_service_pb2.DestroyKeyResponse:
        """Delete a key for good, unless the platform still depends on it."""
        key = _key_name(request.name)
        if key in self._keys_in_use():
            raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, "KEY_IN_USE",
                             f"keys/{key} belongs to a region, a department or the audit log")
        keystore = self.runtime.platform.keystore
        destroyed = self._run_audited("key.destroy", key, lambda: keystore.destroy(key))
        return key_service_pb2.DestroyKeyResponse(
            destroyed_versions=[convert.key_version(ref) for ref in destroyed])

    def _keys_in_use(self) -> set[str]:
        authority = self.runtime.platform.authority
        used = {AUDIT_KEY}
        for region in authority.regions():
            used |= {region.root_key, region.issuing_key}
        used |= {issuer.key_name for issuer in authority.issuers() if issuer.state == "active"}
        return used
