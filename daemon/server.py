"""certd's processes: a supervisor and one gRPC worker per core sharing the port.

Each worker has its own HSM session and database pool (SoftHSM2 runs without locking
under python-pkcs11, so sessions are never shared across threads of different
processes), binds the same address with SO_REUSEPORT, and drains gracefully on SIGTERM.
The supervisor runs migrations once, starts and restarts workers, and serves the
Prometheus metrics of all of them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

import grpc
from asn1crypto import pem
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from certlib.errors import CertlibError, ConfigurationError
from certlib.keys import token_config
from certlib.platform import Platform
from certlib.trustlist.fetch import fetch_location
from certsvc.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    certificate_service_pb2,
    certificate_service_pb2_grpc,
    holder_service_pb2,
    holder_service_pb2_grpc,
    key_service_pb2,
    key_service_pb2_grpc,
    seal_service_pb2,
    seal_service_pb2_grpc,
    trust_service_pb2,
    trust_service_pb2_grpc,
    use_service_pb2,
    use_service_pb2_grpc,
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from daemon.calls import CallInterceptor
from daemon.config import DaemonConfig
from daemon.identity import Policy, RevocationCache
from daemon.observe import configure_logging
from daemon.runtime import WorkerRuntime
from daemon.services.audit import AuditService
from daemon.services.certificates import CertificateService
from daemon.services.holders import HolderService
from daemon.services.keys import KeyService
from daemon.services.seals import SealService
from daemon.services.trust import TrustService
from daemon.services.uses import UseService
from daemon.services.verification import VerificationService

log = logging.getLogger("certd")

SERVICE_NAMES = (
    certificate_service_pb2.DESCRIPTOR.services_by_name["CertificateService"].full_name,
    verification_service_pb2.DESCRIPTOR.services_by_name["VerificationService"].full_name,
    key_service_pb2.DESCRIPTOR.services_by_name["KeyService"].full_name,
    audit_service_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
    seal_service_pb2.DESCRIPTOR.services_by_name["SealService"].full_name,
    holder_service_pb2.DESCRIPTOR.services_by_name["HolderService"].full_name,
    use_service_pb2.DESCRIPTOR.services_by_name["UseService"].full_name,
    trust_service_pb2.DESCRIPTOR.services_by_name["TrustService"].full_name,
)
CHECKPOINT_SECONDS = 60.0


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise ConfigurationError(
            f"{what} is missing ({path}); run `certd init` to create the TLS files") from None


def build_server(config: DaemonConfig, runtime: WorkerRuntime
                 ) -> tuple[grpc.Server, health.HealthServicer]:
    """One worker's gRPC server: services, health, reflection, interceptor, ports."""
    policy = Policy(config.policy_file)
    revocations = RevocationCache(runtime.platform.authority.revoked_serials)
    server = grpc.server(
        ThreadPoolExecutor(max_workers=config.threads_per_worker, thread_name_prefix="rpc"),
        interceptors=[CallInterceptor(policy, revocations, lambda: runtime.platform.audit,
                                      peers=runtime.peer_recognition())],
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
        ],
        maximum_concurrent_rpcs=config.threads_per_worker * 8,
    )
    certificate_service_pb2_grpc.add_CertificateServiceServicer_to_server(
        CertificateService(runtime), server)
    verification_service_pb2_grpc.add_VerificationServiceServicer_to_server(
        VerificationService(runtime), server)
    key_service_pb2_grpc.add_KeyServiceServicer_to_server(KeyService(runtime), server)
    audit_service_pb2_grpc.add_AuditServiceServicer_to_server(AuditService(runtime), server)
    seal_service_pb2_grpc.add_SealServiceServicer_to_server(SealService(runtime), server)
    holder_service_pb2_grpc.add_HolderServiceServicer_to_server(HolderService(runtime), server)
    use_service_pb2_grpc.add_UseServiceServicer_to_server(UseService(runtime), server)
    trust_service_pb2_grpc.add_TrustServiceServicer_to_server(TrustService(runtime), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    server.add_secure_port(config.listen, _server_credentials(config, runtime))
    if config.health_listen:
        # Plaintext, for load balancers: the interceptor answers only health here.
        server.add_insecure_port(config.health_listen)
    return server, health_servicer


def _server_credentials(config: DaemonConfig,
                        runtime: WorkerRuntime) -> grpc.ServerCredentials:
    """Mutual TLS whose client CAs are this region's plus the roots of every other region
    whose trust list is fresh, re-read as the lists change (no restart needed)."""
    tls = config.tls_directory
    key_pair = [(_read(tls / "server.key", "the server TLS key"),
                 _read(tls / "server.pem", "the server TLS certificate"))]
    local_roots = _read(tls / "client-ca.pem", "the client CA bundle")
    current: dict[str, bytes] = {}

    def roots() -> bytes:
        foreign = b"".join(pem.armor("CERTIFICATE", der)
                           for der in runtime.federation.client_roots())
        return local_roots + foreign

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        try:
            wanted = roots()
        except CertlibError:
            return None  # keep what is in force
        if current.get("roots") == wanted:
            return None
        current["roots"] = wanted
        return grpc.ssl_server_certificate_configuration(key_pair, root_certificates=wanted)

    first = roots()
    current["roots"] = first
    return grpc.dynamic_ssl_server_credentials(
        grpc.ssl_server_certificate_configuration(key_pair, root_certificates=first),
        fetch,  # type: ignore[arg-type]  # gRPC takes None for "unchanged"; the stub does not say so
        require_client_authentication=True)


def run_worker(config: DaemonConfig, index: int) -> None:
    """The body of one worker process: serve until SIGTERM, then drain."""
    configure_logging(config.log_level)
    runtime = WorkerRuntime(config)
    runtime.platform.store  # noqa: B018 - open the database before taking calls
    server, health_servicer = build_server(config, runtime)
    stopping = threading.Event()

    def drain(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("draining", extra={"worker": index, "signal": signum})
        health_servicer.enter_graceful_shutdown()
        server.stop(config.grace_seconds)

    signal.signal(signal.SIGTERM, drain)
    signal.signal(signal.SIGINT, drain)
    server.start()
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("worker serving", extra={"worker": index, "listen": config.listen,
                                      "pid": os.getpid()})
    keeper = threading.Thread(target=_housekeeping, args=(runtime, stopping), daemon=True,
                              name="housekeeping")
    if index == 0:
        keeper.start()
    threading.Thread(target=_federation_refresh, args=(runtime, stopping, index == 0),
                     daemon=True, name="federation").start()
    server.wait_for_termination()
    stopping.set()
    if keeper.is_alive():
        keeper.join(timeout=config.grace_seconds + 10)  # its last checkpoint, then close
    runtime.close()
    log.info("worker stopped", extra={"worker": index})


def _housekeeping(runtime: WorkerRuntime, stopping: threading.Event) -> None:
    """Worker 0 signs audit checkpoints and keeps status lists fresh."""
    while not stopping.wait(CHECKPOINT_SECONDS):
        try:
            runtime.platform.audit.checkpoint()
            runtime.publisher.refresh_all()
        except CertlibError as error:
            log.warning("housekeeping failed", extra={"code": error.code})
    try:
        runtime.platform.audit.checkpoint()
    except CertlibError as error:
        log.warning("final checkpoint failed", extra={"code": error.code})


def _federation_refresh(runtime: WorkerRuntime, stopping: threading.Event,
                        fetch_lists: bool) -> None:
    """Keep other regions current: worker 0 fetches trust lists (into the shared store),
    every worker fetches the CRLs of the regions whose lists are fresh."""
    federation = runtime.federation
    settings = federation.settings
    ca_file = Path(settings.ca_file) if settings.ca_file else None
    while True:
        if fetch_lists:
            try:
                outcome = federation.trust_lists.refresh(
                    lambda location: fetch_location(location, ca_file=ca_file))
                problems = {scope: result for scope, result in outcome.items()
                            if result not in ("accepted", "unchanged")}
                if problems:
                    log.warning("trust lists not updated; the last good copies stay in force",
                                extra={"problems": problems})
            except CertlibError as error:
                log.warning("trust lists could not be refreshed", extra={"code": error.code})
            except Exception as error:  # the thread must go on, whatever failed
                log.error("trust-list refresh failed unexpectedly",
                          extra={"problem": type(error).__name__})
        try:
            federation.refresh_crls()
        except CertlibError as error:
            log.warning("CRLs of other regions could not be refreshed",
                        extra={"code": error.code})
        except Exception as error:  # the thread must go on, whatever failed
            log.error("CRL refresh failed unexpectedly",
                      extra={"problem": type(error).__name__})
        if stopping.wait(settings.refresh_seconds):
            return


class Supervisor:
    """Starts, watches and stops the workers; serves their metrics."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, multiprocessing.process.BaseProcess] = {}
        self.stopping = threading.Event()

    def prepare(self) -> None:
        """Token, schema, data keys and metrics directory, before any worker starts
        (one process creates what would otherwise race between workers)."""
        token_config(self.config.settings)  # creates the embedded SoftHSM2 token once
        platform = Platform(self.config.settings)
        try:
            platform.store.migrate()
            platform.protector.prepare()
        finally:
            platform.close()
        metrics = self.config.home / "run" / "metrics"
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)

    def start_metrics(self) -> None:
        """Serve the sum of every worker's metrics over HTTP."""
        if not self.config.metrics_listen:
            return
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        host, _, port = self.config.metrics_listen.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)

    def _spawn(self, index: int) -> None:
        process = self.context.Process(target=run_worker, args=(self.config, index),
                                       name=f"certd-worker-{index}")
        process.start()
        self.workers[index] = process

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; returns the exit status."""
        configure_logging(self.config.log_level)
        self.prepare()
        self.start_metrics()
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        for index in range(self.config.workers):
            self._spawn(index)
        log.info("certd started", extra={"workers": self.config.workers,
                                         "listen": self.config.listen})
        while not self.stopping.wait(0.5):
            for index, process in list(self.workers.items()):
                if not process.is_alive():
                    log.warning("worker died; restarting", extra={
                        "worker": index, "exitcode": process.exitcode})
                    self._mark_dead(process.pid)
                    self._spawn(index)
        return self.stop()

    def stop(self) -> int:
        """Ask every worker to drain, then wait for them."""
        for process in self.workers.values():
            if process.is_alive() and process.pid:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.grace_seconds + 5
        for process in self.workers.values():
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        log.info("certd stopped")
        return 0

    @staticmethod
    def _mark_dead(pid: int | None) -> None:
        if pid is None:
            return
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve(config: DaemonConfig) -> int:
    """Run certd in the foreground."""
    return Supervisor(config).run()
