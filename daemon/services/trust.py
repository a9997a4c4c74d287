"""certsvc.v1.TrustService: this region's signed trust list, the national list in force,
and the region's CRLs, for departments and other regions' daemons."""

from __future__ import annotations

import grpc

from certlib.trustlist import store as trust_state
from certsvc.v1 import trust_service_pb2, trust_service_pb2_grpc
from daemon.errors import RpcFailure, invalid
from daemon.runtime import WorkerRuntime

MAX_LIST_BYTES = 8 << 20


def _not_found(message: str) -> RpcFailure:
    return RpcFailure(grpc.StatusCode.NOT_FOUND, "TRUST_LIST_NOT_FOUND", message)


class TrustService(trust_service_pb2_grpc.TrustServiceServicer):
    """Serve what other regions need to trust this one."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def _region(self, given: str) -> str:
        regions = sorted(self.runtime.federation.local_regions)
        if not given:
            if not regions:
                raise _not_found("this daemon has no region yet")
            return regions[0]
        if given not in regions:
            raise invalid("region", "not a region of this daemon")
        return given

    def GetRegionTrustList(self, request: trust_service_pb2.GetRegionTrustListRequest,
                           context: grpc.ServicerContext
                           ) -> trust_service_pb2.GetRegionTrustListResponse:
        """The region's list as last published into `<home>/trust/region-<code>.json`."""
        region = self._region(request.region)
        path = self.runtime.config.home / "trust" / f"region-{region}.json"
        try:
            document = path.read_bytes()[:MAX_LIST_BYTES + 1]
        except OSError:
            raise _not_found(f"region {region} has published no trust list") from None
        return trust_service_pb2.GetRegionTrustListResponse(document=document)

    def GetNationalTrustList(self, request: trust_service_pb2.GetNationalTrustListRequest,
                             context: grpc.ServicerContext
                             ) -> trust_service_pb2.GetNationalTrustListResponse:
        """The national list this daemon has in force."""
        with self.runtime.platform.store.reading() as connection:
            stored = trust_state.read_lists(connection, ["national"]).get("national")
        if stored is None:
            raise _not_found("no national list is installed here")
        return trust_service_pb2.GetNationalTrustListResponse(document=bytes(stored.document))

    def GetCrls(self, request: trust_service_pb2.GetCrlsRequest,
                context: grpc.ServicerContext) -> trust_service_pb2.GetCrlsResponse:
        """The current CRLs of the region's root and issuing CA."""
        region = self._region(request.region)
        authority = self.runtime.platform.authority
        return trust_service_pb2.GetCrlsResponse(
            root_crl=authority.current_crl(region, "root"),
            issuing_crl=authority.current_crl(region, "issuing"))
