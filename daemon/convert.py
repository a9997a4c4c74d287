"""Translation between certlib's objects and certsvc.v1 messages (nothing else)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from certlib.audit import AuditRecord, Checkpoint
from certlib.issuance import CertificateRecord
from certlib.report import Indication, SubIndication, ValidationReport
from certlib.status import CertificateStatus
from certsvc.v1 import audit_pb2, certificate_pb2, key_pb2, report_pb2
from hsm import KeyRef, KeyState, Protection


def timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    """A protobuf Timestamp, or None."""
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp


def moment(stamp: timestamp_pb2.Timestamp) -> datetime:
    """An aware datetime from a Timestamp."""
    return stamp.ToDatetime(tzinfo=UTC)


_STATUS = {
    CertificateStatus.VALID: certificate_pb2.CERTIFICATE_STATUS_VALID,
    CertificateStatus.REVOKED: certificate_pb2.CERTIFICATE_STATUS_REVOKED,
    CertificateStatus.SUSPENDED: certificate_pb2.CERTIFICATE_STATUS_SUSPENDED,
    CertificateStatus.UNKNOWN: certificate_pb2.CERTIFICATE_STATUS_UNKNOWN,
}


def certificate_status(status: CertificateStatus) -> certificate_pb2.CertificateStatus.ValueType:
    """The proto enum value of a certificate status."""
    return _STATUS[status]


def certificate(record: CertificateRecord, der: bytes = b"") -> certificate_pb2.Certificate:
    """A Certificate resource; `der` only in the full view."""
    return certificate_pb2.Certificate(
        name=f"certificates/{record.identifier}", identifier=record.identifier,
        type_id=record.type_id, type_code=record.type_code,
        issuer=f"issuers/{record.issuer_uscc}", version=record.version,
        status=_STATUS[record.status],
        status_change_time=timestamp(record.status_changed_at),
        issue_time=timestamp(record.issued_at), not_before_time=timestamp(record.valid_from),
        not_after_time=timestamp(record.valid_until), status_list=record.status_list,
        status_index=record.status_index, der=der)


def report(result: ValidationReport) -> report_pb2.ValidationReport:
    """A ValidationReport message with every check."""
    subject = result.subject
    issuer = subject.get("issuer")
    issuer = issuer if isinstance(issuer, dict) else {}
    return report_pb2.ValidationReport(
        indication=report_pb2.Indication.Value(f"INDICATION_{result.indication.value}"),
        sub_indication=_sub(result.sub_indication),
        validation_time=timestamp(result.validation_time),
        checks=[report_pb2.Check(
            name=check.name,
            result=report_pb2.CheckResult.Value(f"CHECK_RESULT_{check.result.value}"),
            detail=check.detail, sub_indication=_sub(check.sub_indication))
            for check in result.checks],
        subject=report_pb2.ReportSubject(
            certificate=(f"certificates/{subject['identifier']}"
                         if subject.get("identifier") else ""),
            identifier=str(subject.get("identifier", "")),
            type_code=str(subject.get("type_code", "")),
            type_id=str(subject.get("type", "")),
            issuer=f"issuers/{issuer['uscc']}" if issuer else "",
            issuer_display_name=str(issuer.get("name", "")),
            issuer_region_code=str(issuer.get("region", "")),
            not_before_time=_parse(subject.get("valid_from")),
            not_after_time=_parse(subject.get("valid_until")),
            issue_time=_parse(subject.get("issued_at")),
            attributes={key: str(value) for key, value in subject.items()
                        if key not in _CERTIFICATE_SUBJECT and value is not None},
        ) if subject else None,
        disclosed_fields=dict(result.disclosed),
        warnings=list(result.warnings),
    )


_CERTIFICATE_SUBJECT = frozenset({"identifier", "type_code", "type", "issuer", "valid_from",
                                  "valid_until", "issued_at"})


def indication(value: Indication) -> report_pb2.Indication.ValueType:
    """The Indication enum value."""
    return report_pb2.Indication.Value(f"INDICATION_{value.value}")


def sub_indication(value: SubIndication | None) -> report_pb2.SubIndication.ValueType:
    """The SubIndication enum value (UNSPECIFIED for none)."""
    return _sub(value)


def _sub(value: SubIndication | None) -> report_pb2.SubIndication.ValueType:
    if value is None:
        return report_pb2.SUB_INDICATION_UNSPECIFIED
    return report_pb2.SubIndication.Value(f"SUB_INDICATION_{value.value}")


def _parse(text: object) -> timestamp_pb2.Timestamp | None:
    return timestamp(datetime.fromisoformat(text)) if isinstance(text, str) else None


_STATE = {KeyState.ACTIVE: key_pb2.KEY_STATE_ACTIVE,
          KeyState.VERIFY_ONLY: key_pb2.KEY_STATE_VERIFY_ONLY,
          KeyState.DISABLED: key_pb2.KEY_STATE_DISABLED}
_PROTECTION = {Protection.HSM: key_pb2.PROTECTION_HSM,
               Protection.SOFTWARE: key_pb2.PROTECTION_SOFTWARE}


def key_version(ref: KeyRef) -> key_pb2.KeyVersion:
    """One key version."""
    return key_pb2.KeyVersion(
        name=f"keys/{ref.name}/versions/{ref.version}", version=ref.version,
        algorithm=ref.algorithm, public_key=ref.public_key, state=_STATE[ref.state],
        protection=_PROTECTION[ref.protection], create_time=timestamp(ref.created))


def key(versions: list[KeyRef]) -> key_pb2.Key:
    """A key with its versions (oldest first)."""
    newest = versions[-1]
    return key_pb2.Key(name=f"keys/{newest.name}", algorithm=newest.algorithm,
                       protection=_PROTECTION[newest.protection],
                       versions=[key_version(ref) for ref in versions])


def audit_record(record: AuditRecord) -> audit_pb2.AuditRecord:
    """One audit record."""
    return audit_pb2.AuditRecord(
        name=f"auditRecords/{record.seq}", sequence=record.seq,
        time=timestamp(record.time), actor=record.actor, method=record.method,
        objects=list(record.objects), outcome=record.outcome,
        request_id=record.request_id or "",
        details={key: str(value) for key, value in record.details.items()},
        hash=record.record_hash, previous_hash=record.previous_hash)


def checkpoint(value: Checkpoint) -> audit_pb2.AuditCheckpoint:
    """A signed checkpoint."""
    return audit_pb2.AuditCheckpoint(
        sequence=value.seq, record_hash=value.record_hash, time=timestamp(value.time),
        key_version=value.key_label, algorithm=value.algorithm, public_key=value.public_key,
        signature=value.signature)
