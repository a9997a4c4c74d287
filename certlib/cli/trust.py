"""`certctl trust ...`: trust-list keys, publishing and co-signing lists, and the lists in
force at this state directory (install, fetch, update, show). See docs/trust-lists.md.

Trust-list keys are HSM keys named `trustlist-<NAME>`; the commands take the short NAME and
never sign a list with any other key. What this state directory published is recorded in
`<home>/trust/published.json`, so a version can only go up.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certlib import regions as divisions
from certlib.algorithms import DEFAULT_ALGORITHM
from certlib.authority import Region
from certlib.cli.grants import duration
from certlib.cli.output import print_json, print_table, read_file, report
from certlib.cli.pki import CREATABLE
from certlib.clock import utc_now
from certlib.errors import CertlibError, InputError
from certlib.platform import Platform
from certlib.trustlist import (
    BOOTSTRAP_FILE,
    NATIONAL_TYPE,
    KeyDefinition,
    NationalTrustList,
    RegionEntry,
    RegionTrustList,
    TrustListClient,
    TrustListMissing,
    TrustListRejected,
    TrustListUnavailable,
    TrustView,
    build_national_list,
    build_region_list,
    parse_national_list,
    parse_region_list,
    parse_signed,
    region_entry,
    sign,
    valid_signers,
)
from certlib.trustlist import store as state
from certlib.trustlist.fetch import (
    DEFAULT_TIMEOUT,
    TrustListFetchFailed,
    TrustListNotFound,
    location_fetcher,
)
from certlib.trustlist.model import format_time
from certlib.trustlist.signing import add_signatures
from certlib.trustlist.view import ListState
from hsm import KeyRef

KEY_PREFIX = "trustlist-"
"""HSM key names of trust-list keys: `trustlist-<NAME>`."""
PUBLISHED_FILE = Path("trust") / "published.json"
"""What this state directory published: scope -> version, digest, time, file."""
SERVED_REGION_FILE = "trust/region-{code}.json"
"""The region's newest list, which certd serves to whoever asks (under the home)."""
EXIT_REJECTED = 1
EXIT_UNAVAILABLE = 4


