"""`certctl seals ...`: make seals, set who may use them, apply and verify them."""

from __future__ import annotations

import argparse
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from certlib.audit import Actor
from certlib.cli.certs import EXIT_FOR
from certlib.cli.output import print_json, print_table, read_file, report, write_file
from certlib.errors import InputError
from certlib.platform import Platform
from certlib.seals import (
    DocumentKind,
    Placement,
    RequestState,
    SealPolicy,
    SealType,
)
from certlib.seals.verify import DocumentReport, detect, verify_document


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _policy_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--users", required=required,
                        help="who may apply it: department:<USCC>, operator:<USCC>#<id> or "
                             "local:<user>, comma-separated")
    parser.add_argument("--kinds", default="pdf,ofd,data", help="document kinds (pdf,ofd,data)")
    parser.add_argument("--quota", type=int, help="uses per day (China Standard Time)")
    parser.add_argument("--approvers", default="",
                        help="who approves each use (none: no approval needed)")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `seals` command group."""
    seals = commands.add_parser("seals", help="electronic seals: make, control, apply, verify")
    actions = seals.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="make a seal for a department")
    create.add_argument("--owner", required=True, help="the department's USCC")
    create.add_argument("--owner-name", required=True, help="its name, as on the seal")
    create.add_argument("--region", required=True, help="GB/T 2260 code of the seal maker")
    create.add_argument("--name", default="公章", help="the seal's name (default 公章)")
    create.add_argument("--type", default="official", choices=("official", "personal",
                                                               "special"))
    create.add_argument("--valid-until", type=_date, help="end of validity (YYYY-MM-DD)")
    create.add_argument("--picture", type=Path, help="a PNG or JPEG instead of the round seal")
    create.add_argument("--size-mm", default="42x42", help="picture size WxH (default 42x42)")
    _policy_options(create, required=True)

    actions.add_parser("list", help="list seals").add_argument("--owner")
    show = actions.add_parser("show", help="one seal, its policy and state")
    show.add_argument("es_id")
    show.add_argument("--picture-out", type=Path, help="write the seal picture (PNG)")
    export = actions.add_parser("export", help="write the seal as a .esl file")
    export.add_argument("es_id")
    export.add_argument("--out", required=True, type=Path)
    for verb, text in (("suspend", "stop the seal being applied"),
                       ("resume", "let a suspended seal be applied again"),
                       ("revoke", "end the seal for good (its certificates go on the CRL)")):
        change = actions.add_parser(verb, help=text)
        change.add_argument("es_id")
        if verb == "revoke":
            change.add_argument("--reason", default="cessation_of_operation")
    policy = actions.add_parser("policy", help="replace a seal's use policy")
    policy.add_argument("es_id")
    _policy_options(policy, required=True)

    apply = actions.add_parser("apply", help="apply a seal to a PDF, an OFD or any data")
    apply.add_argument("es_id")
    apply.add_argument("file", type=Path)
    apply.add_argument("--out", required=True, type=Path)
    apply.add_argument("--purpose", required=True, help="why (recorded, sealed at rest)")
    apply.add_argument("--kind", choices=("pdf", "ofd", "data"),
                       help="default: pdf or ofd by content, else data")
    apply.add_argument("--page", type=int, default=0)
    apply.add_argument("--x", type=float, default=20.0, help="mm from the left")
    apply.add_argument("--y", type=float, default=20.0,
                       help="mm from the bottom (PDF) or top (OFD)")
    apply.add_argument("--keyword", help="PDF: centre the seal on this text instead")
    apply.add_argument("--close", action="store_true", help="OFD: allow no later signature")
    apply.add_argument("--request", help="the approved request id, if the policy needs one")

    request = actions.add_parser("request", help="ask a second person to approve one use")
    request.add_argument("es_id")
    request.add_argument("file", type=Path)
    request.add_argument("--purpose", required=True)
    request.add_argument("--kind", choices=("pdf", "ofd", "data"))
    for verb in ("approve", "reject"):
        decide = actions.add_parser(verb, help=f"{verb} a pending request")
        decide.add_argument("request_id")
        decide.add_argument("--note")
    requests = actions.add_parser("requests", help="a seal's use requests")
    requests.add_argument("es_id")
    requests.add_argument("--state", choices=[s.value for s in RequestState])

    verify = actions.add_parser("verify", help="verify a sealed PDF or OFD, a .esl or an SES "
                                               "signature (exit as for certs verify)")
    verify.add_argument("file", type=Path)
    verify.add_argument("--data", type=Path, help="the data a detached SES signature signs")
    verify.add_argument("--at", help="validation time (ISO 8601; default now)")
    usage = actions.add_parser("usage", help="recorded uses of a seal")
    usage.add_argument("es_id")
    usage.add_argument("--since", type=_date)
    usage.add_argument("--until", type=_date)
    usage.add_argument("--limit", type=int, default=100)


def _date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a date, YYYY-MM-DD") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _policy(args: argparse.Namespace) -> SealPolicy:
    try:
        kinds = tuple(DocumentKind(kind) for kind in _list(args.kinds))
    except ValueError:
        raise InputError("--kinds takes pdf, ofd and data") from None
    return SealPolicy(_list(args.users), kinds, args.quota, _list(args.approvers))


def _kind_of(args: argparse.Namespace, document: bytes) -> DocumentKind:
    if args.kind:
        return DocumentKind(args.kind)
    found = detect(document)
    return DocumentKind(found) if found in ("pdf", "ofd") else DocumentKind.DATA


def run(args: argparse.Namespace, platform: Platform) -> int:
    """Carry out one `seals` action locally, as the operating-system user."""
    actor = Actor.local()
    registry, desk = platform.seals, platform.seal_desk
    action = args.action
    if action == "create":
        width, _, height = args.size_mm.partition("x")
        try:
            size = (int(width), int(height or width))
        except ValueError:
            raise InputError("--size-mm is WxH in whole millimetres, e.g. 42x42") from None
        record = registry.create(
            owner_uscc=args.owner, owner_name=args.owner_name, region_code=args.region,
            name=args.name, seal_type=SealType[args.type.upper()],
            valid_until=args.valid_until,
            picture=read_file(args.picture) if args.picture else None, picture_size_mm=size,
            policy=_policy(args), actor=actor)
        report(args, record.to_dict(), f"made seal {record.es_id} ({record.owner_name} "
               f"{record.name}), valid until {record.valid_until:%Y-%m-%d}")
    elif action == "list":
        rows = [record.to_dict() for record in registry.list(args.owner)]
        print_json(rows) if args.json else print_table(
            rows, ("es_id", "owner", "owner_name", "name", "type", "state", "valid_until"))
    elif action == "show":
        record = registry.get(args.es_id)
        if args.picture_out:
            write_file(args.picture_out, record.picture)
        row = {**record.to_dict(), "policy": registry.policy(args.es_id).to_dict()}
        report(args, row, "\n".join(f"{key:12} {value}" for key, value in row.items()))
    elif action == "export":
        write_file(args.out, registry.export(args.es_id))
        report(args, {"out": str(args.out)}, f"wrote {args.out}")
    elif action in ("suspend", "resume", "revoke"):
        changed = (registry.revoke(args.es_id, args.reason, actor=actor) if action == "revoke"
                   else getattr(registry, action)(args.es_id, actor=actor))
        report(args, changed.to_dict(), f"{changed.es_id}: {changed.state.value}")
    elif action == "policy":
        registry.set_policy(args.es_id, _policy(args), actor=actor)
        report(args, registry.policy(args.es_id).to_dict(), f"{args.es_id}: policy replaced")
    elif action == "apply":
        return _apply(args, platform, actor)
    elif action == "request":
        document = read_file(args.file)
        made = desk.request(args.es_id, actor, _kind_of(args, document),
                            hashlib.sha256(document).hexdigest(), args.purpose)
        report(args, made.to_dict(), f"request {made.id} waits for approval")
    elif action in ("approve", "reject"):
        decided = desk.decide(args.request_id, actor, approve=action == "approve",
                              note=args.note)
        report(args, decided.to_dict(), f"request {decided.id}: {decided.state.value}")
    elif action == "requests":
        state = RequestState(args.state) if args.state else None
        rows = [item.to_dict() for item in desk.requests(args.es_id, state)]
        print_json(rows) if args.json else print_table(
            rows, ("id", "requester", "document_kind", "state", "approver", "created_at"))
    elif action == "verify":
        return _verify(args, platform)
    elif action == "usage":
        rows = [use.to_dict() for use in desk.usage(
            es_id=args.es_id, since=args.since, until=args.until, limit=args.limit)]
        print_json(rows) if args.json else print_table(
            rows, ("id", "used_at", "user", "approver", "document_kind", "purpose"))
    return 0


def _apply(args: argparse.Namespace, platform: Platform, actor: Actor) -> int:
    document = read_file(args.file)
    kind = _kind_of(args, document)
    placement = Placement(args.page, args.x, args.y, args.keyword)
    common = {"actor": actor, "purpose": args.purpose, "request_id": args.request}
    sealer = platform.sealer
    if kind is DocumentKind.PDF:
        sealed = sealer.apply_pdf(args.es_id, document, placement=placement, **common)
    elif kind is DocumentKind.OFD:
        sealed = sealer.apply_ofd(args.es_id, document, placement=placement,
                                  close=args.close, **common)
    else:
        sealed = sealer.apply_data(args.es_id, document, **common)
    write_file(args.out, sealed.data)
    report(args, {**sealed.use.to_dict(), "out": str(args.out)},
           f"sealed {args.file} with {args.es_id} -> {args.out} (use {sealed.use.id})")
    return 0


def _verify(args: argparse.Namespace, platform: Platform) -> int:
    at = _date(args.at) if args.at else None
    result = verify_document(read_file(args.file), trust=platform.trust_material(), at=at,
                             signed_data=read_file(args.data) if args.data else None,
                             seals=platform.seals)
    print_document(args, result)
    return EXIT_FOR[result.indication]


def print_document(args: argparse.Namespace, result: DocumentReport) -> None:
    """Show a document's verification (JSON with --json)."""
    if args.json:
        print_json(result.to_dict())
        return
    sub = f" / {result.sub_indication.value}" if result.sub_indication else ""
    print(f"{result.indication.value}{sub}: {result.format}, "
          f"{len(result.signatures)} signature(s)")
    for name, item in result.signatures:
        item_sub = f" / {item.sub_indication.value}" if item.sub_indication else ""
        print(f"  {name}: {item.indication.value}{item_sub}")
        for key, value in item.subject.items():
            print(f"    {key:14} {value}")
        for check in item.checks:
            detail = f": {check.detail}" if check.detail else ""
            print(f"    [{check.result.value:13}] {check.name}{detail}")
        for warning in item.warnings:
            print(f"    warning: {warning}")
