"""certsvc.v1.HolderService: holders (and person agents) grant, delegate, show and read
their history. The caller is the holder app (mutual TLS, role `holder_app`); the holder is
the person of the call's OpenID Connect bearer token. Also the translation of grants,
delegations and uses to their messages, which UseService shares."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from certlib.clock import utc_now
from certlib.cms import parse as parse_envelope
from certlib.errors import InputError
from certlib.grants import (
    CertificateUse,
    Delegation,
    Grant,
    GrantState,
    Holder,
    Matter,
    Scope,
    UseKind,
    UseResult,
    to_text,
)
from certlib.grants.delegation import MAX_DEPTH
from certlib.grants.delegation import MAX_USES as MAX_DELEGATION_USES
from certlib.grants.delegation import MAX_WINDOW as MAX_DELEGATION_WINDOW
from certlib.grants.desk import MAX_GRANT_USES, MAX_GRANT_WINDOW, check_matter
from certlib.grants.showing import MAX_SHOW_WINDOW
from certlib.grants.tokens import ShowTokenInfo
from certlib.ids import check_uscc
from certlib.platform import Platform
from certsvc.v1 import grant_pb2, holder_service_pb2, holder_service_pb2_grpc
from daemon import convert
from daemon.calls import call
from daemon.errors import RpcFailure, invalid
from daemon.runtime import WorkerRuntime

MAX_NAME = 200
MAX_FIELD_NAME = 64
DEFAULT_SHOW_LIFETIME = timedelta(minutes=5)
DEFAULT_GRANT_WINDOW = timedelta(days=7)

# -- resource names and common request parts (UseService uses these too) -----------------------


def _named(name: str, prefix: str, field: str, what: str) -> str:
    if not isinstance(name, str) or not name.startswith(prefix) \
            or not 1 <= len(name) - len(prefix) <= MAX_NAME:
        raise invalid(field, f"{field} must be {prefix}{{{what}}}")
    return name.removeprefix(prefix)


def identifier_of(name: str, field: str) -> str:
    """The certificate identifier of `certificates/{identifier}`."""
    return _named(name, "certificates/", field, "identifier")


def grant_id_of(name: str, field: str = "name") -> str:
    """The id of `grants/{grant_id}`."""
    return _named(name, "grants/", field, "grant_id")


def delegation_id_of(name: str, field: str) -> str:
    """The id of `delegations/{delegation_id}`."""
    return _named(name, "delegations/", field, "delegation_id")


def uscc_of(text: str, field: str, prefix: str = "") -> str:
    """A checked USCC from `{prefix}{uscc}`."""
    if not isinstance(text, str) or not text.startswith(prefix):
        raise invalid(field, f"{field} must be {prefix}{{uscc}}")
    try:
        return check_uscc(text.removeprefix(prefix)).value
    except InputError as error:
        raise invalid(field, error.message, error.code) from None


def matter_of(request: Message, field: str = "matter") -> Matter:
    """The request's required Matter, checked field by field."""
    if not request.HasField(field):
        raise invalid(field, "a matter (code and display_name) is required")
    message: grant_pb2.Matter = getattr(request, field)
    for part, probe in (("code", Matter(message.code, "-")),
                        ("display_name", Matter("x", message.display_name))):
        try:
            check_matter(probe)
        except InputError as error:
            raise invalid(f"{field}.{part}", error.message) from None
    return Matter(message.code, message.display_name)


def field_names(names: Iterable[str], field: str, *, limit: int = 100,
                required: bool = True) -> tuple[str, ...]:
    """Certificate field names: 1 to `limit` (0 allowed unless required), each a short name."""
    listed = tuple(names)
    if (required and not listed) or len(listed) > limit:
        raise invalid(field, f"give {'1' if required else '0'} to {limit} field names")
    for index, name in enumerate(listed):
        if not 1 <= len(name) <= MAX_FIELD_NAME:
            raise invalid(f"{field}[{index}]", "a field name is 1 to 64 characters")
    return listed


