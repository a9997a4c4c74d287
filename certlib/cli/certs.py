"""`certctl certs ...`: issue, present, verify and export e-certificates; `certctl types`."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from certlib import cms, ecert
from certlib.cli.output import print_json, print_table, read_file, report, write_file
from certlib.errors import CertlibError, InputError
from certlib.platform import Platform
from certlib.present import (
    from_qr_text,
    load_certificate,
    present,
    qr_code,
    to_qr_text,
)
from certlib.rendering import render_signed_pdf
from certlib.report import Indication, ValidationReport

EXIT_FOR = {Indication.PASSED: 0, Indication.FAILED: 1, Indication.INDETERMINATE: 3}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `certs` and `types` command groups."""
    certs = commands.add_parser("certs", help="issue, present, verify and export e-certificates")
    actions = certs.add_subparsers(dest="action", required=True, metavar="ACTION")

    issue = actions.add_parser("issue", help="issue one certificate, or a batch from CSV")
    issue.add_argument("--type", required=True, dest="type_id", help="e.g. resident-id-card")
    issue.add_argument("--issuer", required=True, help="USCC of the issuing department")
    source = issue.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a JSON object of field values")
    source.add_argument("--in", dest="batch", type=Path, help="a CSV file, one row each")
    issue.add_argument("--out", type=Path, help="where to write one certificate")
    issue.add_argument("--out-dir", type=Path, help="where to write a batch")

    show = actions.add_parser("present", help="disclose only some fields of a certificate")
    show.add_argument("file", type=Path)
    chosen = show.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--fields", help="comma-separated field names")
    chosen.add_argument("--profile", help="a disclosure profile of the type, e.g. default")
    show.add_argument("--with-holder", action="store_true",
                      help="also disclose the holder's identity number item")
    show.add_argument("--compact", action="store_true", help="without certificates (for QR)")
    show.add_argument("--out", required=True, type=Path)

    verify = actions.add_parser("verify", help="verify a certificate or presentation")
    verify.add_argument("file", type=Path, help="DER certificate/presentation or EC1: text")
    verify.add_argument("--at", help="validation time (ISO 8601; default now)")

    export = actions.add_parser("export", help="write a certificate as CMS, signed PDF or QR")
    export.add_argument("file", type=Path)
    export.add_argument("--format", required=True, choices=("cms", "pdf", "qr"))
    export.add_argument("--profile", default="default", help="fields for the QR (pdf, qr)")
    export.add_argument("--out", required=True, type=Path)

    for name, verb in (("revoke", "revoke for good"), ("suspend", "suspend"),
                       ("resume", "make a suspended certificate valid again")):
        change = actions.add_parser(name, help=verb)
        change.add_argument("identifier")

    types = commands.add_parser("types", help="certificate types")
    type_actions = types.add_subparsers(dest="action", required=True, metavar="ACTION")
    type_actions.add_parser("list", help="list certificate types")
    detail = type_actions.add_parser("show", help="show one type's fields and profiles")
    detail.add_argument("type_id")


def run_types(args: argparse.Namespace, platform: Platform) -> int:
    """Carry out one `types` action."""
    if args.action == "list":
        rows = [{"id": t.id, "name": t.name_zh, "code": t.code, "code_kind": t.code_kind,
                 "holder": t.holder_kind, "fields": len(t.fields)} for t in platform.types]
        if args.json:
            print_json(rows)
        else:
            print_table(rows, ("id", "name", "code", "code_kind", "holder", "fields"))
        return 0
    certificate_type = platform.types.get(args.type_id)
    rows = [{"field": name, "label": spec.label_zh, "kind": spec.kind,
             "required": spec.required, "personal": spec.personal}
            for name, spec in certificate_type.fields.items()]
    if args.json:
        print_json({"id": certificate_type.id, "code": certificate_type.code, "fields": rows,
                    "profiles": {n: list(p.fields) for n, p in certificate_type.profiles.items()}})
    else:
        print(f"{certificate_type.id} {certificate_type.name_zh} ({certificate_type.code}, "
              f"{certificate_type.code_kind})")
        print_table(rows, ("field", "label", "kind", "required", "personal"))
        for name, profile in certificate_type.profiles.items():
            print(f"profile {name}: {', '.join(profile.fields)}")
    return 0


def run(args: argparse.Namespace, platform: Platform) -> int:
    """Carry out one `certs` action."""
    if args.action == "issue":
        return _issue(args, platform)
    if args.action == "present":
        return _present(args, platform)
    if args.action == "verify":
        return _verify(args, platform)
    if args.action == "export":
        return _export(args, platform)
    office = platform.office
    change = {"revoke": office.revoke, "suspend": office.suspend,
              "resume": office.resume}[args.action](args.identifier)
    report(args, {"identifier": args.identifier, "status": change.status.value,
                  "changed": change.changed},
           f"{args.identifier}: {change.status.value}"
           + ("" if change.changed else " (already)"))
    return 0


def read_fields(args: argparse.Namespace) -> dict[str, object]:
    """The field values of `--data FILE` (a JSON object); `--out` must be given too."""
    if args.out is None:
        raise InputError("--data needs --out")
    try:
        data = json.loads(read_file(args.data))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{args.data} is not a JSON object") from None
    if not isinstance(data, dict):
        raise InputError(f"{args.data} is not a JSON object")
    return data


