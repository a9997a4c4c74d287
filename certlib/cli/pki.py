"""`certctl pki ...` and `certctl issuers ...`: regions, their CAs and issuing departments."""

from __future__ import annotations

import argparse
from pathlib import Path

from asn1crypto import pem, x509

from certlib.algorithms import ALGORITHMS, DEFAULT_ALGORITHM
from certlib.cli.output import print_json, print_table, report, write_file
from certlib.errors import InputError
from certlib.platform import Platform

CREATABLE = tuple(name for name, entry in ALGORITHMS.items() if entry.generates_keys)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `pki` and `issuers` command groups."""
    pki = commands.add_parser("pki", help="a region's root and issuing CA")
    actions = pki.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init-region", help="create a region's root and issuing CA")
    init.add_argument("--region", required=True, help="GB/T 2260 code, e.g. 630000")
    init.add_argument("--name", required=True, help="the platform's name, e.g. 青海省政务服务平台")
    init.add_argument("--alg", default=DEFAULT_ALGORITHM, choices=CREATABLE, metavar="ALG")
    export = actions.add_parser("export-root", help="write a region's root certificate (PEM)")
    export.add_argument("--region", required=True)
    export.add_argument("--out", required=True, type=Path)
    crl = actions.add_parser("crl", help="write a region CA's current CRL (DER)")
    crl.add_argument("--region", required=True)
    crl.add_argument("--authority", choices=("root", "issuing"), default="issuing")
    crl.add_argument("--out", required=True, type=Path)
    actions.add_parser("list", help="list regions")

    issuers = commands.add_parser("issuers", help="departments that issue certificates")
    issuer_actions = issuers.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = issuer_actions.add_parser("add", help="register a department and certify its key")
    add.add_argument("--uscc", required=True, help="统一社会信用代码")
    add.add_argument("--name", required=True)
    add.add_argument("--types", required=True, help="comma-separated type ids or codes")
    add.add_argument("--region", help="needed when the platform has several regions")
    add.add_argument("--alg", choices=CREATABLE, metavar="ALG",
                     help="key algorithm (default: the region's)")
    issuer_actions.add_parser("list", help="list departments")


def run_pki(args: argparse.Namespace, platform: Platform) -> int:
    """Carry out one `pki` action."""
    authority = platform.authority
    if args.action == "init-region":
        region = authority.init_region(args.region, args.name, args.alg)
        report(args, {"region": region.code, "name": region.name,
                       "algorithm": region.algorithm},
                f"region {region.code} ({region.name}): root and issuing CA created "
                f"with {region.algorithm} keys in the HSM")
    elif args.action == "export-root":
        region = authority.region(args.region)
        write_file(args.out, pem.armor("CERTIFICATE", region.root_certificate))
        report(args, {"region": region.code, "out": str(args.out)},
                f"wrote the root certificate of {region.code} to {args.out}")
    elif args.action == "crl":
        der = authority.current_crl(authority.region(args.region).code, args.authority)
        write_file(args.out, der)
        report(args, {"out": str(args.out)}, f"wrote the {args.authority} CRL to {args.out}")
    else:
        rows = [{"code": r.code, "name": r.name, "algorithm": r.algorithm,
                 "root": x509.Certificate.load(r.root_certificate).subject.human_friendly}
                for r in authority.regions()]
        print_json(rows) if args.json else print_table(rows, ("code", "name", "algorithm"))
    return 0


def run_issuers(args: argparse.Namespace, platform: Platform) -> int:
    """Carry out one `issuers` action."""
    authority = platform.authority
    if args.action == "add":
        regions = authority.regions()
        if args.region is None:
            if len(regions) != 1:
                raise InputError("the platform has several regions (or none): give --region")
            region_code = regions[0].code
        else:
            region_code = args.region
        codes = []
        for name in (part.strip() for part in args.types.split(",") if part.strip()):
            codes.append(platform.types.by_code(name).code if name not in platform.types
                         else platform.types.get(name).code)
        record = authority.add_issuer(args.uscc, args.name, region_code, codes, args.alg)
        report(args, {"uscc": record.uscc, "region": record.region_code,
                       "types": list(record.type_codes), "algorithm": record.algorithm},
                f"department {record.uscc} registered in {record.region_code} for "
                f"{len(record.type_codes)} type(s), key {record.key_name} ({record.algorithm})")
    else:
        rows = [{"uscc": i.uscc, "name": i.name, "region": i.region_code, "state": i.state,
                 "algorithm": i.algorithm, "types": ",".join(i.type_codes)}
                for i in authority.issuers()]
        if args.json:
            print_json(rows)
        else:
            print_table(rows, ("uscc", "name", "region", "state", "algorithm", "types"))
    return 0
