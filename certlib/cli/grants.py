"""`certctl grants ...` and `certctl delegations ...`: holders' grants (授权用证), their use by
departments with receipts and 加注件, showings (亮证) and delegations (委托用证), run locally
on the state directory.

Who acts: a person by the identity number in `--holder-id-file FILE` (first line) or
`$CERTLIB_HOLDER_ID`, never on the command line and never printed; an organisation by
`--as USCC`. Under a delegation (`--delegation`, `--parent`) the one acting is that
delegation's agent and the holder is the delegation's.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import segno

from certlib.audit import Actor
from certlib.cli.certs import EXIT_FOR
from certlib.cli.output import print_json, print_table, read_file, report, write_file
from certlib.errors import InputError
from certlib.grants import Holder, Matter, Scope, to_text, verify_receipt, verify_show
from certlib.grants.desk import UseResult
from certlib.ids import is_valid_id_number, is_valid_uscc
from certlib.platform import Platform
from certlib.present import qr_code
from certlib.report import ValidationReport
from certlib.status import StoreStatusSource

HOLDER_ID_ENV = "CERTLIB_HOLDER_ID"
"""The environment variable that may hold the acting person's identity number."""
_DURATION = re.compile(r"([1-9][0-9]{0,5})([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


# -- argument types ----------------------------------------------------------------------------


def duration(text: str) -> timedelta:
    """`7d`, `24h`, `30m` or `90s` as a timedelta (an argparse type)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError("give a duration such as 7d, 24h or 30m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _nonce(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("the nonce is hexadecimal, e.g. 0f1e2d3c4b5a69") \
            from None


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give an ISO 8601 time with a zone") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-01-01T00:00:00+08:00")
    return moment


def _names(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _uscc(text: str, option: str) -> str:
    code = text.strip().upper()
    if not is_valid_uscc(code):
        raise InputError(f"{option} is not a unified social credit code (or its check "
                         "character is wrong)")
    return code


# -- who acts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """Who runs the command: as a holder (`holder`) and as an agent (`agent`)."""

    holder: Holder
    agent: Actor
    """The label delegations name this party by: `holder:<pseudonym>` for a person,
    `department:<USCC>` for an organisation."""


def read_identity(path: Path | None, option: str) -> str | None:
    """The first line of an identity file, or None without one."""
    if path is None:
        return None
    lines = read_file(path).decode("utf-8", "replace").splitlines()
    text = lines[0].strip() if lines else ""
    if not text:
        raise InputError(f"{option} is empty: its first line must be an identity number")
    return text


def person(platform: Platform, number: str, place: str) -> Holder:
    """The person with this identity number; the error names `place`, never the number."""
    if not is_valid_id_number(number):  # a typo would quietly name another person
        raise InputError(f"{place} is not a valid resident identity number")
    return platform.holders.person(number)


def acting_party(args: argparse.Namespace, platform: Platform) -> Party:
    """The organisation of `--as`, else the person of the identity file or variable."""
    if getattr(args, "as_org", None):
        uscc = _uscc(args.as_org, "--as")
        return Party(platform.holders.organisation(uscc), Actor("department", uscc))
    number = read_identity(args.holder_id_file, "--holder-id-file")
    place = "the identity in --holder-id-file"
    if number is None:
        number = os.environ.get(HOLDER_ID_ENV, "").strip() or None
        place = f"${HOLDER_ID_ENV}"
    if number is None:
        raise InputError(f"say who you are: your identity number in --holder-id-file FILE or "
                         f"${HOLDER_ID_ENV} (never on the command line), or --as USCC")
    holder = person(platform, number, place)
    return Party(holder, holder.actor)


def _identity_options(parser: argparse.ArgumentParser, organisations: bool = True) -> None:
    parser.add_argument("--holder-id-file", type=Path, metavar="FILE",
                        help=f"your identity number, first line (or ${HOLDER_ID_ENV})")
    if organisations:
        parser.add_argument("--as", dest="as_org", metavar="USCC",
                            help="act as this organisation instead of as a person")


# -- the parser --------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `grants` and `delegations` command groups."""
    grants = commands.add_parser("grants", help="授权用证: grants, their use, receipts, 亮证")
    actions = grants.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="let a department use some fields of "
                                               "certificates for one matter")
    create.add_argument("--to", required=True, metavar="USCC", help="the department")
    create.add_argument("--cert", required=True, help="certificate identifiers, comma-separated")
    create.add_argument("--fields", required=True, help="field names, comma-separated")
    create.add_argument("--matter-code", required=True, help="the matter (事项) code")
    create.add_argument("--matter-name", required=True, help="the matter's name")
    create.add_argument("--reason", help="why (kept encrypted at rest)")
    create.add_argument("--valid-for", type=duration, default=timedelta(days=7),
                        metavar="DURATION", help="e.g. 7d (default), 24h, 30m")
    create.add_argument("--uses", type=int, default=1, help="how many uses (default 1)")
    create.add_argument("--delegation", metavar="ID", help="grant as the agent of this delegation")
    create.add_argument("--qr", type=Path, metavar="FILE.png", help="also write the token as QR")
    _identity_options(create)

    listing = actions.add_parser("list", help="your grants")
    _identity_options(listing)
    revoke = actions.add_parser("revoke", help="revoke a grant you (or you as agent) made")
    revoke.add_argument("grant_id")
    _identity_options(revoke)

    use = actions.add_parser("use", help="a department uses a grant: presentations, receipt")
    use.add_argument("token", help="GT1: text, or a file holding the token (DER or text)")
    use.add_argument("--as", dest="as_org", required=True, metavar="USCC",
                     help="the department using it")
    use.add_argument("--out-dir", type=Path, default=Path(), metavar="DIR")
    use.add_argument("--annotated", action="store_true",
                     help="also write the signed 加注件 PDF (<receipt id>.pdf)")

    history = actions.add_parser("history", help="every use of your certificates")
    _identity_options(history)

    receipt = actions.add_parser("verify-receipt", help="verify a use receipt "
                                                        "(exit as for certs verify)")
    receipt.add_argument("file", type=Path)
    receipt.add_argument("--at", type=_moment, help="validation time (default now)")

    show = actions.add_parser("show", help="亮证: a short-lived signed showing of some fields")
    show.add_argument("--cert", required=True, help="the certificate identifier")
    show.add_argument("--fields", required=True, help="field names, comma-separated")
    show.add_argument("--nonce", type=_nonce, help="the verifier's nonce (hex, 8-64 bytes)")
    show.add_argument("--audience", help="who it is shown to, e.g. department:<USCC>")
    show.add_argument("--valid-for", type=duration, default=timedelta(minutes=5),
                      metavar="DURATION", help="up to 30m (default 5m)")
    show.add_argument("--delegation", metavar="ID", help="show as the agent of this delegation")
    show.add_argument("--out", required=True, type=Path, help="the showing (DER)")
    _identity_options(show)

    check = actions.add_parser("verify-show", help="verify a showing (exit as for certs verify)")
    check.add_argument("showing", help="SH1: text, or a file holding the showing")
    check.add_argument("--nonce", type=_nonce, help="the nonce you gave the holder (hex)")
    check.add_argument("--audience", help="who you are, as the showing names you")
    check.add_argument("--at", type=_moment, help="validation time (default now)")

    delegations = commands.add_parser("delegations", help="委托用证: delegations to agents")
    acts = delegations.add_subparsers(dest="action", required=True, metavar="ACTION")
    make = acts.add_parser("create", help="let an agent show or grant your certificates")
    agent = make.add_mutually_exclusive_group(required=True)
    agent.add_argument("--agent-id-file", type=Path, metavar="FILE",
                       help="a person agent's identity number, first line")
    agent.add_argument("--agent-org", metavar="USCC", help="an organisation agent")
    make.add_argument("--cert", required=True, help="certificate identifiers, comma-separated")
    make.add_argument("--fields", required=True, help="field names, comma-separated")
    make.add_argument("--matters", default="", help="matter codes (default: any matter)")
    make.add_argument("--valid-for", type=duration, default=timedelta(days=30),
                      metavar="DURATION", help="default 30d")
    make.add_argument("--uses", type=int, default=10, help="how many uses (default 10)")
    make.add_argument("--redelegate", action="store_true", help="the agent may delegate on")
    make.add_argument("--depth", type=int, help="how many further links may follow "
                                                "(default: 1 with --redelegate, else 0)")
    make.add_argument("--parent", metavar="ID", help="re-delegate as the agent of this one")
    _identity_options(make)
    listing = acts.add_parser("list", help="delegations of your certificates and to you")
    _identity_options(listing)
    withdraw = acts.add_parser("revoke", help="revoke a delegation (everything below stops)")
    withdraw.add_argument("delegation_id")
    _identity_options(withdraw)
    present = acts.add_parser("use", help="an organisation agent presents within a delegation")
    present.add_argument("delegation_id")
    present.add_argument("--as", dest="as_org", required=True, metavar="USCC",
                         help="the agent organisation")
    present.add_argument("--cert", required=True, help="the certificate identifier")
    present.add_argument("--fields", required=True, help="field names, comma-separated")
    present.add_argument("--matter-code", required=True)
    present.add_argument("--matter-name", required=True)
    present.add_argument("--out-dir", type=Path, default=Path(), metavar="DIR")
    present.add_argument("--annotated", action="store_true",
                         help="also write the signed 加注件 PDF (<receipt id>.pdf)")


