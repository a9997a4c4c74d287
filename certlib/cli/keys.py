"""`certctl keys ...`: create, inspect, rotate, retire and use HSM keys."""

from __future__ import annotations

import argparse
from pathlib import Path

from asn1crypto import pem

from certlib.algorithms import ALGORITHMS
from certlib.cli.output import key_row, print_keys, read_file, report, write_file
from certlib.errors import InputError
from certlib.keys import CertlibKeyStore

CREATABLE = tuple(name for name, entry in ALGORITHMS.items() if entry.generates_keys)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `keys` command group."""
    keys = commands.add_parser("keys", help="manage signing keys in the HSM")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="generate a new key in the HSM")
    create.add_argument("--alg", required=True, choices=CREATABLE, metavar="ALG",
                        help=f"one of {', '.join(CREATABLE)}")
    create.add_argument("--name", required=True)

    actions.add_parser("list", help="list every version of every key")

    show = actions.add_parser("show", help="show the versions of one key")
    show.add_argument("--name", required=True)

    rotate = actions.add_parser("rotate", help="make a new version; older ones verify only")
    rotate.add_argument("--name", required=True)

    disable = actions.add_parser("disable", help="stop every version of a key from signing")
    disable.add_argument("--name", required=True)

    destroy = actions.add_parser("destroy", help="delete a key from the HSM for good")
    destroy.add_argument("--name", required=True)
    destroy.add_argument("--version", type=int, help="only this version")
    destroy.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    export = actions.add_parser("export-public", help="write a public key as SPKI PEM")
    export.add_argument("--name", required=True)
    export.add_argument("--version", type=int)
    export.add_argument("--out", required=True, type=Path)

    sign = actions.add_parser("sign", help="sign a file; writes the signature as openssl expects")
    sign.add_argument("--name", required=True)
    sign.add_argument("--version", type=int)
    sign.add_argument("--in", dest="input", required=True, type=Path)
    sign.add_argument("--out", required=True, type=Path)


def run(args: argparse.Namespace, store: CertlibKeyStore) -> int:
    """Carry out one `keys` action."""
    action = args.action
    if action == "create":
        print_keys([store.generate(args.alg, args.name)], args.json)
    elif action == "list":
        print_keys(store.list(), args.json)
    elif action == "show":
        versions = [ref for ref in store.list() if ref.name == args.name]
        if not versions:
            store.get(args.name)  # raises KeyNotFoundError with the usual message
        print_keys(versions, args.json)
    elif action == "rotate":
        print_keys([store.rotate(args.name)], args.json)
    elif action == "disable":
        print_keys(store.disable(args.name), args.json)
    elif action == "destroy":
        if not args.yes:
            raise InputError("destroying a key cannot be undone; add --yes to confirm")
        print_keys(store.destroy(args.name, args.version), args.json)
    elif action == "export-public":
        ref = store.get(args.name, args.version)
        write_file(args.out, pem.armor("PUBLIC KEY", ref.public_key))
        report(args, {**key_row(ref), "out": str(args.out)}, f"wrote {ref.label} to {args.out}")
    elif action == "sign":
        ref = store.get(args.name, args.version)
        data = read_file(args.input)
        write_file(args.out, store.sign(ref, data))
        report(args, {**key_row(ref), "out": str(args.out)},
                f"signed {args.input} with {ref.label} ({ref.algorithm}) into {args.out}")
    return 0
