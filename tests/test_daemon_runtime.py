"""certd's runtime: health without a certificate, reflection, metrics, deadlines, JSON logs,
graceful drain on SIGTERM."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from certlib.client import RemoteUnavailable
from certsvc.v1 import verification_service_pb2, verification_service_pb2_grpc
from tests.daemon_support import POLICE, RunningDaemon, launch
from tests.samples import PERSON_NUMBERS, SAMPLES

PERSON = {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
          for key, value in SAMPLES["resident-id-card"].items() if key != "photo"}


def _channel(daemon: RunningDaemon, label: str) -> grpc.Channel:
    credentials = daemon.credentials(label)
    return grpc.secure_channel(daemon.listen, grpc.ssl_channel_credentials(
        root_certificates=credentials.ca, private_key=credentials.key,
        certificate_chain=credentials.certificate))


def test_health_answers_without_a_certificate_and_nothing_else_does(
    daemon: RunningDaemon,
) -> None:
    """The plaintext health port says SERVING; a certsvc call there is UNAUTHENTICATED."""
    with grpc.insecure_channel(daemon.health) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(  # type: ignore[attr-defined]
            service="certsvc.v1.VerificationService"), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        verification = verification_service_pb2_grpc.VerificationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            verification.Verify(verification_service_pb2.VerifyRequest(der=b"x"), timeout=10)
        assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_reflection_lists_the_services(daemon: RunningDaemon) -> None:
    """Server reflection (over mutual TLS) names every service."""
    with _channel(daemon, "market") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([  # type: ignore[operator]
            reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
        names = {service.name for response in responses
                 for service in response.list_services_response.service}
    assert {"certsvc.v1.CertificateService", "certsvc.v1.VerificationService",
            "certsvc.v1.KeyService", "certsvc.v1.AuditService",
            "grpc.health.v1.Health"} <= names


def test_metrics_count_requests_of_every_worker(daemon: RunningDaemon) -> None:
    """The Prometheus endpoint shows requests, latencies and HSM operations."""
    with daemon.client("police") as police:
        for _ in range(6):
            police.issue(POLICE, "resident-id-card", PERSON)
    text = urllib.request.urlopen(f"http://{daemon.metrics}/metrics", timeout=10).read().decode()
    issue = "certsvc.v1.CertificateService/IssueCertificate"
    assert f'certd_requests_total{{code="OK",method="{issue}"}}' in text
    assert "certd_request_seconds_bucket" in text
    assert 'certd_hsm_operations_total{operation="sign",outcome="ok"}' in text


def test_deadlines_are_honoured(daemon: RunningDaemon) -> None:
    """A deadline that has passed ends the call with DEADLINE_EXCEEDED."""
    with _channel(daemon, "market") as channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Verify(verification_service_pb2.VerifyRequest(der=b"x" * 1000),
                        timeout=0.0001)
    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED


def test_logs_are_json_with_request_ids_and_no_personal_data(daemon: RunningDaemon) -> None:
    """Every log line is a JSON object; RPC lines carry the request id; no identity number."""
    request_id = f"test-{uuid.uuid4().hex}"
    with _channel(daemon, "police") as channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)
        stub.Verify(verification_service_pb2.VerifyRequest(der=b"junk"), timeout=10,
                    metadata=(("x-request-id", request_id),))
    time.sleep(0.5)
    lines = [line for line in daemon.log_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r.get("request_id") == request_id and r.get("caller") == POLICE
               and r.get("method") == "certsvc.v1.VerificationService/Verify"
               for r in records)
    text = daemon.log.read_text()
    assert not any(number in text for number in PERSON_NUMBERS)


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    """A daemon of this test's own (it will be stopped)."""
    yield from launch(tmp_path / "home", f"sqlite:///{tmp_path / 'certlib.db'}")


def test_sigterm_drains_in_flight_calls(own_daemon: RunningDaemon) -> None:
    """A stream in progress when SIGTERM arrives finishes; afterwards nothing is served."""
    daemon = own_daemon
    with daemon.client("police") as police:
        der = police.issue(POLICE, "resident-id-card", PERSON).der
    results: list[object] = []
    started = threading.Event()

    def slow_items() -> Iterator[bytes]:
        for index in range(6):
            if index == 1:
                started.set()
            time.sleep(0.3)
            yield der

    def stream() -> None:
        with daemon.client("market") as market:
            results.extend(market.verify_many(slow_items(), batch_size=1))

    worker = threading.Thread(target=stream)
    worker.start()
    started.wait(10)
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGTERM)
    worker.join(30)
    assert len(results) == 6 and all(getattr(r, "passed", False) for r in results)
    assert daemon.process.wait(timeout=30) == 0
    with daemon.client("market", timeout=3) as market, pytest.raises(RemoteUnavailable):
        market.verify(der)