# -- grants ------------------------------------------------------------------------------------


def run(args: argparse.Namespace, platform: Platform) -> int:
    """Carry out one `grants` action."""
    action = args.action
    if action == "create":
        return _create(args, platform)
    if action == "use":
        caller = _uscc(args.as_org, "--as")
        result = platform.grants.use(_token_input(args.token, "GT1:"), caller)
        return _write_use(args, platform, result, caller)
    if action == "verify-receipt":
        verdict = verify_receipt(read_file(args.file), trust=platform.trust_material(),
                                 at=args.at)
        print_verdict(args, verdict)
        return EXIT_FOR[verdict.indication]
    if action == "show":
        return _show(args, platform)
    if action == "verify-show":
        verdict = verify_show(_token_input(args.showing, "SH1:"),
                              trust=platform.trust_material(), at=args.at, nonce=args.nonce,
                              audience=args.audience, status=StoreStatusSource(platform.store),
                              types=platform.types)
        print_verdict(args, verdict)
        return EXIT_FOR[verdict.indication]
    party = acting_party(args, platform)
    if action == "list":
        rows = [grant.to_dict() for grant in platform.grants.of_holder(party.holder)]
        shown = [{**row, "fields": ",".join(row["fields"]),  # type: ignore[arg-type]
                  "uses": f"{row['uses']}/{row['max_uses']}"} for row in rows]
        print_json(rows) if args.json else print_table(
            shown, ("id", "audience", "matter_code", "fields", "uses", "state", "not_after"))
    elif action == "revoke":
        grant = platform.grants.revoke(args.grant_id, party.agent, party.holder)
        report(args, grant.to_dict(), f"grant {grant.id}: {grant.state.value}")
    elif action == "history":
        rows = [use.to_dict() for use in platform.grants.history(party.holder)]
        shown = [{**row, "fields": ",".join(row["fields"])}  # type: ignore[arg-type]
                 for row in rows]
        print_json(rows) if args.json else print_table(
            shown, ("used_at", "kind", "caller", "matter_code", "matter_name", "fields",
                    "receipt_id"))
    return 0


