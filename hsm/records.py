"""Key metadata kept on the token as private PKCS#11 data objects.

Each key version has one data object (application `certlib`, label
`certlib-key:<name>/v<version>`) whose value is a small JSON record: algorithm,
state, protection, public key and, for software keys, the wrapped private key.
Keeping it on the token means every process and every host sharing the HSM sees
the same keys. Data-object values are read-only on SoftHSM2, so an update writes a
new object with a higher revision and then deletes the old one; readers take the
highest revision.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pkcs11
from pkcs11 import Attribute, ObjectClass

from hsm.errors import HsmError
from hsm.keystore import KeyRef, KeyState, Protection

APPLICATION = "certlib"
_LABEL_PREFIX = "certlib-key:"
_FORMAT = 1


@dataclass(frozen=True)
class KeyRecord:
    """Everything the store knows about one key version."""

    name: str
    version: int
    algorithm: str
    state: KeyState
    protection: Protection
    created: datetime
    public_key: bytes
    key_id: bytes
    """CKA_ID of the token key objects (HSM keys) or a random id (software keys)."""
    wrapped: bytes | None = None
    """Software keys only: nonce || AES-GCM(PKCS#8 private key) under the wrapping key."""
    revision: int = 0

    @property
    def label(self) -> str:
        """Name and version, e.g. `issuer/v2`: also the CKA_LABEL of the key objects."""
        return f"{self.name}/v{self.version}"

    def ref(self) -> KeyRef:
        """The public view of this record."""
        return KeyRef(
            name=self.name,
            version=self.version,
            algorithm=self.algorithm,
            public_key=self.public_key,
            state=self.state,
            protection=self.protection,
            created=self.created,
        )

    def with_state(self, state: KeyState) -> KeyRecord:
        """A copy in another state, one revision on."""
        return replace(self, state=state, revision=self.revision + 1)

    def to_json(self) -> bytes:
        """Serialise for the data object's CKA_VALUE."""
        body: dict[str, object] = {
            "format": _FORMAT,
            "name": self.name,
            "version": self.version,
            "algorithm": self.algorithm,
            "state": self.state.value,
            "protection": self.protection.value,
            "created": self.created.isoformat(),
            "public_key": base64.b64encode(self.public_key).decode(),
            "key_id": self.key_id.hex(),
            "revision": self.revision,
        }
        if self.wrapped is not None:
            body["wrapped"] = base64.b64encode(self.wrapped).decode()
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> KeyRecord:
        """Parse a data object's value; raise HsmError if it is not a key record."""
        try:
            body = json.loads(raw)
            if body.get("format") != _FORMAT:
                raise ValueError("unknown record format")
            wrapped = body.get("wrapped")
            return cls(
                name=body["name"],
                version=int(body["version"]),
                algorithm=body["algorithm"],
                state=KeyState(body["state"]),
                protection=Protection(body["protection"]),
                created=datetime.fromisoformat(body["created"]),
                public_key=base64.b64decode(body["public_key"]),
                key_id=bytes.fromhex(body["key_id"]),
                wrapped=base64.b64decode(wrapped) if wrapped is not None else None,
                revision=int(body.get("revision", 0)),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise HsmError(f"unreadable key record on the token: {error}") from error


def now() -> datetime:
    """The current time in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def _record_template(label: str | None = None) -> dict[Attribute, object]:
    template: dict[Attribute, object] = {
        Attribute.CLASS: ObjectClass.DATA,
        Attribute.APPLICATION: APPLICATION,
    }
    if label is not None:
        template[Attribute.LABEL] = _LABEL_PREFIX + label
    return template


def read_all(session: pkcs11.Session) -> list[KeyRecord]:
    """Every key record on the token, newest revision of each, sorted by name and version."""
    newest: dict[tuple[str, int], KeyRecord] = {}
    for obj in list(session.get_objects(_record_template())):
        label = obj[Attribute.LABEL]
        if not isinstance(label, str) or not label.startswith(_LABEL_PREFIX):
            continue
        record = KeyRecord.from_json(bytes(obj[Attribute.VALUE]))
        key = (record.name, record.version)
        held = newest.get(key)
        if held is None or record.revision > held.revision:
            newest[key] = record
    return [newest[key] for key in sorted(newest)]


def read(session: pkcs11.Session, name: str, version: int) -> KeyRecord | None:
    """The newest revision of one key version's record, or None."""
    best: KeyRecord | None = None
    for obj in list(session.get_objects(_record_template(f"{name}/v{version}"))):
        record = KeyRecord.from_json(bytes(obj[Attribute.VALUE]))
        if best is None or record.revision > best.revision:
            best = record
    return best


def write(session: pkcs11.Session, record: KeyRecord) -> None:
    """Store `record`, then remove older revisions of the same key version."""
    session.create_object(
        {
            **_record_template(record.label),
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.MODIFIABLE: False,
            Attribute.VALUE: record.to_json(),
        }
    )
    for obj in list(session.get_objects(_record_template(record.label))):
        if KeyRecord.from_json(bytes(obj[Attribute.VALUE])).revision < record.revision:
            obj.destroy()


def delete(session: pkcs11.Session, name: str, version: int) -> None:
    """Remove every revision of one key version's record."""
    for obj in list(session.get_objects(_record_template(f"{name}/v{version}"))):
        obj.destroy()
