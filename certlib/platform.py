"""A certlib platform: one state directory's key store, store, PKI, types and offices wired up."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from certlib.audit import AuditLog
from certlib.authority import Authority
from certlib.config import Settings, load_settings
from certlib.grants import DelegationDesk, GrantDesk, HolderDirectory, PlatformKeys, ShowDesk
from certlib.issuance import CertificateOffice
from certlib.keys import CertlibKeyStore, KeyObserver, open_keystore
from certlib.protect import DataProtector
from certlib.status import StoreStatusSource
from certlib.store import Store
from certlib.trust import TrustMaterial
from certlib.types import TypeRegistry, load_types
from certlib.verify import Verifier

if TYPE_CHECKING:  # the seal modules pull in pyHanko, OFD and Pillow: loaded on first use
    from certlib.seals import SealApplier, SealRegistry, SealUseDesk


class Platform:
    """Everything one government service platform runs on, opened lazily."""

    def __init__(self, settings: Settings, key_observer: KeyObserver | None = None) -> None:
        self.settings = settings
        self.key_observer = key_observer

    @cached_property
    def keystore(self) -> CertlibKeyStore:
        """The HSM key store."""
        return open_keystore(self.settings, self.key_observer)

    @cached_property
    def store(self) -> Store:
        """The database, migrated to the newest schema."""
        store = Store(self.settings.database_url)
        store.migrate()
        return store

    @cached_property
    def types(self) -> TypeRegistry:
        """The certificate types: bundled ones plus `<home>/types/*.toml`."""
        return load_types(home=self.settings.home,
                          local_authority=self.settings.local_type_authority)

    @cached_property
    def authority(self) -> Authority:
        """Regions, departments, CRLs."""
        return Authority(self.keystore, self.store, self.audit)

    @cached_property
    def protector(self) -> DataProtector:
        """Encryption of personal data at rest."""
        return DataProtector(self.keystore, self.store)

    @cached_property
    def audit(self) -> AuditLog:
        """The hash-chained audit log."""
        return AuditLog(self.store, self.keystore)

    @cached_property
    def office(self) -> CertificateOffice:
        """Issuing and status changes."""
        return CertificateOffice(self.authority, self.types, self.protector, self.audit)

    @cached_property
    def seals(self) -> SealRegistry:
        """Seal making: the seal-making authority and the seals it made."""
        from certlib.seals import SealRegistry  # noqa: PLC0415 (pyHanko, lxml, PDFium: on first use)

        return SealRegistry(self.authority, self.audit)

    @cached_property
    def seal_desk(self) -> SealUseDesk:
        """Seal-use management: policies, approvals, quotas, the record of uses."""
        from certlib.seals import SealUseDesk  # noqa: PLC0415 (pyHanko, lxml, PDFium: on first use)

        return SealUseDesk(self.seals, self.protector)

    @cached_property
    def sealer(self) -> SealApplier:
        """Applies seals to PDF, OFD and raw data under their policies."""
        from certlib.seals import SealApplier  # noqa: PLC0415 (pyHanko, lxml, PDFium: on first use)

        return SealApplier(self.seal_desk)

    @cached_property
    def holders(self) -> HolderDirectory:
        """Holders' pseudonyms and their certificates."""
        return HolderDirectory(self.protector, self.store)

    @cached_property
    def delegations(self) -> DelegationDesk:
        """委托用证: delegations to agents."""
        return DelegationDesk(self.store, self.audit, self.holders)

    @cached_property
    def grants(self) -> GrantDesk:
        """授权用证 and 依职能查验: grants, their use, uses by duty, holders' histories."""
        return GrantDesk(self.office, protector=self.protector, directory=self.holders,
                         delegation_desk=self.delegations, keys=PlatformKeys(self.authority))

    @cached_property
    def showings(self) -> ShowDesk:
        """亮证: short-lived showings of presentations."""
        return ShowDesk(self.grants)

    def trust_material(self) -> TrustMaterial:
        """This platform's anchors, CA and department certificates and CRLs."""
        return self.authority.trust_material()

    def verifier(self) -> Verifier:
        """A verifier that trusts this platform's regions and asks its store for status."""
        return Verifier(self.trust_material(), StoreStatusSource(self.store), self.types)

    def close(self) -> None:
        """Release the HSM session and database connections."""
        if "keystore" in self.__dict__:
            self.keystore.close()
        if "store" in self.__dict__:
            self.store.close()


def open_platform(settings: Settings | None = None) -> Platform:
    """The platform of the configured state directory."""
    return Platform(settings or load_settings())