def _create(args: argparse.Namespace, platform: Platform) -> int:
    party = acting_party(args, platform)
    if args.delegation:
        holder, by = platform.delegations.holder_of(args.delegation), party.agent
    else:
        holder, by = party.holder, party.holder.actor
    grant = platform.grants.create(
        holder, audience=_uscc(args.to, "--to"), certificates=_names(args.cert),
        fields=_names(args.fields), matter=Matter(args.matter_code, args.matter_name),
        reason=args.reason, not_after=datetime.now(UTC) + args.valid_for,
        max_uses=args.uses, by=by, delegation_id=args.delegation)
    text = to_text("grant", grant.token)
    row: dict[str, object] = {**grant.to_dict(), "token": text}
    if args.qr:
        row["qr"] = _write_qr(args.qr, text)
    report(args, row, f"grant {grant.id}: {', '.join(grant.fields)} for {grant.audience}, "
           f"matter {grant.matter.code}, {grant.max_uses} use(s) until "
           f"{grant.not_after.isoformat()}\n{text}")
    return 0


def _show(args: argparse.Namespace, platform: Platform) -> int:
    party = acting_party(args, platform)
    if args.delegation:
        holder, by = platform.delegations.holder_of(args.delegation), party.agent
    else:
        holder, by = party.holder, None
    token = platform.showings.show(holder, args.cert, _names(args.fields),
                                   audience=args.audience, nonce=args.nonce,
                                   lifetime=args.valid_for, by=by,
                                   delegation_id=args.delegation)
    write_file(args.out, token)
    text = to_text("show", token)
    row: dict[str, object] = {"out": str(args.out), "text": text,
                              "fields": list(_names(args.fields))}
    report(args, row, f"showing of {', '.join(_names(args.fields))} -> {args.out}\n{text}")
    return 0


