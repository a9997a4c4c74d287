"""certsvc.v1.UseService: departments use holders' certificates (under a grant, by duty, as
an organisation agent) and check showings and receipts. The library checks, consumes and
records every use; this module only translates."""

from __future__ import annotations

import json
from dataclasses import replace

import grpc

from certlib.errors import InputError
from certlib.grants import GrantTokenInvalid, verify_receipt, verify_show
from certlib.platform import Platform
from certlib.report import ValidationReport
from certsvc.v1 import use_service_pb2, use_service_pb2_grpc
from daemon import convert
from daemon.calls import call
from daemon.errors import RpcFailure, invalid
from daemon.runtime import WorkerRuntime
from daemon.services.holders import (
    MAX_NAME,
    delegation_id_of,
    field_names,
    identifier_of,
    matter_of,
    moment_of,
    use_result_message,
)

MAX_TOKEN_BYTES = 64 * 1024


def _bounded(data: bytes | str, field: str) -> None:
    if not data or len(data) > MAX_TOKEN_BYTES:
        raise invalid(field, f"{field} is 1 to {MAX_TOKEN_BYTES} bytes")


def _plain(report: ValidationReport) -> ValidationReport:
    """The report as the API gives it: list statements as JSON arrays, and field values only
    when it PASSED."""
    subject = {key: json.dumps(list(value), ensure_ascii=False)
               if isinstance(value, list | tuple) else value
               for key, value in report.subject.items()}
    return replace(report, subject=subject,
                   disclosed=dict(report.disclosed) if report.passed else {})


class UseService(use_service_pb2_grpc.UseServiceServicer):
    """Uses of holders' certificates by the calling department."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    @property
    def _platform(self) -> Platform:
        return self.runtime.platform

    def UseCertificate(self, request: use_service_pb2.UseCertificateRequest,
                       context: grpc.ServicerContext
                       ) -> use_service_pb2.UseCertificateResponse:
        """Use a grant made for the caller: one use, the granted fields, a receipt."""
        kind = request.WhichOneof("token")
        if kind is None:
            raise invalid("token", "give token_der or token_text")
        token: bytes | str = request.token_der if kind == "token_der" else request.token_text
        _bounded(token, kind)
        try:
            result = self._platform.grants.use(token, call().caller.uscc)
        except GrantTokenInvalid as error:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, error.code, error.message,
                             field=kind) from None
        return use_service_pb2.UseCertificateResponse(result=use_result_message(result))

    def FetchForDuty(self, request: use_service_pb2.FetchForDutyRequest,
                     context: grpc.ServicerContext) -> use_service_pb2.FetchForDutyResponse:
        """依职能查验: a certificate of one type of a holder, for one of the caller's duties."""
        caller = call().caller
        if not request.type_id:
            raise invalid("type_id", "the certificate type is required")
        try:
            type_id = self._platform.types.get(request.type_id).id
        except InputError as error:
            raise invalid("type_id", error.message, error.code) from None
        matter = matter_of(request)
        if not 1 <= len(request.legal_basis.strip()) <= 200:
            raise invalid("legal_basis", "the legal basis is 1 to 200 characters")
        fields = field_names(request.fields, "fields", required=False)
        try:
            holder = self._platform.holders.person(request.holder_id_number)
        except InputError:
            raise invalid("holder_id_number", "not a resident identity number") from None
        result = self._platform.grants.fetch_for_duty(
            caller.uscc, holder, type_id=type_id, matter=matter,
            legal_basis=request.legal_basis, duties={caller.uscc: caller.duties},
            fields=fields or None)
        return use_service_pb2.FetchForDutyResponse(result=use_result_message(result))

    def PresentAsAgent(self, request: use_service_pb2.PresentAsAgentRequest,
                       context: grpc.ServicerContext
                       ) -> use_service_pb2.PresentAsAgentResponse:
        """委托用证: present within a delegation naming the caller as agent."""
        delegation_id = delegation_id_of(request.delegation, "delegation")
        identifier = identifier_of(request.certificate, "certificate")
        fields = field_names(request.fields, "fields")
        matter = matter_of(request)
        result = self._platform.grants.present_as_agent(
            call().caller.uscc, delegation_id, identifier, fields, matter)
        return use_service_pb2.PresentAsAgentResponse(result=use_result_message(result))

    def VerifyShowing(self, request: use_service_pb2.VerifyShowingRequest,
                      context: grpc.ServicerContext) -> use_service_pb2.VerifyShowingResponse:
        """Verify a showing online: signature, window, nonce, audience, presentation."""
        kind = request.WhichOneof("showing")
        if kind is None:
            raise invalid("showing", "give showing_der or showing_text")
        showing: bytes | str = (request.showing_der if kind == "showing_der"
                                else request.showing_text)
        _bounded(showing, kind)
        if request.nonce and not 8 <= len(request.nonce) <= 64:
            raise invalid("nonce", "a nonce is 8 to 64 bytes")
        if len(request.audience) > MAX_NAME:
            raise invalid("audience", "the audience is at most 200 characters")
        report = verify_show(showing, trust=self.runtime.trust_material(),
                             at=moment_of(request, "validation_time"),
                             nonce=request.nonce or None, audience=request.audience or None,
                             status=self.runtime.status_source, types=self._platform.types)
        return use_service_pb2.VerifyShowingResponse(report=convert.report(_plain(report)))

    def VerifyReceipt(self, request: use_service_pb2.VerifyReceiptRequest,
                      context: grpc.ServicerContext) -> use_service_pb2.VerifyReceiptResponse:
        """Verify a use receipt; its statement is in the report's subject."""
        _bounded(request.receipt, "receipt")
        report = verify_receipt(request.receipt, trust=self.runtime.trust_material(),
                                at=moment_of(request, "validation_time"))
        return use_service_pb2.VerifyReceiptResponse(report=convert.report(_plain(report)))