class _Group(argparse.ArgumentParser):
    """A command parser whose nested sub-commands accept the options added to it as well
    (`--home`, `--json` ... after `trust key create`, not only after `trust key`)."""

    def _add_container_actions(self, container: argparse._ActionsContainer) -> None:
        super()._add_container_actions(container)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    child._add_container_actions(container)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(item.strip() for item in text.split(",") if item.strip())
    if not names:
        raise argparse.ArgumentTypeError("name at least one key")
    return names


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `trust` command group."""
    trust = commands.add_parser(
        "trust", help="trust lists: keys, publishing, installing, fetching, showing")
    actions = trust.add_subparsers(dest="action", required=True, metavar="ACTION",
                                   parser_class=_Group)

    key = actions.add_parser("key", help="trust-list signing keys in the HSM")
    key_actions = key.add_subparsers(dest="key_action", required=True, metavar="ACTION")
    create = key_actions.add_parser("create", help="generate a trust-list key")
    create.add_argument("--name", required=True, help="NAME (the HSM key is trustlist-NAME)")
    create.add_argument("--alg", default=DEFAULT_ALGORITHM, choices=CREATABLE, metavar="ALG",
                        help=f"default {DEFAULT_ALGORITHM}; sm2-sm3, ed25519, rsa-pss-sha256")
    export = key_actions.add_parser(
        "export", help="write the key's public definition (keyid, algorithm, SPKI) as JSON")
    export.add_argument("--name", required=True)
    export.add_argument("--out", required=True, type=Path)
    key_actions.add_parser("list", help="trust-list keys")

    region = actions.add_parser("region", help="this platform's region trust list")
    region_actions = region.add_subparsers(dest="region_action", required=True,
                                           metavar="ACTION")
    publish = region_actions.add_parser("publish", help="build and sign the region's list")
    publish.add_argument("--region", required=True, help="GB/T 2260 code of the region")
    publish.add_argument("--version", required=True, type=int,
                         help="above every version published before")
    publish.add_argument("--valid-for", type=duration, default=timedelta(days=7),
                         help="e.g. 7d (default), 24h")
    publish.add_argument("--address", required=True, metavar="HOST:PORT",
                         help="where other regions reach this region's certd")
    publish.add_argument("--server-name",
                         help="the name certd's TLS certificate carries "
                              "(default: from <home>/tls/server.pem)")
    publish.add_argument("--tls-ca", type=Path,
                         help="PEM CA certificates anchoring certd's TLS certificate "
                              "(default: root and issuing CA of the region that issued it)")
    publish.add_argument("--keys", required=True, type=_names, help="NAME[,NAME]: signing keys")
    publish.add_argument("--out", required=True, type=Path)
    publish.add_argument("--authorise", action="append", default=[], metavar="REGION=TYPES",
                         help="a sub-region and the types its issuers may issue, e.g. "
                              "630100=driving-licence,resident-id-card (repeatable)")
    publish.add_argument("--status-source", help="where status lists are fetched "
                                                 "(default certsvc://HOST:PORT)")
    publish.add_argument("--crl-source", help="where CRLs are fetched (default certsvc://HOST:PORT)")
    publish.add_argument("--name", help="the platform's name (default: the region's)")

    national = actions.add_parser("national", help="the national list of lists (operator)")
    national_actions = national.add_subparsers(dest="national_action", required=True,
                                               metavar="ACTION")
    listing = national_actions.add_parser("publish", help="build and sign the national list")
    listing.add_argument("--version", required=True, type=int)
    listing.add_argument("--valid-for", type=duration, default=timedelta(days=30),
                         help="e.g. 30d (default)")
    listing.add_argument("--operator", required=True, help="the national operator's name")
    listing.add_argument("--location", required=True,
                         help="where newer national lists are fetched; {version} is replaced "
                              "by a version number")
    listing.add_argument("--keys", required=True, type=_names,
                         help="NAME[,NAME]: national keys in this HSM (listed, and they sign)")
    listing.add_argument("--key-file", action="append", default=[], type=Path,
                         help="a national key held elsewhere (from `trust key export`; "
                              "listed, signs later with `trust sign`); repeatable")
    listing.add_argument("--threshold", required=True, type=int,
                         help="how many national keys must sign")
    listing.add_argument("--regions", required=True, type=Path,
                         help="TOML (or .json) file: the regions, their keys and locations")
    listing.add_argument("--out", required=True, type=Path)

    cosign = actions.add_parser("sign", help="add signatures to a list (k-of-n, key rotation)")
    cosign.add_argument("file", type=Path)
    cosign.add_argument("--keys", required=True, type=_names, help="NAME[,NAME]")
    cosign.add_argument("--out", required=True, type=Path)

    install = actions.add_parser("install", help="pin the national list (bootstrap)")
    install.add_argument("file", type=Path)
    install.add_argument("--force", action="store_true",
                         help="replace the national list in force (recovery; any version)")
    fetch = actions.add_parser(
        "fetch", help="fetch the national list and every region's list")
    fetch.add_argument("--ca-file", type=Path,
                       help="extra CA certificates (PEM) for https: locations")
    fetch.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                       help=f"seconds per location (default {DEFAULT_TIMEOUT:g})")
    update = actions.add_parser("update", help="apply one national or region list file")
    update.add_argument("file", type=Path)
    show = actions.add_parser("show", help="the lists in force")
    show.add_argument("--region", help="one region in detail")


def run(args: argparse.Namespace, platform: Platform) -> int:
    """Carry out one `trust` action on this state directory."""
    action = args.action
    if action == "key":
        return _key(args, platform)
    if action == "region":
        return _publish_region(args, platform)
    if action == "national":
        return _publish_national(args, platform)
    if action == "sign":
        return _cosign(args, platform)
    if action == "install":
        return _install(args, platform)
    if action == "fetch":
        return _fetch(args, platform)
    if action == "update":
        return _update(args, platform)
    return _show(args, platform)


# -- keys ------------------------------------------------------------------------------------


def _key_id(ref: KeyRef) -> str:
    return KeyDefinition.of(ref).keyid


def _key(args: argparse.Namespace, platform: Platform) -> int:
    keystore = platform.keystore
    if args.key_action == "create":
        ref = keystore.generate(args.alg, KEY_PREFIX + args.name)
        report(args, {"name": args.name, "hsm_key": ref.name, "algorithm": ref.algorithm,
                      "keyid": _key_id(ref)},
               f"trust-list key {args.name} ({ref.algorithm}) created in the HSM as {ref.name}, "
               f"keyid {_key_id(ref)}")
    elif args.key_action == "export":
        definition = KeyDefinition.of(keystore.get(KEY_PREFIX + args.name))
        content = {"keyid": definition.keyid, **definition.to_json()}
        _write_atomic(args.out, (json.dumps(content, indent=2) + "\n").encode())
        report(args, {**content, "out": str(args.out)},
               f"wrote the public definition of {args.name} (keyid {definition.keyid}) "
               f"to {args.out}")
    else:
        rows: list[dict[str, Any]] = [
            {"name": ref.name.removeprefix(KEY_PREFIX), "version": ref.version,
             "algorithm": ref.algorithm, "state": ref.state.value, "keyid": _key_id(ref)}
            for ref in keystore.list() if ref.name.startswith(KEY_PREFIX)]
        print_json(rows) if args.json else print_table(
            [{**row, "keyid": row["keyid"][:16]} for row in rows],
            ("name", "version", "algorithm", "state", "keyid"))
    return 0


def _hsm_keys(platform: Platform, names: Sequence[str]) -> list[KeyRef]:
    if len(set(names)) != len(names):
        raise InputError("a key is named twice in --keys")
    return [platform.keystore.get(KEY_PREFIX + name) for name in names]


def read_key_definition(value: object, base: Path, where: str) -> KeyDefinition:
    """A key from a `trust key export` file (a path, relative to `base`) or an inline
    `{algorithm, public_key[, keyid]}` object."""
    if isinstance(value, str):
        path = base / value
        try:
            value = json.loads(read_file(path))
        except ValueError:
            raise InputError(f"{path} is not a key file from `certctl trust key export`") \
                from None
        where = str(path)
    if not isinstance(value, dict) or not {"algorithm", "public_key"} <= set(value) <= {
            "algorithm", "public_key", "keyid"}:
        raise InputError(f"{where}: a key is {{keyid, algorithm, public_key}}")
    if not isinstance(value["algorithm"], str) or not isinstance(value["public_key"], str):
        raise InputError(f"{where}: algorithm and public_key are strings")
    try:
        public_key = base64.b64decode(value["public_key"], validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{where}: public_key is not base64") from None
    definition = KeyDefinition.create(value["algorithm"], public_key)
    if value.get("keyid", definition.keyid) != definition.keyid:
        raise InputError(f"{where}: the keyid is not the SHA-256 of the key")
    return definition


# -- publishing --------------------------------------------------------------------------------


def _published(home: Path) -> dict[str, Any]:
    path = home / PUBLISHED_FILE
    if not path.exists():
        return {}
    try:
        record = json.loads(read_file(path))
    except ValueError:
        raise InputError(f"{path} is not JSON; repair or remove it") from None
    if not isinstance(record, dict):
        raise InputError(f"{path} is not a JSON object; repair or remove it")
    return record


def _check_version(home: Path, scope: str, version: int) -> None:
    last = _published(home).get(scope, {}).get("version")
    if isinstance(last, int) and version <= last:
        what = "the national list" if scope == state.NATIONAL else f"region {scope}"
        raise InputError(f"version {version} is not above version {last}, which this state "
                         f"directory last published for {what}")


def _record(home: Path, scope: str, version: int, document: bytes, out: Path) -> None:
    record = _published(home)
    record[scope] = {"version": version, "digest": parse_signed(document).digest,
                     "published": format_time(utc_now()), "file": str(out.resolve())}
    _write_atomic(home / PUBLISHED_FILE,
                  (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())


def _write_atomic(path: Path, content: bytes) -> None:
    """Write a file whole or not at all (a list being served is never seen half written)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(content)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {error.strerror}") from None


