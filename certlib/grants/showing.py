"""亮证: a holder (or a person agent) shows a certificate from a phone. The platform, having
authenticated the holder, signs a short-lived showing that wraps a presentation and binds
it to a verifier's nonce or audience; a verifier checks it offline (library) or online, and
a replay outside its window or with another nonce is rejected. Receipts verify here too."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from certlib.audit import Actor
from certlib.clock import utc_now
from certlib.errors import InputError
from certlib.grants.delegation import agents_of
from certlib.grants.desk import GrantDesk, UseResult
from certlib.grants.errors import GrantRefused
from certlib.grants.holders import Holder
from certlib.grants.records import Matter, UseKind
from certlib.grants.tokens import from_text, open_token
from certlib.report import Check, CheckResult, ReportBuilder, SubIndication, ValidationReport
from certlib.status import CertificateStatus, StatusSource
from certlib.trust import TrustMaterial
from certlib.types import TypeRegistry
from certlib.verify import Verifier

MAX_SHOW_WINDOW = timedelta(minutes=30)
SHOW_MATTER = Matter("show", "亮证")


class ShowDesk:
    """Makes showings for holders and their person agents, recording each as a use."""

    def __init__(self, desk: GrantDesk, clock: Callable[[], datetime] = utc_now) -> None:
        self.desk = desk
        self.clock = clock

    def show(self, holder: Holder, identifier: str, fields: tuple[str, ...], *,
             audience: str | None = None, nonce: bytes | None = None,
             lifetime: timedelta = timedelta(minutes=5), by: Actor | None = None,
             delegation_id: str | None = None) -> bytes:
        """A signed showing of `fields` of one certificate, valid for `lifetime`."""
        now = self.clock()
        by = by or holder.actor
        if not timedelta(0) < lifetime <= MAX_SHOW_WINDOW:
            raise InputError("a showing lasts up to 30 minutes")
        if nonce is not None and not 8 <= len(nonce) <= 64:
            raise InputError("a nonce is 8 to 64 bytes")
        if audience is not None and not 1 <= len(audience) <= 200:
            raise InputError("the audience is 1 to 200 characters")
        if not fields:
            raise InputError("show at least one field")
        office = self.desk.office
        if by == holder.actor and not self.desk.directory.owns(holder, (identifier,)):
            raise GrantRefused("the holder does not hold this certificate")
        status = office.status(identifier)
        if status is not CertificateStatus.VALID:
            raise GrantRefused(f"certificate {identifier} is {status.value}")
        result = self.desk._presentations((identifier,), fields, compact=True)
        [(_, presentation)] = result.presentations
        signer = self.desk.signer_for(identifier)
        with office.store.transaction() as connection:
            agents: list[str] = []
            if by != holder.actor:
                if delegation_id is None:
                    raise GrantRefused("an agent shows only under a delegation")
                links = self.desk.delegations.consume(
                    connection, delegation_id, by, now, certificates=(identifier,),
                    fields=result.fields, matter=None)
                if links[-1].holder != holder.pseudonym:
                    raise GrantRefused("the delegation is another holder's")
                agents = agents_of(links)
            token = signer.sign("show", {
                "holder": holder.pseudonym, "presentation": presentation,
                "audience": audience, "nonce": nonce, "not_before": now,
                "not_after": now + lifetime, "agents": agents}, now)
            self.desk._record(connection, kind=UseKind.SHOW, holder=holder, caller=by.label,
                              matter=SHOW_MATTER, now=now, use_number=1,
                              delegation_id=delegation_id, agents=agents, signer=signer,
                              result=UseResult(result.presentations, b"", "", result.fields))
        return token


def verify_show(data: bytes | str, *, trust: TrustMaterial, at: datetime | None = None,
                nonce: bytes | None = None, audience: str | None = None,
                status: StatusSource | None = None,
                types: TypeRegistry | None = None) -> ValidationReport:
    """Verify a showing: the platform's signature and chain, its window, the verifier's
    nonce and audience, and the presentation inside (issuer, fields, status)."""
    moment = at or datetime.now(UTC).replace(microsecond=0)
    if isinstance(data, str):
        try:
            kind, data = from_text(data)
        except InputError as error:
            return _failed(moment, error.message)
        if kind != "show":
            return _failed(moment, "not a showing")
    opened = open_token(data, "show", trust=trust, at=moment)
    checks = list(opened.report.checks)
    info = opened.info
    if not info:
        return opened.report
    subject: dict[str, object] = {"holder": info["holder"], "agents": list(info["agents"]),
                                  "shown_until": info["not_after"].isoformat()}
    if not info["not_before"] <= moment <= info["not_after"]:
        checks.append(Check("show-window", CheckResult.FAILED,
                            "the showing is outside its window (replayed or stale)",
                            SubIndication.EXPIRED))
    else:
        checks.append(Check("show-window", CheckResult.PASSED))
    checks.append(_expected("nonce", info["nonce"], nonce))
    checks.append(_expected("audience", info["audience"], audience))
    inner = Verifier(trust, status, types).verify(info["presentation"], at=moment)
    checks += [Check(f"presentation.{c.name}", c.result, c.detail, c.sub_indication)
               for c in inner.checks]
    builder = ReportBuilder(moment)
    builder.checks = checks
    builder.subject = {**inner.subject, **subject}
    builder.disclosed = dict(inner.disclosed)
    builder.warnings = list(inner.warnings)
    return builder.build()


def verify_receipt(data: bytes, *, trust: TrustMaterial,
                   at: datetime | None = None) -> ValidationReport:
    """Verify a use receipt (the platform's signature and chain); its statement, field
    names only, is in the report's subject."""
    moment = at or datetime.now(UTC).replace(microsecond=0)
    opened = open_token(data, "receipt", trust=trust, at=moment)
    if not opened.info:
        return opened.report
    builder = ReportBuilder(moment)
    builder.checks = list(opened.report.checks)
    builder.subject = {key: (value.isoformat() if isinstance(value, datetime) else value)
                       for key, value in opened.info.items() if key != "version"}
    return builder.build()


def _expected(name: str, stated: object, expected: object) -> Check:
    if expected is None:
        return Check(f"show-{name}", CheckResult.SKIPPED, f"no {name} expected")
    same = (hmac.compare_digest(stated, expected) if isinstance(stated, bytes)
            and isinstance(expected, bytes) else stated == expected)
    if same:
        return Check(f"show-{name}", CheckResult.PASSED)
    return Check(f"show-{name}", CheckResult.FAILED,
                 f"the showing is bound to another {name} (replayed?)",
                 SubIndication.SIG_CONSTRAINTS_FAILURE)


def _failed(moment: datetime, detail: str) -> ValidationReport:
    builder = ReportBuilder(moment)
    builder.failed("format", SubIndication.FORMAT_FAILURE, detail)
    return builder.build()


__all__ = ["ShowDesk", "verify_receipt", "verify_show"]
