"""certsvc.v1.SealService: making seals, their use policies, approvals, applying, verifying."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import grpc

from certlib.audit import Actor, PendingRecord
from certlib.platform import Platform
from certlib.seals import (
    DocumentKind,
    Placement,
    RequestState,
    SealPolicy,
    SealRecord,
    SealType,
    SealUse,
    UseRequest,
)
from certlib.seals.verify import verify_document
from certsvc.v1 import seal_pb2, seal_service_pb2, seal_service_pb2_grpc
from daemon import convert
from daemon.calls import call
from daemon.errors import RpcFailure, invalid
from daemon.identity import AUDITOR, SEAL_MAKER, Caller
from daemon.runtime import WorkerRuntime

_KINDS: dict[int, DocumentKind] = {
    seal_pb2.DOCUMENT_KIND_PDF: DocumentKind.PDF, seal_pb2.DOCUMENT_KIND_OFD: DocumentKind.OFD,
    seal_pb2.DOCUMENT_KIND_DATA: DocumentKind.DATA}
_KIND_VALUES: dict[DocumentKind, seal_pb2.DocumentKind.ValueType] = {
    DocumentKind.PDF: seal_pb2.DOCUMENT_KIND_PDF, DocumentKind.OFD: seal_pb2.DOCUMENT_KIND_OFD,
    DocumentKind.DATA: seal_pb2.DOCUMENT_KIND_DATA}
_STATES = {RequestState.PENDING: seal_pb2.SEAL_USE_REQUEST_STATE_PENDING,
           RequestState.APPROVED: seal_pb2.SEAL_USE_REQUEST_STATE_APPROVED,
           RequestState.REJECTED: seal_pb2.SEAL_USE_REQUEST_STATE_REJECTED,
           RequestState.USED: seal_pb2.SEAL_USE_REQUEST_STATE_USED}
_MAX_PICTURE = 512 * 1024


def _es_id(name: str, field: str = "name") -> str:
    if not name.startswith("seals/") or not 8 <= len(name) - len("seals/") <= 40:
        raise invalid(field, "name must be seals/{es_id}")
    return name.removeprefix("seals/")


def _request_id(name: str, field: str = "name") -> str:
    if not name.startswith("sealUseRequests/") or not 1 <= len(name) - 16 <= 40:
        raise invalid(field, "name must be sealUseRequests/{id}")
    return name.removeprefix("sealUseRequests/")


def _kind(value: int, field: str = "document_kind") -> DocumentKind:
    if value not in _KINDS:
        raise invalid(field, "document_kind is PDF, OFD or DATA")
    return _KINDS[value]


def _policy(message: seal_pb2.SealPolicy) -> SealPolicy:
    return SealPolicy(tuple(message.users),
                      tuple(_kind(k, "policy.document_kinds") for k in message.document_kinds),
                      message.daily_quota or None, tuple(message.approvers))


def _denied(message: str) -> RpcFailure:
    return RpcFailure(grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED", message)


class SealService(seal_service_pb2_grpc.SealServiceServicer):
    """Seals of the platform's departments, as the calling department's operator."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    @property
    def _platform(self) -> Platform:
        return self.runtime.platform

    def _seal(self, record: SealRecord, full: bool = False) -> seal_pb2.Seal:
        policy = self._platform.seals.policy(record.es_id)
        message = seal_pb2.Seal(
            name=f"seals/{record.es_id}", es_id=record.es_id,
            owner=f"issuers/{record.owner_uscc}", owner_name=record.owner_name,
            display_name=record.name, type=int(record.seal_type),  # type: ignore[arg-type]
            state={"active": seal_pb2.SEAL_STATE_ACTIVE,
                   "suspended": seal_pb2.SEAL_STATE_SUSPENDED,
                   "revoked": seal_pb2.SEAL_STATE_REVOKED}[record.state.value],
            valid_from_time=convert.timestamp(record.valid_from),
            valid_until_time=convert.timestamp(record.valid_until),
            create_time=convert.timestamp(record.created_at),
            policy=seal_pb2.SealPolicy(
                users=policy.users, document_kinds=[_KIND_VALUES[k] for k in
                                                    policy.document_kinds],
                daily_quota=policy.daily_quota or 0, approvers=policy.approvers))
        if full:
            message.esl, message.picture_png = record.seal, record.picture
            message.ses_certificate = record.ses_certificate
            message.pdf_certificate = record.pdf_certificate
        return message

    def _own(self, es_id: str, *also: str) -> SealRecord:
        """The seal, if the caller is a seal maker (or holds `also`) or its department's."""
        caller: Caller = call().caller
        record = self._platform.seals.get(es_id)
        if SEAL_MAKER in caller.roles or any(role in caller.roles for role in also):
            return record
        if record.owner_uscc != caller.uscc:
            raise _denied(f"seal {es_id} belongs to another department")
        return record

    # -- making ---------------------------------------------------------------------------------

    def CreateSeal(self, request: seal_service_pb2.CreateSealRequest,
                   context: grpc.ServicerContext) -> seal_service_pb2.CreateSealResponse:
        """Make a seal for a department."""
        if not request.owner.startswith("issuers/"):
            raise invalid("owner", "owner must be issuers/{uscc}")
        if request.type not in (1, 2, 3):
            raise invalid("type", "type is OFFICIAL, PERSONAL or SPECIAL")
        if len(request.picture) > _MAX_PICTURE:
            raise invalid("picture", "the picture is at most 512 KiB")
        if not request.HasField("policy"):
            raise invalid("policy", "a seal needs a use policy")
        for field in ("picture_width_mm", "picture_height_mm"):
            if not 0 <= getattr(request, field) <= 100:
                raise invalid(field, "0 (default 42) to 100 mm")
        current = call()
        record = self._platform.seals.create(
            owner_uscc=request.owner.removeprefix("issuers/"), owner_name=request.owner_name,
            region_code=request.region, name=request.display_name,
            seal_type=SealType(request.type),
            valid_from=(convert.moment(request.valid_from_time)
                        if request.HasField("valid_from_time") else None),
            valid_until=(convert.moment(request.valid_until_time)
                         if request.HasField("valid_until_time") else None),
            picture=request.picture or None,
            picture_size_mm=(request.picture_width_mm or 42, request.picture_height_mm or 42),
            policy=_policy(request.policy), actor=current.caller.operator)
        return seal_service_pb2.CreateSealResponse(seal=self._seal(record, full=True))

    def GetSeal(self, request: seal_service_pb2.GetSealRequest,
                context: grpc.ServicerContext) -> seal_service_pb2.GetSealResponse:
        """One seal."""
        record = self._own(_es_id(request.name), AUDITOR)
        return seal_service_pb2.GetSealResponse(seal=self._seal(record, request.full_view))

    def ListSeals(self, request: seal_service_pb2.ListSealsRequest,
                  context: grpc.ServicerContext) -> seal_service_pb2.ListSealsResponse:
        """Seals: all for seal makers and auditors, the caller's department's otherwise."""
        caller: Caller = call().caller
        owner = request.owner.removeprefix("issuers/") if request.owner else None
        if SEAL_MAKER not in caller.roles and AUDITOR not in caller.roles:
            if owner not in (None, caller.uscc):
                raise _denied("only your own department's seals")
            owner = caller.uscc
        return seal_service_pb2.ListSealsResponse(
            seals=[self._seal(record) for record in self._platform.seals.list(owner)])

    def _change(self, name: str,
                action: Callable[[str, Actor], SealRecord]) -> seal_pb2.Seal:
        record = self._own(_es_id(name))
        return self._seal(action(record.es_id, call().caller.operator))

    def SuspendSeal(self, request: seal_service_pb2.SuspendSealRequest,
                    context: grpc.ServicerContext) -> seal_service_pb2.SuspendSealResponse:
        """Stop a seal from being applied."""
        return seal_service_pb2.SuspendSealResponse(seal=self._change(
            request.name, lambda es_id, actor: self._platform.seals.suspend(es_id, actor=actor)))

    def ResumeSeal(self, request: seal_service_pb2.ResumeSealRequest,
                   context: grpc.ServicerContext) -> seal_service_pb2.ResumeSealResponse:
        """Let a suspended seal be applied again."""
        return seal_service_pb2.ResumeSealResponse(seal=self._change(
            request.name, lambda es_id, actor: self._platform.seals.resume(es_id, actor=actor)))

    def RevokeSeal(self, request: seal_service_pb2.RevokeSealRequest,
                   context: grpc.ServicerContext) -> seal_service_pb2.RevokeSealResponse:
        """End a seal for good."""
        reason = request.reason or "cessation_of_operation"
        if reason not in _REASONS:
            raise invalid("reason", "an RFC 5280 reason name, e.g. key_compromise")
        return seal_service_pb2.RevokeSealResponse(seal=self._change(
            request.name, lambda es_id, actor: self._platform.seals.revoke(
                es_id, reason, actor=actor)))

    def UpdateSealPolicy(self, request: seal_service_pb2.UpdateSealPolicyRequest,
                         context: grpc.ServicerContext
                         ) -> seal_service_pb2.UpdateSealPolicyResponse:
        """Replace a seal's use policy."""
        record = self._own(_es_id(request.name))
        if not request.HasField("policy"):
            raise invalid("policy", "give the new policy")
        self._platform.seals.set_policy(record.es_id, _policy(request.policy),
                                        actor=call().caller.operator)
        return seal_service_pb2.UpdateSealPolicyResponse(
            seal=self._seal(self._platform.seals.get(record.es_id)))

    # -- approvals --------------------------------------------------------------------------------

    def CreateSealUseRequest(self, request: seal_service_pb2.CreateSealUseRequestRequest,
                             context: grpc.ServicerContext
                             ) -> seal_service_pb2.CreateSealUseRequestResponse:
        """Ask for approval to apply a seal to one document."""
        created = self._platform.seal_desk.request(
            _es_id(request.seal, "seal"), call().caller.operator, _kind(request.document_kind),
            request.document_sha256, request.purpose)
        return seal_service_pb2.CreateSealUseRequestResponse(request=_use_request(created))

    def DecideSealUseRequest(self, request: seal_service_pb2.DecideSealUseRequestRequest,
                             context: grpc.ServicerContext
                             ) -> seal_service_pb2.DecideSealUseRequestResponse:
        """Approve or reject a request."""
        decided = self._platform.seal_desk.decide(
            _request_id(request.name), call().caller.operator, approve=request.approve,
            note=request.note or None)
        return seal_service_pb2.DecideSealUseRequestResponse(request=_use_request(decided))

    def ListSealUseRequests(self, request: seal_service_pb2.ListSealUseRequestsRequest,
                            context: grpc.ServicerContext
                            ) -> seal_service_pb2.ListSealUseRequestsResponse:
        """Use requests of a seal."""
        record = self._own(_es_id(request.seal, "seal"), AUDITOR)
        state = {v: k for k, v in _STATES.items()}.get(request.state)
        if request.state and state is None:
            raise invalid("state", "not a request state")
        return seal_service_pb2.ListSealUseRequestsResponse(requests=[
            _use_request(item) for item in self._platform.seal_desk.requests(
                record.es_id, state)])

    # -- applying ---------------------------------------------------------------------------------

    def ApplySeal(self, request: seal_service_pb2.ApplySealRequest,
                  context: grpc.ServicerContext) -> seal_service_pb2.ApplySealResponse:
        """Apply a seal to a document and record the use."""
        es_id = _es_id(request.seal, "seal")
        kind = _kind(request.document_kind)
        if not request.document:
            raise invalid("document", "the document is empty")
        placement = None
        if request.HasField("placement"):
            given = request.placement
            if not 0 <= given.page < 10_000 or given.occurrence < 0:
                raise invalid("placement", "page and occurrence count from 0")
            if not (0 <= given.x_mm <= 2000 and 0 <= given.y_mm <= 2000):
                raise invalid("placement", "x_mm and y_mm are 0 to 2000")
            placement = Placement(given.page, given.x_mm, given.y_mm,
                                  given.keyword or None, given.occurrence)
        approval = _request_id(request.request, "request") if request.request else None
        operator = call().caller.operator
        sealer = self._platform.sealer
        if kind is DocumentKind.PDF:
            sealed = sealer.apply_pdf(es_id, request.document, actor=operator,
                                      purpose=request.purpose, request_id=approval,
                                      placement=placement)
        elif kind is DocumentKind.OFD:
            sealed = sealer.apply_ofd(es_id, request.document, actor=operator,
                                      purpose=request.purpose, request_id=approval,
                                      placement=placement, close=request.close_document)
        else:
            sealed = sealer.apply_data(es_id, request.document, actor=operator,
                                       purpose=request.purpose, request_id=approval)
        return seal_service_pb2.ApplySealResponse(document=sealed.data,
                                                  use=_use(sealed.use))

    def ListSealUses(self, request: seal_service_pb2.ListSealUsesRequest,
                     context: grpc.ServicerContext) -> seal_service_pb2.ListSealUsesResponse:
        """Recorded uses of a seal."""
        record = self._own(_es_id(request.seal, "seal"), AUDITOR)
        if not 0 <= request.page_size <= 1000:
            raise invalid("page_size", "0 (default 1,000) to 1,000")
        uses = self._platform.seal_desk.usage(
            es_id=record.es_id,
            since=convert.moment(request.start_time) if request.HasField("start_time") else None,
            until=convert.moment(request.end_time) if request.HasField("end_time") else None,
            limit=request.page_size or 1000)
        return seal_service_pb2.ListSealUsesResponse(uses=[_use(use) for use in uses])

    # -- verifying ------------------------------------------------------------------------------

    def VerifySealedDocument(self, request: seal_service_pb2.VerifySealedDocumentRequest,
                             context: grpc.ServicerContext
                             ) -> seal_service_pb2.VerifySealedDocumentResponse:
        """Verify a sealed PDF or OFD, a seal or an SES signature; the answer is audited."""
        if not request.document:
            raise invalid("document", "the document is empty")
        at: datetime | None = (convert.moment(request.validation_time)
                               if request.HasField("validation_time") else None)
        result = verify_document(request.document, trust=self.runtime.trust_material(),
                                 at=at, signed_data=request.signed_data or None,
                                 seals=self._platform.seals)
        current = call()
        sub = f"/{result.sub_indication.value}" if result.sub_indication else ""
        self.runtime.audit_batcher.record_all([_pending(
            current.caller.actor, result.format, result.indication.value + sub,
            current.request_id, [r.subject.get("es_id") for _, r in result.signatures])])
        return seal_service_pb2.VerifySealedDocumentResponse(
            format=result.format, indication=convert.indication(result.indication),
            sub_indication=convert.sub_indication(result.sub_indication),
            signatures=[seal_pb2.SignatureReport(name=name, report=convert.report(report))
                        for name, report in result.signatures])