def identifiers_of(names: Iterable[str], field: str, *, limit: int = 10) -> tuple[str, ...]:
    """Certificate identifiers from 1 to `limit` resource names."""
    listed = tuple(names)
    if not 1 <= len(listed) <= limit:
        raise invalid(field, f"give 1 to {limit} certificates")
    return tuple(identifier_of(name, f"{field}[{index}]") for index, name in enumerate(listed))


def moment_of(request: Message, field: str) -> datetime | None:
    """An optional Timestamp field as an aware datetime."""
    if not request.HasField(field):
        return None
    try:
        return convert.moment(getattr(request, field))
    except (ValueError, OverflowError):
        raise invalid(field, "not a representable time") from None


def _window(request: Message, prefix: str, default: timedelta | None, longest: timedelta,
            ) -> tuple[datetime, datetime]:
    """(not_before, not_after) of a request: positive, not over, at most `longest`."""
    now = utc_now()
    not_before = moment_of(request, "not_before_time") or now
    not_after = moment_of(request, "not_after_time")
    if not_after is None:
        if default is None:
            raise invalid(f"{prefix}not_after_time", "the end of the window is required")
        not_after = not_before + default
    if not_after <= not_before:
        raise invalid(f"{prefix}not_after_time", "the window ends after it starts")
    if not_after <= now:
        raise invalid(f"{prefix}not_after_time", "the window is already over")
    if not_after > max(now, not_before) + longest:
        raise invalid(f"{prefix}not_after_time", f"a window is at most {longest.days} days")
    return not_before, not_after


# -- messages -------------------------------------------------------------------------------

_STATES = {GrantState.ACTIVE: grant_pb2.GRANT_STATE_ACTIVE,
           GrantState.REVOKED: grant_pb2.GRANT_STATE_REVOKED}
_AGENT_KINDS = {"person": grant_pb2.AGENT_KIND_PERSON,
                "organisation": grant_pb2.AGENT_KIND_ORGANISATION}
_USE_KINDS = {UseKind.GRANT: grant_pb2.USE_KIND_GRANT, UseKind.DUTY: grant_pb2.USE_KIND_DUTY,
              UseKind.SHOW: grant_pb2.USE_KIND_SHOW, UseKind.AGENT: grant_pb2.USE_KIND_AGENT}


def _matter(matter: Matter) -> grant_pb2.Matter:
    return grant_pb2.Matter(code=matter.code, display_name=matter.name)


def _certificates(identifiers: tuple[str, ...]) -> list[str]:
    return [f"certificates/{identifier}" for identifier in identifiers]


def grant_message(grant: Grant) -> grant_pb2.Grant:
    """A Grant message, with its token in both forms."""
    return grant_pb2.Grant(
        name=f"grants/{grant.id}", holder=f"holder:{grant.holder}",
        granted_by=grant.granted_by,
        delegation=f"delegations/{grant.delegation_id}" if grant.delegation_id else "",
        audience=f"issuers/{grant.audience}", certificates=_certificates(grant.certificates),
        fields=grant.fields, matter=_matter(grant.matter),
        not_before_time=convert.timestamp(grant.not_before),
        not_after_time=convert.timestamp(grant.not_after), max_uses=grant.max_uses,
        uses=grant.uses, state=_STATES[grant.state],
        create_time=convert.timestamp(grant.created_at), token=grant.token,
        token_text=to_text("grant", grant.token))


