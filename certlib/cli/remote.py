"""`certctl --endpoint HOST:PORT ...`: the certs, keys and audit commands against certd."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tqdm import tqdm

from certlib.audit import ChainReport
from certlib.cli.audit import print_chain, print_records
from certlib.cli.certs import print_report, read_batch, read_fields
from certlib.cli.output import print_json, print_table, read_file, report, write_file
from certlib.client import CertlibClient, ClientCredentials, RemoteCertificate
from certlib.config import Settings
from certlib.errors import CertlibError, InputError
from certlib.report import Indication

EXIT_FOR = {Indication.PASSED: 0, Indication.FAILED: 1, Indication.INDETERMINATE: 3}
BATCH = 100


_OPTIONS = {"endpoint": "CERTLIB_ENDPOINT", "client_cert": "CERTLIB_CLIENT_CERT",
            "client_key": "CERTLIB_CLIENT_KEY", "ca": "CERTLIB_CA"}


def add_options(parser: argparse.ArgumentParser) -> None:
    """The connection options, accepted before or after the command."""
    parser.add_argument("--endpoint", default=argparse.SUPPRESS,
                        help="run against certd at HOST:PORT instead of locally "
                             "($CERTLIB_ENDPOINT)")
    parser.add_argument("--client-cert", type=Path, default=argparse.SUPPRESS,
                        help="TLS client certificate (default: <home>/tls/clients/admin.pem)")
    parser.add_argument("--client-key", type=Path, default=argparse.SUPPRESS,
                        help="its private key (default: <home>/tls/clients/admin.key)")
    parser.add_argument("--ca", type=Path, default=argparse.SUPPRESS,
                        help="CA that issued certd's TLS certificate (default: <home>/tls/ca.pem)")


def fill_defaults(args: argparse.Namespace) -> None:
    """Take connection options not given on the command line from the environment."""
    for option, variable in _OPTIONS.items():
        if not hasattr(args, option):
            value = os.environ.get(variable)
            setattr(args, option, Path(value) if value and option != "endpoint" else value)


def connect(args: argparse.Namespace, settings: Settings) -> CertlibClient:
    """A client with the configured credentials."""
    clients = settings.home / "tls" / "clients"
    credentials = ClientCredentials.from_files(
        args.client_cert or clients / "admin.pem", args.client_key or clients / "admin.key",
        args.ca or settings.home / "tls" / "ca.pem")
    return CertlibClient(args.endpoint, credentials)


def _row(certificate: RemoteCertificate) -> dict[str, object]:
    return {"identifier": certificate.identifier, "type": certificate.type_id,
            "issuer": certificate.issuer_uscc, "status": certificate.status,
            "warnings": list(certificate.warnings)}


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out a command through the daemon."""
    with connect(args, settings) as client:
        if args.command == "certs":
            return _certs(args, client)
        if args.command == "keys":
            return _keys(args, client)
        if args.command == "audit":
            if args.action == "verify":
                chain = client.verify_audit_chain()
                return print_chain(args, ChainReport(
                    ok=chain.ok, records=chain.records_checked,
                    checkpoints=chain.checkpoints_checked,
                    last_checkpoint=chain.last_checkpoint.sequence
                    if chain.HasField("last_checkpoint") else None,
                    problems=list(chain.problems)))
            if args.action == "query":
                print_records(args, client.audit_records(
                    actor=args.actor, method=args.method, object_id=args.object_id,
                    limit=args.limit))
                return 0
    raise InputError(f"`{args.command} {getattr(args, 'action', '')}` runs only locally")


def _certs(args: argparse.Namespace, client: CertlibClient) -> int:
    action = args.action
    if action == "issue":
        if args.data is not None:
            issued = client.issue(args.issuer, args.type_id,
                                  {k: str(v) for k, v in read_fields(args).items()})
            write_file(args.out, issued.der)
            report(args, _row(issued), f"issued {issued.identifier} -> {args.out}")
            return 0
        rows = read_batch(args.batch)
        if args.out_dir is None:
            raise InputError("--in needs --out-dir")
        args.out_dir.mkdir(parents=True, exist_ok=True)
        failures = 0
        issued_rows = []
        with tqdm(total=len(rows), desc="issuing", unit="cert", disable=args.json) as bar:
            for start in range(0, len(rows), BATCH):
                chunk = rows[start:start + BATCH]
                results = client.issue_batch(args.issuer, args.type_id, [
                    {k: str(v) for k, v in row.items() if v not in (None, "")} for row in chunk])
                for offset, result in enumerate(results):
                    if isinstance(result, CertlibError):
                        failures += 1
                        print(f"row {start + offset + 2}: {result.message} [{result.code}]")
                    else:
                        path = args.out_dir / f"{result.identifier}.ecert"
                        write_file(path, result.der)
                        issued_rows.append(_row(result))
                bar.update(len(chunk))
        report(args, {"issued": issued_rows, "failed": failures},
               f"issued {len(issued_rows)} certificates into {args.out_dir}, {failures} failed")
        return 2 if failures else 0
    if action == "verify":
        raw = read_file(args.file)
        payload: bytes | str = raw.decode().strip() if raw.lstrip().startswith(b"EC1:") else raw
        verdict = client.verify(payload)
        print_report(args, verdict)
        return EXIT_FOR[verdict.indication]
    if action in ("revoke", "suspend", "resume"):
        changed = getattr(client, action)(args.identifier)
        report(args, _row(changed), f"{changed.identifier}: {changed.status}")
        return 0
    raise InputError(f"`certs {action}` runs only locally")


def _keys(args: argparse.Namespace, client: CertlibClient) -> int:
    action = args.action
    if action == "list":
        rows = [{"name": key.name.removeprefix("keys/"), "versions": len(key.versions),
                 "algorithm": key.algorithm,
                 "protection": "software" if key.protection == 2 else "hsm"}
                for key in client.list_keys()]
        print_json(rows) if args.json else print_table(
            rows, ("name", "versions", "algorithm", "protection"))
    elif action == "create":
        key = client.create_key(args.name, args.alg)
        report(args, {"name": args.name}, f"created {key.name}")
    elif action == "rotate":
        key = client.rotate_key(args.name)
        report(args, {"name": args.name, "versions": len(key.versions)},
               f"rotated {key.name}: {len(key.versions)} versions")
    elif action == "disable":
        client.disable_key(args.name)
        report(args, {"name": args.name}, f"disabled keys/{args.name}")
    elif action == "destroy":
        if not args.yes:
            raise InputError("destroying a key cannot be undone; add --yes to confirm")
        count = client.destroy_key(args.name)
        report(args, {"name": args.name, "destroyed": count},
               f"destroyed {count} version(s) of keys/{args.name}")
    else:
        raise InputError(f"`keys {action}` runs only locally")
    return 0


__all__ = ["add_options", "run"]