def _write_use(args: argparse.Namespace, platform: Platform, result: UseResult,
               caller: str) -> int:
    """Write what a use gave (presentations, receipt, optionally the 加注件) and say so."""
    out_dir: Path = args.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create {out_dir}: {error.strerror}") from None
    written: list[dict[str, str]] = []
    for identifier, presentation in result.presentations:
        path = out_dir / f"{identifier}.pres"
        write_file(path, presentation)
        written.append({"identifier": identifier, "out": str(path)})
    receipt_path = out_dir / f"{result.receipt_id}.receipt"
    write_file(receipt_path, result.receipt)
    row: dict[str, object] = {"receipt_id": result.receipt_id, "fields": list(result.fields),
                              "presentations": written, "receipt": str(receipt_path)}
    if args.annotated:
        from certlib.grants.annotate import annotated_copy  # noqa: PLC0415 (pyHanko: on use)

        statement = verify_receipt(result.receipt, trust=platform.trust_material()).subject
        matter = Matter(str(statement["matter_code"]), str(statement["matter_name"]))
        copy_path = out_dir / f"{result.receipt_id}.pdf"
        write_file(copy_path, annotated_copy(platform, result, matter=matter, caller=caller))
        row["annotated"] = str(copy_path)
    lines = [f"disclosed: {', '.join(result.fields)}", f"receipt {result.receipt_id}"]
    lines += [f"wrote {item['out']}" for item in written]
    lines.append(f"wrote {receipt_path}")
    if "annotated" in row:
        lines.append(f"wrote {row['annotated']} (加注件)")
    report(args, row, "\n".join(lines))
    return 0


def _token_input(argument: str, prefix: str) -> bytes | str:
    """Compact text given inline, or a file holding the DER or the text."""
    if argument.startswith(prefix):
        return argument.strip()
    data = read_file(Path(argument))
    if data.lstrip().startswith(prefix.encode()):
        return data.decode("ascii", "replace").strip()
    return data


def _write_qr(path: Path, text: str) -> str:
    try:
        info = qr_code(text)
    except segno.DataOverflowError:
        raise InputError("the token is too long for one QR code; hand over the text") from None
    write_file(path, info.png)
    return str(path)


