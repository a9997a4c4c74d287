"""certsvc.v1.AuditService (auditors)."""

from __future__ import annotations

import grpc

from certsvc.v1 import audit_service_pb2, audit_service_pb2_grpc
from daemon import convert
from daemon.errors import invalid
from daemon.runtime import WorkerRuntime


class AuditService(audit_service_pb2_grpc.AuditServiceServicer):
    """Read the audit log and check its chain."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def QueryAuditRecords(self, request: audit_service_pb2.QueryAuditRecordsRequest,
                          context: grpc.ServicerContext
                          ) -> audit_service_pb2.QueryAuditRecordsResponse:
        """Records in order, filtered, paged by sequence number."""
        if not 0 <= request.page_size <= 1000:
            raise invalid("page_size", "page_size is 0 to 1000")
        if request.page_token and not request.page_token.isdigit():
            raise invalid("page_token", "not a page token of this method")
        size = request.page_size or 100
        records = self.runtime.platform.audit.query(
            since=convert.moment(request.start_time) if request.HasField("start_time")
            else None,
            until=convert.moment(request.end_time) if request.HasField("end_time") else None,
            actor=request.actor or None, method=request.method or None,
            object_id=request.object or None,
            after_seq=int(request.page_token or 0), limit=size + 1)
        page = records[:size]
        return audit_service_pb2.QueryAuditRecordsResponse(
            records=[convert.audit_record(record) for record in page],
            next_page_token=str(page[-1].seq) if len(records) > size else "")

    def VerifyAuditChain(self, request: audit_service_pb2.VerifyAuditChainRequest,
                         context: grpc.ServicerContext
                         ) -> audit_service_pb2.VerifyAuditChainResponse:
        """Check every record and checkpoint."""
        audit = self.runtime.platform.audit
        result = audit.verify()
        last = audit.last_checkpoint()
        return audit_service_pb2.VerifyAuditChainResponse(
            ok=result.ok, records_checked=result.records,
            checkpoints_checked=result.checkpoints,
            first_bad_record=f"auditRecords/{result.first_bad_seq}"
            if result.first_bad_seq is not None else "",
            problems=result.problems,
            last_checkpoint=convert.checkpoint(last) if last else None)