def _type_code(platform: Platform, name: str) -> str:
    if name not in platform.types and len(name) == 21:
        return name  # a GB/T 36904 code (perhaps one another region defines): checked later
    return platform.types.get(name).code


def _authorisations(platform: Platform, given: Sequence[str]) -> dict[str, list[str]]:
    grants: dict[str, list[str]] = {}
    for item in given:
        code, separator, types = item.partition("=")
        names = [name.strip() for name in types.split(",") if name.strip()]
        if not separator or not names:
            raise InputError("--authorise is REGION=TYPE[,TYPE], e.g. 630100=driving-licence")
        if code.strip() in grants:
            raise InputError(f"region {code.strip()} is authorised twice")
        grants[code.strip()] = [_type_code(platform, name) for name in names]
    return grants


def _tls_identity(args: argparse.Namespace, platform: Platform,
                  region: Region) -> tuple[str | None, list[bytes]]:
    """certd's TLS server name and CA certificates: as given, else from its certificate."""
    host = args.address.rpartition(":")[0].strip("[]")
    cas = [] if args.tls_ca is None else _pem_certificates(args.tls_ca)
    server = platform.settings.home / "tls" / "server.pem"
    if not server.is_file():
        return args.server_name, cas or [region.root_certificate, region.issuing_certificate]
    leaf = _pem_certificates(server)[0]
    certificate = x509.load_der_x509_certificate(leaf)
    server_name = args.server_name or _name_in(certificate, host)
    if not cas:
        issuer = next((r for r in platform.authority.regions() if x509.load_der_x509_certificate(
            r.issuing_certificate).subject == certificate.issuer), None)
        if issuer is None:
            raise InputError("certd's server certificate is not from a region of this "
                             "platform: give --tls-ca")
        cas = [issuer.root_certificate, issuer.issuing_certificate]
    return server_name, cas


