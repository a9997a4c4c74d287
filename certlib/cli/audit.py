"""`certctl audit ...`: check and read the hash-chained audit log."""

from __future__ import annotations

import argparse

from certlib.audit import AuditRecord, ChainReport
from certlib.cli.output import print_json, print_table
from certlib.platform import Platform


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `audit` command group."""
    audit = commands.add_parser("audit", help="the tamper-evident audit log")
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("verify", help="check every record and signed checkpoint (exit 1 if not)")
    actions.add_parser("checkpoint", help="sign the current end of the chain with the HSM")
    query = actions.add_parser("query", help="list records")
    query.add_argument("--actor", help="e.g. department:11630100MB0000011Y")
    query.add_argument("--method", help="e.g. certificate.issue")
    query.add_argument("--object", dest="object_id", help="a certificate identifier or name")
    query.add_argument("--limit", type=int, default=100)


def print_chain(args: argparse.Namespace, result: ChainReport) -> int:
    """Show a chain check; exit 0 if intact, 1 if not."""
    if args.json:
        print_json(result.to_dict())
    else:
        state = "intact" if result.ok else "BROKEN"
        print(f"audit chain {state}: {result.records} records, {result.checkpoints} signed "
              f"checkpoints (last at {result.last_checkpoint})")
        for problem in result.problems:
            print(f"  - {problem}")
    return 0 if result.ok else 1


def print_records(args: argparse.Namespace, records: list[AuditRecord]) -> None:
    """Show audit records."""
    rows = [record.to_dict() for record in records]
    if args.json:
        print_json(rows)
        return
    short = [{**row, "objects": ",".join(row["objects"])[:60],  # type: ignore[arg-type]
              "time": str(row["time"])[:19]} for row in rows]
    print_table(short, ("seq", "time", "actor", "method", "outcome", "objects"))


def run(args: argparse.Namespace, platform: Platform) -> int:
    """Carry out one `audit` action on the local store."""
    audit = platform.audit
    if args.action == "verify":
        return print_chain(args, audit.verify())
    if args.action == "checkpoint":
        checkpoint = audit.checkpoint()
        print_json({"seq": checkpoint.seq, "key": checkpoint.key_label} if checkpoint
                   else {"seq": None}) if args.json else print(
            f"signed checkpoint at record {checkpoint.seq} with {checkpoint.key_label}"
            if checkpoint else "nothing new to sign")
        return 0
    print_records(args, audit.query(actor=args.actor, method=args.method,
                                    object_id=args.object_id, limit=args.limit))
    return 0
