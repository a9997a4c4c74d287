"""Making a region's trust list from its platform: CAs, issuers, seal makers, daemon."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from certlib.clock import utc_now
from certlib.store.schema import seal_makers
from certlib.trustlist.model import (
    Authorisation,
    Endpoint,
    IssuerEntry,
    RegionTrustList,
    StatusLocation,
    parse_region_list,
)
from certlib.trustlist.national import checked

if TYPE_CHECKING:
    from certlib.platform import Platform


def build_region_list(
    platform: Platform, region_code: str, *, version: int, expires: datetime,
    endpoint: str, issued: datetime | None = None, name: str | None = None,
    tls_server_name: str | None = None, tls_ca_certificates: Sequence[bytes] | None = None,
    status_lists: str | None = None, crls: str | None = None,
    authorisations: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The `signed` member of a region's trust list, from what its platform holds.

    Active departments of the region with their types and signing certificates, the root
    and issuing CA, the seal-making certificate; `endpoint` is the daemon's host:port,
    reached over TLS as `tls_server_name` (default: its host) under `tls_ca_certificates`
    (default: the region root). Status lists and CRLs are fetched from `status_lists` and
    `crls` (default `certsvc://<endpoint>`). `authorisations` maps sub-regions to the
    certificate types their issuers may issue.
    """
    authority = platform.authority
    region = authority.region(region_code)
    issuers = tuple(
        IssuerEntry(record.uscc, record.name, record.type_codes, record.certificate)
        for record in authority.issuers()
        if record.region_code == region.code and record.state == "active")
    with platform.store.reading() as connection:
        makers = tuple(bytes(row.certificate) for row in connection.execute(
            sa.select(seal_makers.c.certificate).where(
                seal_makers.c.region_code == region.code)))
    source = f"certsvc://{endpoint}"
    listed = RegionTrustList(
        region=region.code, name=name or region.name, version=version,
        issued=issued or utc_now(), expires=expires, roots=(region.root_certificate,),
        issuing=(region.issuing_certificate,), issuers=issuers, seal_makers=makers,
        status=StatusLocation(region.code, status_lists or source, crls or source),
        endpoint=Endpoint(endpoint,
                          tls_server_name or endpoint.rpartition(":")[0].strip("[]"),
                          tuple(tls_ca_certificates or (region.root_certificate,))),
        authorisations=tuple(Authorisation(code, tuple(types)) for code, types in
                             sorted((authorisations or {}).items())))
    return checked(listed.to_json, parse_region_list)