def _name_in(certificate: x509.Certificate, host: str) -> str | None:
    """The endpoint host if the certificate carries it, else its first DNS name or IP."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    carried = [*names.get_values_for_type(x509.DNSName),
               *(str(ip) for ip in names.get_values_for_type(x509.IPAddress))]
    if not carried:
        return None
    return host if host in carried else carried[0]


def _pem_certificates(path: Path) -> list[bytes]:
    try:
        loaded = x509.load_pem_x509_certificates(read_file(path))
    except ValueError:
        raise InputError(f"{path} holds no PEM certificates") from None
    return [certificate.public_bytes(Encoding.DER) for certificate in loaded]


def _publish_region(args: argparse.Namespace, platform: Platform) -> int:
    home = platform.settings.home
    region = platform.authority.region(args.region)
    _check_version(home, region.code, args.version)
    keys = _hsm_keys(platform, args.keys)
    server_name, tls_cas = _tls_identity(args, platform, region)
    now = utc_now().replace(microsecond=0)
    signed = build_region_list(
        platform, region.code, version=args.version, issued=now, expires=now + args.valid_for,
        endpoint=args.address, name=args.name, tls_server_name=server_name,
        tls_ca_certificates=tls_cas, status_lists=args.status_source, crls=args.crl_source,
        authorisations=_authorisations(platform, args.authorise))
    document = sign(signed, platform.keystore, keys)
    _write_atomic(args.out, document)
    served = home / SERVED_REGION_FILE.format(code=region.code)
    served.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(served, document)  # what certd's TrustService.GetRegionTrustList serves
    _record(home, region.code, args.version, document, args.out)
    listed = parse_region_list(signed)
    report(args, {"scope": region.code, "version": listed.version,
                  "issued": format_time(listed.issued), "expires": format_time(listed.expires),
                  "issuers": len(listed.issuers), "seal_makers": len(listed.seal_makers),
                  "endpoint": listed.endpoint.address, "server_name": listed.endpoint.server_name,
                  "signed_by": [_key_id(key) for key in keys], "out": str(args.out),
                  "bytes": len(document)},
           f"region {region.code} list version {listed.version} ({len(listed.issuers)} "
           f"issuer(s), endpoint {listed.endpoint.address} as {listed.endpoint.server_name}), "
           f"valid until {format_time(listed.expires)}, signed by {len(keys)} key(s) -> "
           f"{args.out}")
    return 0


_ENTRY_MEMBERS = {"name", "keys", "threshold", "location"}


def read_regions(path: Path) -> list[RegionEntry]:
    """The region entries of a national list from a TOML (or `.json`) file: one table per
    region code with `name`, `keys` (key files or inline keys), `threshold`, `location`."""
    data = read_file(path)
    try:
        table = json.loads(data) if path.suffix == ".json" else tomllib.loads(data.decode())
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"{path} cannot be read: {error}") from None
    if not isinstance(table, dict) or not table:
        raise InputError(f"{path} has one table per region code")
    entries = []
    for code, entry in table.items():
        where = f"{path} [{code}]"
        if not isinstance(entry, dict) or set(entry) != _ENTRY_MEMBERS:
            raise InputError(f"{where} has exactly name, keys, threshold and location")
        if not isinstance(entry["keys"], list) or not entry["keys"]:
            raise InputError(f"{where}: keys is a list of key files or keys")
        if not isinstance(entry["threshold"], int) or isinstance(entry["threshold"], bool):
            raise InputError(f"{where}: threshold is a whole number")
        keys = [read_key_definition(key, path.parent, where) for key in entry["keys"]]
        if not isinstance(entry["name"], str) or not isinstance(entry["location"], str):
            raise InputError(f"{where}: name and location are strings")
        entries.append(region_entry(code, entry["name"], keys, entry["threshold"],
                                    entry["location"]))
    return entries


def _publish_national(args: argparse.Namespace, platform: Platform) -> int:
    home = platform.settings.home
    _check_version(home, state.NATIONAL, args.version)
    keys = _hsm_keys(platform, args.keys)
    others = [read_key_definition(str(path), Path.cwd(), str(path)) for path in args.key_file]
    now = utc_now().replace(microsecond=0)
    signed = build_national_list(
        version=args.version, issued=now, expires=now + args.valid_for,
        operator=args.operator, location=args.location, keys=[*keys, *others],
        threshold=args.threshold, regions=read_regions(args.regions))
    document = sign(signed, platform.keystore, keys)
    _write_atomic(args.out, document)
    _record(home, state.NATIONAL, args.version, document, args.out)
    listed = parse_national_list(signed)
    count = _own_signatures(document)
    row = {"scope": state.NATIONAL, "version": listed.version,
           "issued": format_time(listed.issued), "expires": format_time(listed.expires),
           "regions": list(listed.regions), "keys": list(listed.keys),
           "threshold": listed.threshold, "signatures": count, "out": str(args.out),
           "bytes": len(document)}
    missing = max(0, listed.threshold - (count or 0))
    more = f"; needs {missing} more (certctl trust sign)" if missing else ""
    report(args, row, f"national list version {listed.version} naming {len(listed.regions)} "
           f"region(s), valid until {format_time(listed.expires)}, signed by {count} of its "
           f"{len(listed.keys)} key(s), threshold {listed.threshold}{more} -> {args.out}")
    return 0


def _own_signatures(document: bytes) -> int | None:
    """For a national list: how many of its own keys signed it (None for a region list)."""
    parsed = parse_signed(document)
    if parsed.signed.get("type") != NATIONAL_TYPE:
        return None
    return len(valid_signers(parsed, parse_national_list(parsed.signed).keys))


def _cosign(args: argparse.Namespace, platform: Platform) -> int:
    document = read_file(args.file)
    try:
        before = parse_signed(document)
    except TrustListRejected as error:
        raise InputError(f"{args.file} is not a signed trust list: {error.message}") from None
    keys = _hsm_keys(platform, args.keys)
    signed = add_signatures(document, platform.keystore, keys)
    _write_atomic(args.out, signed)
    present = {signature.keyid for signature in before.signatures}
    added = [_key_id(key) for key in keys if _key_id(key) not in present]
    try:
        own = _own_signatures(signed)
    except TrustListRejected:
        own = None
    row = {"out": str(args.out), "added": added,
           "signatures": len(parse_signed(signed).signatures), "own_signatures": own}
    mine = "" if own is None else f", {own} by the list's own keys"
    report(args, row, f"added {len(added)} signature(s) ({len(keys) - len(added)} already "
           f"there): {row['signatures']} in all{mine} -> {args.out}")
    return 0


# -- the lists in force -------------------------------------------------------------------------


def _index(platform: Platform) -> dict[str, tuple[int, str]]:
    with platform.store.reading() as connection:
        return state.read_index(connection)


def _stored(platform: Platform) -> tuple[NationalTrustList | None, dict[str, RegionTrustList]]:
    """The lists in force as stored, whether fresh or not."""
    with platform.store.reading() as connection:
        rows = state.read_lists(connection, state.read_index(connection))
    national, regions = None, {}
    for scope, row in rows.items():
        signed = parse_signed(row.document, max(len(row.document), 1)).signed
        if scope == state.NATIONAL:
            national = parse_national_list(signed)
        else:
            regions[scope] = parse_region_list(signed)
    return national, regions


def _rejected(args: argparse.Namespace, scope: str | None, error: TrustListRejected) -> int:
    detail = error.message.split(": ", 1)[-1]
    row: dict[str, object] = {"scope": scope, "outcome": "rejected",
                              "reason": error.reason.value, "detail": detail}
    report(args, row, f"{scope or 'the list'}: rejected ({error.reason.value}): {detail}")
    return EXIT_REJECTED


def _install(args: argparse.Namespace, platform: Platform) -> int:
    document = read_file(args.file)
    client = TrustListClient(platform.store)
    before = _index(platform).get(state.NATIONAL)
    try:
        digest = parse_signed(document, client.max_bytes).digest
        install = client.pin_national if args.force else client.install_bootstrap
        listed = install(document)
    except TrustListRejected as error:
        return _rejected(args, state.NATIONAL, error)
    after = _index(platform).get(state.NATIONAL)
    if after is None or after[1] != digest:
        in_force = "another" if after is None else f"version {after[0]}"
        raise InputError(f"a national list ({in_force}) is already in force: this file changes "
                         "nothing (`trust update` applies a newer list; --force replaces it)")
    outcome = ("pinned" if args.force else
               "unchanged" if before is not None and before[1] == digest else "installed")
    _write_atomic(platform.settings.home / BOOTSTRAP_FILE, document)
    report(args, {"scope": state.NATIONAL, "outcome": outcome, "version": listed.version,
                  "expires": format_time(listed.expires), "regions": list(listed.regions)},
           f"national list version {listed.version} {outcome} (naming "
           f"{len(listed.regions)} region(s), valid until {format_time(listed.expires)})")
    return 0


def _update(args: argparse.Namespace, platform: Platform) -> int:
    document = read_file(args.file)
    client = TrustListClient.for_platform(platform)
    scope: str | None = None
    try:
        parsed = parse_signed(document, client.max_bytes)
        national = parsed.signed.get("type") == NATIONAL_TYPE
        region = parsed.signed.get("region")
        scope = state.NATIONAL if national else region if isinstance(region, str) else None
        before = _index(platform).get(scope) if scope else None
        listed: NationalTrustList | RegionTrustList = (
            client.update_national(document) if national else client.update_region(document))
    except TrustListRejected as error:
        return _rejected(args, scope, error)
    outcome = "unchanged" if before is not None and before[1] == parsed.digest else "accepted"
    report(args, {"scope": scope, "outcome": outcome, "version": listed.version,
                  "expires": format_time(listed.expires)},
           f"{scope}: {outcome}, version {listed.version} in force until "
           f"{format_time(listed.expires)}")
    return 0


class _Recorder:
    """Wraps a fetch: remembers what each location gave (bytes, or the failure)."""

    def __init__(self, fetch: Callable[[str], bytes]) -> None:
        self._fetch = fetch
        self.documents: dict[str, bytes] = {}
        self.failures: dict[str, TrustListFetchFailed] = {}

    def __call__(self, location: str) -> bytes:
        try:
            document = self._fetch(location)
        except TrustListFetchFailed as error:
            self.failures[location] = error
            raise
        self.documents[location] = document
        return document


def _fetch(args: argparse.Namespace, platform: Platform) -> int:
    recorder = _Recorder(location_fetcher(ca_file=args.ca_file, timeout=args.timeout))
    client = TrustListClient.for_platform(platform)
    if state.NATIONAL not in _index(platform):
        raise TrustListMissing("no national trust list is installed: run "
                               "`certctl trust install FILE` first")
    outcomes = client.refresh(recorder)
    national, regions = _stored(platform)
    view = TrustView(national, regions, utc_now())
    region_locations = {entry.location for entry in national.regions.values()} if national \
        else set()
    rows = []
    for scope, outcome in outcomes.items():
        if scope == state.NATIONAL:
            location = next((loc for loc in reversed(recorder.documents)
                             if loc not in region_locations), None)
            failures = [error for loc, error in recorder.failures.items()
                        if loc not in region_locations and not isinstance(error,
                                                                          TrustListNotFound)]
        else:
            location = national.regions[scope].location if national and \
                scope in national.regions else None
            failures = [recorder.failures[location]] if location in recorder.failures else []
        row = _fetch_row(client, scope, outcome, recorder.documents.get(location or ""),
                         failures)
        listed = national if scope == state.NATIONAL else regions.get(scope)
        row["version"] = listed.version if listed else None
        row["state"] = (_national_state(view) if scope == state.NATIONAL
                        else view.state_of(scope).name)
        rows.append(row)
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            detail = f" ({row['reason']})" if row.get("reason") else ""
            more = f": {row['detail']}" if row.get("detail") else ""
            print(f"{row['scope']}: {row['outcome']}{detail}{more}; in force: version "
                  f"{row['version']}, {row['state']}")
    results = {row["outcome"] for row in rows}
    if "rejected" in results:
        return EXIT_REJECTED
    return EXIT_UNAVAILABLE if "unavailable" in results else 0


def _fetch_row(client: TrustListClient, scope: str, outcome: str, document: bytes | None,
               failures: Sequence[TrustListFetchFailed]) -> dict[str, Any]:
    row: dict[str, Any] = {"scope": scope, "outcome": outcome}
    if outcome in ("accepted", "unchanged"):
        if failures:  # the national walk stops quietly at a failure; say why
            row.update(outcome="unavailable", reason=failures[-1].code,
                       detail=failures[-1].message)
        return row
    code, _, reason = outcome.partition(":")
    if code == TrustListRejected.code:
        row.update(outcome="rejected", reason=reason,
                   detail=_why_rejected(client, scope, document))
    else:
        row.update(outcome="unavailable", reason=code,
                   detail=failures[-1].message if failures else None)
    return row


def _why_rejected(client: TrustListClient, scope: str, document: bytes | None) -> str | None:
    """The message of a rejection `refresh` reported by code only (applying the same
    document again changes nothing: it is refused again)."""
    if document is None:
        return None
    try:
        if scope == state.NATIONAL:
            client.update_national(document)
        else:
            client.update_region(document)
    except CertlibError as error:
        return error.message.split(": ", 1)[-1]
    return None


def _national_state(view: TrustView) -> str:
    try:
        view.national  # noqa: B018 - raises when missing or stale
    except TrustListMissing:
        return ListState.MISSING.name
    except TrustListUnavailable:
        return ListState.STALE.name
    return ListState.FRESH.name


# -- show ---------------------------------------------------------------------------------------


def _keys_json(keys: Mapping[str, KeyDefinition]) -> list[dict[str, str]]:
    return [{"keyid": keyid, "algorithm": key.algorithm} for keyid, key in keys.items()]


def _national_json(national: NationalTrustList, view: TrustView) -> dict[str, Any]:
    return {"version": national.version, "issued": format_time(national.issued),
            "expires": format_time(national.expires), "state": _national_state(view),
            "operator": national.operator, "location": national.location,
            "keys": _keys_json(national.keys), "threshold": national.threshold}


def _allowed(view: TrustView, region: str, uscc: str, type_code: str) -> bool | None:
    try:
        return view.issuer_allowed(region, uscc, type_code)
    except CertlibError:  # a needed list is stale or missing: unknown, never yes
        return None


def _region_json(platform: Platform, code: str, national: NationalTrustList | None,
                 listed: RegionTrustList | None, view: TrustView) -> dict[str, Any]:
    entry = national.regions.get(code) if national else None
    row: dict[str, Any] = {"region": code, "state": view.state_of(code).name,
                           "name": entry.name if entry else None,
                           "location": entry.location if entry else None,
                           "keys": _keys_json(entry.keys) if entry else [],
                           "threshold": entry.threshold if entry else None,
                           "version": None, "issued": None, "expires": None}
    if listed is None:
        return row
    row.update(
        list_name=listed.name, version=listed.version, issued=format_time(listed.issued),
        expires=format_time(listed.expires),
        endpoint={"address": listed.endpoint.address,
                  "server_name": listed.endpoint.server_name,
                  "ca_certificates": len(listed.endpoint.ca_certificates)},
        status=listed.status.to_json(), seal_makers=len(listed.seal_makers),
        issuers=[{"uscc": issuer.uscc, "name": issuer.name, "types": [
            {"code": type_code, "type": _type_id(platform, type_code),
             "allowed": _allowed(view, code, issuer.uscc, type_code)}
            for type_code in issuer.certificate_types]} for issuer in listed.issuers],
        authorisations=[grant.to_json() for grant in listed.authorisations])
    return row


def _type_id(platform: Platform, type_code: str) -> str | None:
    try:
        return platform.types.by_code(type_code).id
    except CertlibError:
        return None


def _show(args: argparse.Namespace, platform: Platform) -> int:
    national, regions = _stored(platform)
    view = TrustView(national, regions, utc_now())
    if args.region is not None:
        if not divisions.is_well_formed(args.region):
            raise InputError("--region is a GB/T 2260 region code")
        codes = [args.region]
    else:
        codes = sorted({*(national.regions if national else ()), *regions})
    about_national = None if national is None else _national_json(national, view)
    rows = [_region_json(platform, code, national, regions.get(code), view) for code in codes]
    if args.json:
        print_json({"national": about_national, "regions": rows})
    elif args.region is not None:
        _print_national(about_national)
        _print_region(rows[0])
    else:
        _print_national(about_national)
        print_table([{**row, "issuers": len(row.get("issuers", [])),
                      "endpoint": row.get("endpoint", {}).get("address", "")}
                     for row in rows],
                    ("region", "name", "state", "version", "expires", "issuers", "endpoint"))
    return 0


def _print_national(national: dict[str, Any] | None) -> None:
    if national is None:
        print("national list: none installed (certctl trust install FILE)")
        return
    print(f"national list: version {national['version']}, {national['state']}, "
          f"expires {national['expires']}, operator {national['operator']}")
    print(f"  keys (threshold {national['threshold']} of {len(national['keys'])}): "
          + ", ".join(f"{key['keyid'][:16]} {key['algorithm']}" for key in national["keys"]))
    print(f"  location {national['location']}")


_ALLOWED = {True: "allowed", False: "not allowed by an enclosing region",
            None: "unknown (a needed list is stale or missing)"}


def _print_region(row: dict[str, Any]) -> None:
    print(f"region {row['region']} {row['name'] or ''}: {row['state']}, version "
          f"{row['version']}, expires {row['expires']}")
    if row["location"]:
        print(f"  listed with {len(row['keys'])} key(s), threshold {row['threshold']}, "
              f"at {row['location']}")
    if row["version"] is None:
        return
    endpoint = row["endpoint"]
    print(f"  endpoint {endpoint['address']} (TLS name {endpoint['server_name']}, "
          f"{endpoint['ca_certificates']} CA certificate(s))")
    print(f"  status lists {row['status']['status_lists']}, CRLs {row['status']['crls']}")
    for issuer in row["issuers"]:
        print(f"  issuer {issuer['uscc']} {issuer['name']}")
        for item in issuer["types"]:
            print(f"    {item['code']} {item['type'] or ''}: {_ALLOWED[item['allowed']]}")
    for grant in row["authorisations"]:
        print(f"  authorises {grant['region']}: {', '.join(grant['certificate_types'])}")