def _issue(args: argparse.Namespace, platform: Platform) -> int:
    office = platform.office
    if args.data is not None:
        data = read_fields(args)
        issued = office.issue(issuer_uscc=args.issuer, type_id=args.type_id, data=data)
        write_file(args.out, issued.der)
        report(args, {"identifier": issued.identifier, "out": str(args.out),
                      "warnings": list(issued.warnings)},
               f"issued {issued.identifier} -> {args.out}"
               + "".join(f"\nwarning: {w}" for w in issued.warnings))
        return 0
    if args.out_dir is None:
        raise InputError("--in needs --out-dir")
    rows = read_batch(args.batch)
    certificate_type = platform.types.get(args.type_id)
    problems = []
    for number, row in enumerate(rows, start=2):
        try:
            certificate_type.validate(row)
        except CertlibError as error:
            problems.append(f"row {number}: {error.message}")
    if problems:
        raise InputError(f"{len(problems)} invalid row(s), nothing issued: "
                         + "; ".join(problems[:20]))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for row in tqdm(rows, desc="issuing", unit="cert", disable=args.json, file=None):
        issued = office.issue(issuer_uscc=args.issuer, type_id=args.type_id, data=row)
        path = args.out_dir / f"{issued.identifier}.ecert"
        write_file(path, issued.der)
        written.append({"identifier": issued.identifier, "out": str(path)})
    report(args, {"issued": written}, f"issued {len(written)} certificates into {args.out_dir}")
    return 0


def read_batch(path: Path) -> list[dict[str, object]]:
    """The rows of a UTF-8 CSV batch file (header = field names)."""
    try:
        text = read_file(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    rows = [{key: value for key, value in row.items() if key is not None}
            for row in reader]
    if not rows:
        raise InputError(f"{path} has no rows under its header")
    return list(rows)


def _present(args: argparse.Namespace, platform: Platform) -> int:
    certificate = read_file(args.file)
    if args.profile:
        type_id = _type_of(certificate)
        fields = list(platform.types.get(type_id).profile(args.profile).fields)
    else:
        fields = [name.strip() for name in args.fields.split(",") if name.strip()]
    presentation = present(certificate, fields, include_holder=args.with_holder,
                           compact=args.compact)
    write_file(args.out, presentation)
    report(args, {"fields": fields, "bytes": len(presentation), "out": str(args.out)},
           f"presentation of {', '.join(fields)} ({len(presentation)} bytes) -> {args.out}")
    return 0


def _type_of(certificate: bytes) -> str:
    parsed = load_certificate(certificate)
    envelope = cms.parse(parsed["signed_object"].dump())
    return str(ecert.CertificateSecurityObject.load(envelope.content)["type_key"].native)


def _verify(args: argparse.Namespace, platform: Platform) -> int:
    raw = read_file(args.file)
    data: bytes | str = raw
    if raw.lstrip().startswith(b"EC1:"):
        data = raw.decode("ascii", "replace").strip()
    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            raise InputError("--at must be an ISO 8601 time") from None
        if at.tzinfo is None:
            raise InputError("--at needs a time zone, e.g. 2026-01-01T00:00:00+08:00")
    result = platform.verifier().verify(data, at=at)
    print_report(args, result)
    return EXIT_FOR[result.indication]


def print_report(args: argparse.Namespace, result: ValidationReport) -> None:
    """Show a verification report (JSON with --json)."""
    if args.json:
        print_json(result.to_dict())
        return
    sub = f" / {result.sub_indication.value}" if result.sub_indication else ""
    print(f"{result.indication.value}{sub}")
    subject = result.subject
    if subject:
        print(f"  certificate {subject.get('identifier')} ({subject.get('type')})")
        issuer = subject.get("issuer") or {}
        print(f"  issuer      {issuer.get('name')} {issuer.get('uscc')} region "
              f"{issuer.get('region')}")
    for check in result.checks:
        detail = f": {check.detail}" if check.detail else ""
        print(f"  [{check.result.value:13}] {check.name}{detail}")
    for name, value in result.disclosed.items():
        print(f"  {name} = {value}")
    for warning in result.warnings:
        print(f"  warning: {warning}")


def _export(args: argparse.Namespace, platform: Platform) -> int:
    certificate = read_file(args.file)
    parsed = load_certificate(certificate)
    if args.format == "cms":
        write_file(args.out, parsed["signed_object"].dump())
        report(args, {"out": str(args.out)}, f"wrote the CMS SignedData to {args.out} "
               "(openssl cms -verify -inform DER -CAfile root.pem -binary)")
        return 0
    type_id = _type_of(certificate)
    fields = list(platform.types.get(type_id).profile(args.profile).fields)
    qr_text = to_qr_text(present(certificate, fields, compact=True))
    if args.format == "qr":
        info = qr_code(qr_text)
        write_file(args.out, info.png)
        report(args, {"out": str(args.out), "qr_version": info.version,
                      "characters": info.characters, "text": qr_text},
               f"wrote a version-{info.version} QR code ({info.characters} characters) "
               f"to {args.out}")
        return 0
    write_file(args.out, render_signed_pdf(platform, certificate, qr_text))
    report(args, {"out": str(args.out)}, f"wrote a signed PDF to {args.out}")
    return 0


__all__ = ["from_qr_text", "register", "run", "run_types"]
