"""Who a holder (or a person agent) is to the platform: a blind index that finds their
certificates and a pseudonym that names them in grants, receipts and the audit log."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from certlib.audit import Actor
from certlib.errors import InputError
from certlib.ids import check_id_number, check_uscc
from certlib.issuance import HOLDER_ID_KINDS
from certlib.oidc import HolderIdentity
from certlib.protect import DataProtector
from certlib.store import Store
from certlib.store.schema import certificates


@dataclass(frozen=True)
class Holder:
    """A holder as the platform knows them: never their identity number."""

    index: bytes
    """The blind index of their identity: `certificates.holder_index`."""
    pseudonym: str
    """A stable keyed pseudonym (hex): how grants, receipts and the audit log name them."""

    @property
    def actor(self) -> Actor:
        """How the audit log names them."""
        return Actor("holder", self.pseudonym)

    def __repr__(self) -> str:
        return f"Holder({self.pseudonym})"


class HolderDirectory:
    """Turns verified identities into Holders and finds their certificates."""

    def __init__(self, protector: DataProtector, store: Store) -> None:
        self.protector = protector
        self.store = store

    def person(self, id_number: str) -> Holder:
        """The person with this identity number (checked, canonical form)."""
        try:
            checked = check_id_number(id_number)
        except InputError:
            raise InputError("not a resident identity number") from None
        if checked.warnings:  # a typo would silently name another person
            raise InputError("the identity number's check character does not match")
        canonical = checked.value
        return self._holder(f"{HOLDER_ID_KINDS['person']}:{canonical}")

    def organisation(self, uscc: str) -> Holder:
        """The organisation with this unified social credit code."""
        return self._holder(f"{HOLDER_ID_KINDS['organisation']}:{check_uscc(uscc).value}")

    def from_identity(self, identity: HolderIdentity) -> Holder:
        """The person an identity-provider token authenticated."""
        if not identity.id_number:
            raise InputError("the identity provider's token carries no identity number "
                             "(configure oidc.id_number_claim)")
        return self.person(identity.id_number)

    def _holder(self, identity: str) -> Holder:
        index = self.protector.blind_index(identity)
        pseudonym = self.protector.blind_index(f"pseudonym/{identity}")[:16].hex()
        return Holder(index, pseudonym)

    def certificates(self, holder: Holder) -> list[str]:
        """The identifiers of the holder's certificates, newest first."""
        with self.store.reading() as connection:
            return [row.identifier for row in connection.execute(
                sa.select(certificates.c.identifier)
                .where(certificates.c.holder_index == holder.index)
                .order_by(certificates.c.id.desc()))]

    def owns(self, holder: Holder, identifiers: tuple[str, ...]) -> bool:
        """Whether every one of these certificates is the holder's."""
        return set(identifiers) <= set(self.certificates(holder))
