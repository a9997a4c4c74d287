"""`certctl`: the administrator's and developer's command line, a thin layer over certlib.

Exit status: 0 success (or PASSED), 1 FAILED, 2 usage or input error,
3 INDETERMINATE, 4 the HSM or another needed service is unavailable,
5 refused: the caller is not trusted or not allowed (certd said so).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from certlib.cli import audit, certs, demo, grants, keys, pki, remote, seals, trust
from certlib.config import load_settings
from certlib.errors import (
    CertlibError,
    InputError,
    KeyExistsError,
    KeyNotFoundError,
    KeyNotUsableError,
    KeyRequestError,
    TrustError,
)
from certlib.platform import open_platform

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INDETERMINATE = 3
EXIT_UNAVAILABLE = 4
EXIT_REFUSED = 5

_CALLER_FAULTS = (InputError, KeyNotFoundError, KeyExistsError, KeyNotUsableError, KeyRequestError)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=argparse.SUPPRESS,
                        help="state directory (default: $CERTLIB_HOME or ~/.local/share/certlib)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON for scripts instead of tables")
    remote.add_options(common)
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full `certctl` argument parser."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="certctl", parents=[common],
        description="Manage certlib keys, certificates and seals.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    keys.register(commands)
    pki.register(commands)
    certs.register(commands)
    audit.register(commands)
    seals.register(commands)
    grants.register(commands)
    trust.register(commands)
    demo.register(commands)
    for command in commands.choices.values():
        command._add_container_actions(common) # accept --home/--json after the command
        for sub in _leaf_parsers(command):
            sub._add_container_actions(common)
    return parser


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    leaves: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            leaves.extend(action.choices.values())
    return leaves


def main(argv: Sequence[str] | None = None) -> int:
    """Run certctl; returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.json = getattr(args, "json", False)
    args.home = getattr(args, "home", None)
    remote.fill_defaults(args)
    try:
        return _dispatch(args)
    except CertlibError as error:
        request_id = getattr(error, "request_id", None)
        suffix = f" (request {request_id})" if request_id else ""
        print(f"certctl: error: {error.message} [{error.code}]{suffix}", file=sys.stderr)
        if isinstance(error, _CALLER_FAULTS):
            return EXIT_USAGE
        return EXIT_REFUSED if isinstance(error, TrustError) else EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    settings = load_settings(args.home)
    if args.command == "demo":
        return demo.run(args, settings)
    if args.endpoint and args.command != "trust":  # trust lists are kept locally only
        return remote.run(args, settings)
    platform = open_platform(settings)
    try:
        if args.command == "keys":
            return keys.run(args, platform.keystore)
        if args.command == "pki":
            return pki.run_pki(args, platform)
        if args.command == "issuers":
            return pki.run_issuers(args, platform)
        if args.command == "certs":
            return certs.run(args, platform)
        if args.command == "types":
            return certs.run_types(args, platform)
        if args.command == "audit":
            return audit.run(args, platform)
        if args.command == "seals":
            return seals.run(args, platform)
        if args.command == "grants":
            return grants.run(args, platform)
        if args.command == "delegations":
            return grants.run_delegations(args, platform)
        if args.command == "trust":
            return trust.run(args, platform)
    finally:
        platform.close()
    raise InputError(f"unknown command {args.command!r}")


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