_REASONS = frozenset({"unspecified", "key_compromise", "affiliation_changed", "superseded",
                      "cessation_of_operation"})


def _pending(actor: Actor, format_name: str, outcome: str, request_id: str,
             es_ids: list[object]) -> PendingRecord:
    return PendingRecord(actor=actor, method="seal.verify",
                         objects=tuple(str(e) for e in es_ids if e), outcome=outcome,
                         request_id=request_id, details={"format": format_name})


def _use_request(item: UseRequest) -> seal_pb2.SealUseRequest:
    return seal_pb2.SealUseRequest(
        name=f"sealUseRequests/{item.id}", seal=f"seals/{item.es_id}",
        requester=item.requester, document_kind=_KIND_VALUES[item.document_kind],
        document_sha256=item.document_digest, purpose=item.purpose, state=_STATES[item.state],
        create_time=convert.timestamp(item.created_at),
        decide_time=convert.timestamp(item.decided_at), approver=item.approver or "",
        note=item.note or "")


def _use(use: SealUse) -> seal_pb2.SealUse:
    return seal_pb2.SealUse(
        id=use.id, seal=f"seals/{use.es_id}", user=use.user, approver=use.approver or "",
        request=f"sealUseRequests/{use.request_id}" if use.request_id else "",
        document_kind=_KIND_VALUES[use.document_kind], document_sha256=use.document_digest,
        sealed_sha256=use.sealed_digest, purpose=use.purpose,
        use_time=convert.timestamp(use.used_at))
