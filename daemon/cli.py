"""`certd`: run the daemon, set up its TLS files, issue client credentials, run the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from certlib.config import default_home
from certlib.errors import CertlibError
from certlib.platform import Platform
from daemon.bootstrap import bootstrap_demo, bootstrap_region, ensure_server_tls, issue_client
from daemon.config import load_daemon_config
from daemon.demo import demo
from daemon.identity import Policy, write_policy
from daemon.server import serve


def build_parser() -> argparse.ArgumentParser:
    """The `certd` argument parser."""
    parser = argparse.ArgumentParser(prog="certd", description="The certlib signing daemon.")
    parser.add_argument("--home", type=Path, help="state directory (default: $CERTLIB_HOME)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the daemon in the foreground (default)")
    serve.add_argument("--listen", help="HOST:PORT for mutual-TLS gRPC")
    serve.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    init = commands.add_parser("init", help="create the demo region, departments, TLS files")
    init.add_argument("--region", help="set up this region (or, alone, use this existing "
                                       "region for the server certificate)")
    init.add_argument("--name", help="with --region: the region's platform name")
    init.add_argument("--operator", help="with --region: the platform operator's USCC")
    init.add_argument("--alg", help="with --region: the region's CA algorithm")
    client = commands.add_parser("client-cert", help="TLS client credentials for a department")
    client.add_argument("--region", required=True)
    client.add_argument("--uscc", required=True)
    client.add_argument("--name", required=True)
    client.add_argument("--label", required=True, help="file name under <home>/tls/clients")
    client.add_argument("--roles", required=True, help="comma-separated policy roles")
    client.add_argument("--not-before", type=datetime.fromisoformat,
                        help="validity start (ISO 8601 with zone; default now)")
    client.add_argument("--not-after", type=datetime.fromisoformat,
                        help="validity end (default: a year)")
    demo = commands.add_parser("demo", help="run the walk-through against a fresh daemon")
    demo.add_argument("--serve", action="store_true", help="keep serving afterwards")
    demo.add_argument("--listen", help="HOST:PORT (default: a free port; 7443 with --serve)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run certd; returns the exit status."""
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    try:
        if command == "demo":
            # Alone, the demo runs in a temporary home; with --serve it sets up and keeps
            # serving the configured home (the README's main job).
            home = args.home or (default_home() if args.serve else None)
            return demo(home, args.serve, args.listen or
                        ("127.0.0.1:7443" if args.serve else None))
        config = load_daemon_config(args.home)
        if command == "serve":
            return serve(config.with_overrides(listen=getattr(args, "listen", None),
                                               workers=getattr(args, "workers", None)))
        platform = Platform(config.settings)
        try:
            if command == "init":
                if args.region and args.operator:
                    files = bootstrap_region(
                        platform, config, code=args.region, name=args.name or args.region,
                        operator_uscc=args.operator.upper(),
                        operator_name=f"{args.name or args.region}运营中心",
                        algorithm=args.alg)
                    print(f"operator: {files.certificate} {files.key}")
                elif args.region:
                    ensure_server_tls(platform, config, args.region)
                else:
                    created = bootstrap_demo(platform, config)
                    for label, paths in created.items():
                        print(f"{label}: {paths.certificate} {paths.key}")
                print(f"server TLS files in {config.tls_directory}; policy {config.policy_file}")
            else:
                files = issue_client(platform, config, region_code=args.region,
                                     uscc=args.uscc.upper(), name=args.name,
                                     label=args.label, not_before=args.not_before,
                                     not_after=args.not_after)
                departments = Policy(config.policy_file).departments()
                departments[args.uscc.upper()] = [r.strip() for r in args.roles.split(",")
                                                  if r.strip()]
                write_policy(config.policy_file, departments)
                print(f"{files.certificate} {files.key} (CA bundle {files.ca})")
        finally:
            platform.close()
        return 0
    except CertlibError as error:
        print(f"certd: error: {error.message} [{error.code}]", file=sys.stderr)
        return 2


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