def delegation_message(delegation: Delegation) -> grant_pb2.Delegation:
    """A Delegation message."""
    scope = delegation.scope
    return grant_pb2.Delegation(
        name=f"delegations/{delegation.id}", holder=f"holder:{delegation.holder}",
        parent=f"delegations/{delegation.parent_id}" if delegation.parent_id else "",
        delegated_by=delegation.delegated_by, agent_kind=_AGENT_KINDS[delegation.agent_kind],
        agent=delegation.agent,
        scope=grant_pb2.DelegationScope(
            certificates=_certificates(scope.certificates), fields=scope.fields,
            matters=scope.matters, not_before_time=convert.timestamp(scope.not_before),
            not_after_time=convert.timestamp(scope.not_after), max_uses=scope.max_uses,
            may_redelegate=scope.may_redelegate, max_depth=scope.max_depth),
        uses=delegation.uses, state=_STATES[delegation.state],
        create_time=convert.timestamp(delegation.created_at))


def use_message(use: CertificateUse) -> grant_pb2.CertificateUse:
    """A CertificateUse message, with its receipt."""
    return grant_pb2.CertificateUse(
        receipt_id=use.receipt_id, kind=_USE_KINDS[use.kind], caller=use.caller,
        matter=_matter(use.matter), legal_basis=use.legal_basis or "",
        grant=f"grants/{use.grant_id}" if use.grant_id else "",
        delegation=f"delegations/{use.delegation_id}" if use.delegation_id else "",
        certificates=_certificates(use.certificates), fields=use.fields,
        use_time=convert.timestamp(use.used_at), receipt=use.receipt)


def use_result_message(result: UseResult) -> grant_pb2.UseResult:
    """What a department gets for one use."""
    return grant_pb2.UseResult(
        presentations=[grant_pb2.CertificatePresentation(
            certificate=f"certificates/{identifier}", presentation=presentation)
            for identifier, presentation in result.presentations],
        receipt=result.receipt, receipt_id=result.receipt_id,
        disclosed_fields=result.fields)


def _expiry(showing: bytes) -> timestamp_pb2.Timestamp | None:
    info = ShowTokenInfo.load(parse_envelope(showing).content)
    return convert.timestamp(info["not_after"].native)


# -- the service ------------------------------------------------------------------------------