def print_verdict(args: argparse.Namespace, verdict: ValidationReport) -> None:
    """Show a receipt's or showing's verification (JSON with --json)."""
    if args.json:
        print_json(verdict.to_dict())
        return
    sub = f" / {verdict.sub_indication.value}" if verdict.sub_indication else ""
    print(f"{verdict.indication.value}{sub}")
    for key, value in verdict.subject.items():
        if value is None:
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        print(f"  {key:14} {shown}")
    for check in verdict.checks:
        detail = f": {check.detail}" if check.detail else ""
        print(f"  [{check.result.value:13}] {check.name}{detail}")
    for name, value in verdict.disclosed.items():
        print(f"  {name} = {value}")
    for warning in verdict.warnings:
        print(f"  warning: {warning}")


# -- delegations -------------------------------------------------------------------------------


def run_delegations(args: argparse.Namespace, platform: Platform) -> int:
    """Carry out one `delegations` action."""
    desk = platform.delegations
    if args.action == "use":
        caller = _uscc(args.as_org, "--as")
        result = platform.grants.present_as_agent(
            caller, args.delegation_id, args.cert, _names(args.fields),
            Matter(args.matter_code, args.matter_name))
        return _write_use(args, platform, result, caller)
    party = acting_party(args, platform)
    if args.action == "create":
        return _delegate(args, platform, party)
    if args.action == "list":
        mine = [(item, "holder") for item in desk.of_holder(party.holder)]
        seen = {item.id for item, _ in mine}
        mine += [(item, "agent") for item in desk.for_agent(party.agent.label)
                 if item.id not in seen]
        rows = [{**item.to_dict(), "role": role} for item, role in mine]
        shown = [{**row, "fields": ",".join(row["fields"]),  # type: ignore[arg-type]
                  "uses": f"{row['uses']}/{row['max_uses']}"} for row in rows]
        print_json(rows) if args.json else print_table(
            shown, ("id", "role", "agent", "parent", "fields", "uses", "state", "not_after"))
        return 0
    revoked = desk.revoke(args.delegation_id, party.agent, party.holder)
    report(args, revoked.to_dict(), f"delegation {revoked.id}: {revoked.state.value}")
    return 0


def _delegate(args: argparse.Namespace, platform: Platform, party: Party) -> int:
    desk = platform.delegations
    if args.agent_org:
        agent_kind, agent = "organisation", f"department:{_uscc(args.agent_org, '--agent-org')}"
    else:
        number = read_identity(args.agent_id_file, "--agent-id-file")
        assert number is not None
        agent_kind = "person"
        agent = person(platform, number, "the identity in --agent-id-file").actor.label
    depth = args.depth
    if args.parent:
        holder, by = desk.holder_of(args.parent), party.agent
        if depth is None:
            depth = max(desk.get(args.parent).scope.max_depth - 1, 0) if args.redelegate else 0
    else:
        holder, by = party.holder, party.holder.actor
        if depth is None:
            depth = 1 if args.redelegate else 0
    now = datetime.now(UTC)
    scope = Scope(_names(args.cert), _names(args.fields), _names(args.matters), now,
                  now + args.valid_for, args.uses, may_redelegate=args.redelegate,
                  max_depth=depth)
    made = desk.delegate(by, holder, agent_kind=agent_kind, agent=agent, scope=scope,
                         parent_id=args.parent)
    report(args, made.to_dict(), f"delegation {made.id}: {', '.join(scope.fields)} of "
           f"{', '.join(scope.certificates)} to {agent_kind} {agent}, {scope.max_uses} use(s) "
           f"until {made.scope.not_after.isoformat()}")
    return 0


__all__ = ["HOLDER_ID_ENV", "Party", "acting_party", "duration", "print_verdict",
           "register", "run", "run_delegations"]
