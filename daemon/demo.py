"""`certd demo`: bring up certd, then act as two departments and an administrator.

Issues certificates over gRPC, verifies them and a QR presentation, revokes one,
verifies again, makes a seal and seals a letter with it, verifies the sealed letter,
checks the audit chain, printing every report. Exits 0 only if every
outcome was the expected one. With `--serve` the daemon keeps serving afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certlib.client import CertlibClient, ClientCredentials, report_from_message
from certlib.ids import id_number_with_check, uscc_with_check
from certlib.platform import Platform
from certlib.present import present, to_qr_text
from certlib.render import render_certificate_pdf
from certlib.report import Indication, SubIndication, ValidationReport
from certsvc.v1 import report_pb2, seal_pb2, seal_service_pb2, seal_service_pb2_grpc
from daemon.bootstrap import DEMO_DEPARTMENTS, bootstrap_demo
from daemon.config import DaemonConfig, load_daemon_config

# Fictitious people and a fictitious company (张三 and 李四 are placeholder names).
PEOPLE = [
    {"name": "张三", "sex": "1", "ethnicity": "01", "birth_date": "1985-06-15",
     "address": "青海省西宁市城东区示例路1号",
     "id_number": id_number_with_check("63010219850615231"),
     "issuing_authority": "西宁市公安局城东分局", "valid_from": "2015-03-01",
     "valid_until": "2035-03-01"},
    {"name": "李四", "sex": "2", "ethnicity": "01", "birth_date": "1992-11-30",
     "address": "青海省西宁市城西区示例街2号",
     "id_number": id_number_with_check("63010419921130048"),
     "issuing_authority": "西宁市公安局城西分局", "valid_from": "2020-05-01",
     "valid_until": "2040-05-01"},
]
COMPANY = {"uscc": uscc_with_check("91630100MA7FAKE00"), "name": "西宁示例科技有限公司",
           "entity_type": "有限责任公司", "legal_representative": "王五",
           "registered_capital": "100", "established_date": "2019-04-01",
           "address": "青海省西宁市城北区示例大道8号", "business_scope": "软件开发；信息技术服务",
           "registration_authority": "西宁市市场监督管理局",
           "business_term_from": "2019-04-01", "business_term_until": "长期"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_health(address: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with grpc.insecure_channel(address) as channel:
            try:
                stub = health_pb2_grpc.HealthStub(channel)
                response = stub.Check(  # type: ignore[attr-defined]
                    health_pb2.HealthCheckRequest(), timeout=2)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.3)
    raise TimeoutError(f"certd did not become healthy at {address}")


class Checklist:
    """Expected outcomes, printed as they are seen."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def report(self, what: str, result: ValidationReport, indication: Indication,
               sub: SubIndication | None = None) -> None:
        """Print a verification report and compare it with what was expected."""
        got = result.indication.value + (f"/{result.sub_indication.value}"
                                         if result.sub_indication else "")
        want = indication.value + (f"/{sub.value}" if sub else "")
        mark = "ok " if got == want else "BAD"
        print(f"[{mark}] {what}: {got}")
        for check in result.checks:
            detail = f" ({check.detail})" if check.detail else ""
            print(f"        {check.result.value:13} {check.name}{detail}")
        if result.disclosed:
            print(f"        disclosed: {', '.join(sorted(result.disclosed))}")
        if got != want:
            self.failures.append(f"{what}: expected {want}, got {got}")

    def expect(self, what: str, condition: bool) -> None:
        """Print a yes/no outcome."""
        print(f"[{'ok ' if condition else 'BAD'}] {what}")
        if not condition:
            self.failures.append(what)


def run_client(config: DaemonConfig, endpoint: str, platform: Platform) -> list[str]:
    """The walk-through as department systems; returns the unexpected outcomes."""
    files = {label: ClientCredentials.from_files(f.certificate, f.key, f.ca)
             for label, f in bootstrap_demo(platform, config).items()}
    police_uscc = DEMO_DEPARTMENTS["police"][0]
    market_uscc = DEMO_DEPARTMENTS["market"][0]
    checklist = Checklist()
    with CertlibClient(endpoint, files["police"]) as police, \
            CertlibClient(endpoint, files["market"]) as market, \
            CertlibClient(endpoint, files["admin"]) as admin:
        issued = [police.issue(police_uscc, "resident-id-card", person) for person in PEOPLE]
        licence = market.issue(market_uscc, "business-licence", COMPANY)
        for certificate in (*issued, licence):
            print(f"issued {certificate.identifier} ({certificate.type_id})")
        for certificate in issued:
            checklist.report(f"verify {certificate.type_id} {certificate.identifier[-20:]}",
                             market.verify(certificate.der), Indication.PASSED)
        fields = platform.types.get("resident-id-card").profile().fields
        qr_text = to_qr_text(present(issued[0].der, fields, compact=True))
        print(f"亮证 QR text: {len(qr_text)} characters")
        checklist.report("verify the QR presentation (name and identity number only)",
                         market.verify(qr_text), Indication.PASSED)
        police.revoke(issued[1].identifier)
        print(f"revoked {issued[1].identifier}")
        checklist.report("verify the revoked certificate", market.verify(issued[1].der),
                         Indication.FAILED, SubIndication.REVOKED)
        checklist.report("verify the business licence", police.verify(licence.der),
                         Indication.PASSED)
        try:
            market.revoke(issued[0].identifier)
            checklist.expect("another department cannot revoke the police's certificate",
                             False)
        except Exception as error:
            checklist.expect(f"another department cannot revoke it ({getattr(error, 'code', '')})",
                             getattr(error, "code", "") == "PERMISSION_DENIED")
        _seal_walkthrough(config, police, market, admin, checklist)
        chain = admin.verify_audit_chain()
        checklist.expect(f"audit chain intact ({chain.records_checked} records)", chain.ok)
    return checklist.failures