class HolderService(holder_service_pb2_grpc.HolderServiceServicer):
    """What holders do through the platform's app, each call for the token's holder."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    @property
    def _platform(self) -> Platform:
        return self.runtime.platform

    def _holder(self) -> Holder:
        """The holder the call's bearer token authenticates."""
        verifier = self.runtime.token_verifier
        if verifier is None:
            raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, "OIDC_NOT_CONFIGURED",
                             "holder methods need an [oidc] identity provider in certd's "
                             "configuration")
        token = call().bearer
        if token is None:
            raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING",
                             "holder methods need the holder's `authorization: Bearer` token")
        identity = verifier.verify(token)
        try:
            return self._platform.holders.from_identity(identity)
        except InputError:
            raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_NO_IDENTITY_NUMBER",
                             "the holder token carries no valid identity number") from None

    def _whose(self, actor: Holder, delegation_id: str | None) -> Holder:
        """Whose certificates: the token's holder's own, or those of the holder of the
        delegation the token's holder acts under."""
        if delegation_id is None:
            return actor
        return self._platform.delegations.holder_of(delegation_id)

    # -- certificates -------------------------------------------------------------------------

    def ListCertificates(self, request: holder_service_pb2.ListCertificatesRequest,
                         context: grpc.ServicerContext
                         ) -> holder_service_pb2.ListCertificatesResponse:
        """The holder's certificates, basic view."""
        holder = self._holder()
        office = self._platform.office
        return holder_service_pb2.ListCertificatesResponse(certificates=[
            convert.certificate(office.record(identifier))
            for identifier in self._platform.holders.certificates(holder)])

    # -- grants ---------------------------------------------------------------------------------

    def CreateGrant(self, request: holder_service_pb2.CreateGrantRequest,
                    context: grpc.ServicerContext) -> holder_service_pb2.CreateGrantResponse:
        """A grant for a department, with its token."""
        actor = self._holder()
        audience = uscc_of(request.audience, "audience", "issuers/")
        certificates = identifiers_of(request.certificates, "certificates")
        fields = field_names(request.fields, "fields")
        matter = matter_of(request)
        if request.reason and not 1 <= len(request.reason) <= 200:
            raise invalid("reason", "the reason is 1 to 200 characters")
        max_uses = request.max_uses or 1
        if not 1 <= max_uses <= MAX_GRANT_USES:
            raise invalid("max_uses", f"a grant allows 1 to {MAX_GRANT_USES} uses")
        not_before, not_after = _window(request, "", DEFAULT_GRANT_WINDOW, MAX_GRANT_WINDOW)
        delegation_id = (delegation_id_of(request.delegation, "delegation")
                         if request.delegation else None)
        holder = self._whose(actor, delegation_id)
        try:
            grant = self._platform.grants.create(
                holder, audience=audience, certificates=certificates, fields=fields,
                matter=matter, reason=request.reason or None, not_before=not_before,
                not_after=not_after, max_uses=max_uses, by=actor.actor,
                delegation_id=delegation_id)
        except InputError as error:
            if type(error) is not InputError:
                raise
            # Every other part was checked above: what is left is a field no certificate has.
            raise invalid("fields", error.message) from None
        return holder_service_pb2.CreateGrantResponse(grant=grant_message(grant))

    def ListGrants(self, request: holder_service_pb2.ListGrantsRequest,
                   context: grpc.ServicerContext) -> holder_service_pb2.ListGrantsResponse:
        """The grants of the holder's certificates."""
        holder = self._holder()
        return holder_service_pb2.ListGrantsResponse(grants=[
            grant_message(grant) for grant in self._platform.grants.of_holder(holder)])

    def RevokeGrant(self, request: holder_service_pb2.RevokeGrantRequest,
                    context: grpc.ServicerContext) -> holder_service_pb2.RevokeGrantResponse:
        """Revoke the holder's grant, or one the holder made as an agent."""
        holder = self._holder()
        grant_id = grant_id_of(request.name)
        revoked = self._platform.grants.revoke(grant_id, holder.actor, holder)
        return holder_service_pb2.RevokeGrantResponse(grant=grant_message(revoked))

    # -- delegations ----------------------------------------------------------------------------

    def CreateDelegation(self, request: holder_service_pb2.CreateDelegationRequest,
                         context: grpc.ServicerContext
                         ) -> holder_service_pb2.CreateDelegationResponse:
        """Delegate to an agent, or as an agent under `parent`."""
        actor = self._holder()
        kind = request.WhichOneof("agent")
        if kind is None:
            raise invalid("agent", "give agent_id_number or agent_uscc")
        scope = self._scope(request)
        parent = delegation_id_of(request.parent, "parent") if request.parent else None
        if kind == "agent_uscc":
            agent_kind, agent = "organisation", "department:" + uscc_of(request.agent_uscc,
                                                                        "agent_uscc")
        else:
            try:
                person = self._platform.holders.person(request.agent_id_number)
            except InputError:
                raise invalid("agent_id_number", "not a resident identity number") from None
            agent_kind, agent = "person", person.actor.label
        holder = self._whose(actor, parent)
        try:
            made = self._platform.delegations.delegate(
                actor.actor, holder, agent_kind=agent_kind, agent=agent, scope=scope,
                parent_id=parent)
        except InputError as error:
            if type(error) is not InputError:
                raise
            # The scope was checked above: what is left is an agent who is the holder.
            raise invalid(kind, error.message) from None
        return holder_service_pb2.CreateDelegationResponse(
            delegation=delegation_message(made))

    @staticmethod
    def _scope(request: holder_service_pb2.CreateDelegationRequest) -> Scope:
        if not request.HasField("scope"):
            raise invalid("scope", "a delegation needs a scope")
        given = request.scope
        certificates = identifiers_of(given.certificates, "scope.certificates")
        fields = field_names(given.fields, "scope.fields")
        matters = tuple(given.matters)
        if len(matters) > 100:
            raise invalid("scope.matters", "at most 100 matter codes")
        for index, code in enumerate(matters):
            try:
                check_matter(Matter(code, "-"))
            except InputError as error:
                raise invalid(f"scope.matters[{index}]", error.message) from None
        max_uses = given.max_uses or 1
        if not 1 <= max_uses <= MAX_DELEGATION_USES:
            raise invalid("scope.max_uses", f"a delegation allows 1 to {MAX_DELEGATION_USES} "
                          "uses")
        if not 0 <= given.max_depth <= MAX_DEPTH - 1 or (given.max_depth
                                                         and not given.may_redelegate):
            raise invalid("scope.max_depth", f"max_depth is 0 to {MAX_DEPTH - 1}, and above 0 "
                          "only with may_redelegate")
        not_before, not_after = _window(given, "scope.", None, MAX_DELEGATION_WINDOW)
        return Scope(certificates, fields, matters, not_before, not_after, max_uses,
                     given.may_redelegate, given.max_depth)

    def ListDelegations(self, request: holder_service_pb2.ListDelegationsRequest,
                        context: grpc.ServicerContext
                        ) -> holder_service_pb2.ListDelegationsResponse:
        """The holder's delegations, and those naming the holder as agent."""
        holder = self._holder()
        desk = self._platform.delegations
        return holder_service_pb2.ListDelegationsResponse(
            delegations=[delegation_message(d) for d in desk.of_holder(holder)],
            agent_delegations=[delegation_message(d)
                               for d in desk.for_agent(holder.actor.label)])

    def RevokeDelegation(self, request: holder_service_pb2.RevokeDelegationRequest,
                         context: grpc.ServicerContext
                         ) -> holder_service_pb2.RevokeDelegationResponse:
        """Revoke a delegation of the holder's, or one the holder made as an agent."""
        holder = self._holder()
        delegation_id = delegation_id_of(request.name, "name")
        revoked = self._platform.delegations.revoke(delegation_id, holder.actor, holder)
        return holder_service_pb2.RevokeDelegationResponse(
            delegation=delegation_message(revoked))

    # -- history and showing ----------------------------------------------------------------------

    def ListUses(self, request: holder_service_pb2.ListUsesRequest,
                 context: grpc.ServicerContext) -> holder_service_pb2.ListUsesResponse:
        """Every use of the holder's certificates, with receipts."""
        holder = self._holder()
        return holder_service_pb2.ListUsesResponse(uses=[
            use_message(use) for use in self._platform.grants.history(holder)])

    def ShowCertificate(self, request: holder_service_pb2.ShowCertificateRequest,
                        context: grpc.ServicerContext
                        ) -> holder_service_pb2.ShowCertificateResponse:
        """A short-lived signed showing of some fields of one certificate."""
        actor = self._holder()
        identifier = identifier_of(request.certificate, "certificate")
        fields = field_names(request.fields, "fields")
        if len(request.audience) > MAX_NAME:
            raise invalid("audience", "the audience is at most 200 characters")
        if request.nonce and not 8 <= len(request.nonce) <= 64:
            raise invalid("nonce", "a nonce is 8 to 64 bytes")
        lifetime = DEFAULT_SHOW_LIFETIME
        if request.HasField("lifetime"):
            lifetime = request.lifetime.ToTimedelta()
            if not timedelta(0) < lifetime <= MAX_SHOW_WINDOW:
                raise invalid("lifetime", "a showing lasts more than 0 s and up to 30 minutes")
        delegation_id = (delegation_id_of(request.delegation, "delegation")
                         if request.delegation else None)
        holder = self._whose(actor, delegation_id)
        showing = self._platform.showings.show(
            holder, identifier, fields, audience=request.audience or None,
            nonce=request.nonce or None, lifetime=lifetime, by=actor.actor,
            delegation_id=delegation_id)
        return holder_service_pb2.ShowCertificateResponse(
            showing=showing, showing_text=to_text("show", showing),
            expire_time=_expiry(showing))