def _seal_walkthrough(config: DaemonConfig, police: CertlibClient, market: CertlibClient,
                      admin: CertlibClient, checklist: Checklist) -> None:
    """The platform makes the police's official seal; the police seal a letter (the seal
    picture centred on 盖章处); another department verifies it."""
    police_uscc = DEMO_DEPARTMENTS["police"][0]
    maker = seal_service_pb2_grpc.SealServiceStub(admin.channel)
    keeper = seal_service_pb2_grpc.SealServiceStub(police.channel)
    verifier = seal_service_pb2_grpc.SealServiceStub(market.channel)
    existing = [seal for seal in keeper.ListSeals(seal_service_pb2.ListSealsRequest(),
                                                  timeout=60).seals
                if seal.state == seal_pb2.SEAL_STATE_ACTIVE and seal.display_name == "公章"]
    seal = existing[0] if existing else maker.CreateSeal(seal_service_pb2.CreateSealRequest(
        owner=f"issuers/{police_uscc}", owner_name=DEMO_DEPARTMENTS["police"][1],
        region="630000", display_name="公章", type=seal_pb2.SEAL_TYPE_OFFICIAL,
        policy=seal_pb2.SealPolicy(users=[f"department:{police_uscc}"],
                                   document_kinds=[seal_pb2.DOCUMENT_KIND_PDF,
                                                   seal_pb2.DOCUMENT_KIND_OFD,
                                                   seal_pb2.DOCUMENT_KIND_DATA],
                                   daily_quota=1000)), timeout=120).seal
    print(f"seal {seal.es_id}: {seal.owner_name} {seal.display_name}")
    letter = render_certificate_pdf(
        "公函", "Official letter", [("事由", "关于核验居民身份证电子证照的函"),
                                    ("发文单位", DEMO_DEPARTMENTS["police"][1]),
                                    ("盖章处", "（盖章）")],
        identifier="示例公函", issuer=DEMO_DEPARTMENTS["police"][1], qr_payload=None)
    sealed = keeper.ApplySeal(seal_service_pb2.ApplySealRequest(
        seal=seal.name, document_kind=seal_pb2.DOCUMENT_KIND_PDF, document=letter,
        purpose="演示：公函用印", placement=seal_service_pb2.Placement(keyword="盖章处")),
        timeout=120)
    out = config.home / "run" / "demo-sealed-letter.pdf"
    out.write_bytes(sealed.document)
    print(f"sealed a letter (use {sealed.use.id}) -> {out}")
    checked = verifier.VerifySealedDocument(seal_service_pb2.VerifySealedDocumentRequest(
        document=sealed.document), timeout=120)
    for item in checked.signatures:
        checklist.report(f"verify the sealed letter ({item.name})",
                         report_from_message(item.report), Indication.PASSED)
    checklist.expect("the sealed letter verifies as a whole",
                     checked.indication == report_pb2.INDICATION_PASSED)


def demo(home: Path | None, serve: bool, listen: str | None) -> int:
    """Run the walk-through; with `serve`, keep the daemon running until Ctrl-C."""
    temporary = None
    if home is None:
        temporary = tempfile.TemporaryDirectory(prefix="certd-demo-")
        home = Path(temporary.name)
    config = load_daemon_config(home)
    if listen is None and not serve:
        listen = f"127.0.0.1:{_free_port()}"
    if serve:  # the configured ports, as a real deployment
        config = config.with_overrides(listen=listen)
    else:  # free ports, so that the walk-through never collides with a running certd
        config = config.with_overrides(
            listen=listen, health_listen=f"127.0.0.1:{_free_port()}",
            metrics_listen=f"127.0.0.1:{_free_port()}", workers=min(config.workers, 2))
    platform = Platform(config.settings)
    bootstrap_demo(platform, config)
    environment = {**os.environ, "CERTLIB_HOME": str(home), "CERTD_LISTEN": config.listen,
                   "CERTD_HEALTH_LISTEN": str(config.health_listen),
                   "CERTD_METRICS_LISTEN": str(config.metrics_listen),
                   "CERTD_WORKERS": str(config.workers)}
    log_path = home / "run" / "certd.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    daemon = subprocess.Popen([sys.executable, "-m", "daemon", "serve"], env=environment,
                              stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_for_health(str(config.health_listen))
        print(f"certd is serving on {config.listen} (mutual TLS), health on "
              f"{config.health_listen}, metrics on {config.metrics_listen}, "
              f"{config.workers} workers; state in {home}; logs in {log_path}")
        failures = run_client(config, config.listen, platform)
        platform.close()
        if failures:
            print(f"\n{len(failures)} unexpected outcome(s):")
            for failure in failures:
                print(f"  - {failure}")
        else:
            print("\nevery outcome was as expected")
        if serve:
            print(f"certd keeps serving on {config.listen}; Ctrl-C to stop")
            with contextlib.suppress(KeyboardInterrupt):
                daemon.wait()
        return 1 if failures else 0
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        log_file.close()
        if temporary is not None:
            temporary.cleanup()
