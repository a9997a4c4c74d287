"""certd under load, against the limits measured in the same run.

Starts a real certd (two workers, SQLite, SoftHSM2) on 127.0.0.1 and measures:

- the gRPC ceiling: `grpc.health.v1.Health/Check` over the same mutual-TLS port, through the
  same interceptor, at concurrency 64;
- unary IssueCertificate and Verify at concurrency 1, 8 and 64 (rate, p50, p99), each
  Verify on one of 256 distinct certificates and recorded in the audit log;
- VerifyStream (100 items per message, one stream per connection, four connections) against
  the in-process library verify rate (one process, same certificates, same store).

The load comes from one asyncio client process with several connections, so the kernel's
SO_REUSEPORT balancing spreads it over both workers; client and server share the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certlib.config import load_settings
from certlib.platform import open_platform
from certlib.status import StoreStatusSource
from certlib.verify import Verifier
from certsvc.v1 import (
    certificate_service_pb2,
    certificate_service_pb2_grpc,
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from tests.daemon_support import POLICE, RunningDaemon, launch
from tests.samples import SAMPLES

WORKERS = 2
CONNECTIONS = 8
SECONDS = 4.0
WARM_UP_SECONDS = 0.5
DISTINCT = 256
STREAMS = 4
STREAM_BATCH = 100
STREAM_MESSAGES = 12

FIELDS = {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
          for key, value in SAMPLES["resident-id-card"].items() if key != "photo"}


class Load:
    """Calls spread over several mutual-TLS connections, measured per call."""

    def __init__(self, daemon: RunningDaemon) -> None:
        files = daemon.credentials("police")
        credentials = grpc.ssl_channel_credentials(
            root_certificates=files.ca, private_key=files.key,
            certificate_chain=files.certificate)
        # A local subchannel pool gives each channel its own TCP connection.
        self.channels = [grpc.aio.secure_channel(daemon.listen, credentials, options=[
            ("grpc.use_local_subchannel_pool", 1)]) for _ in range(CONNECTIONS)]
        self.health = [health_pb2_grpc.HealthStub(c) for c in self.channels]
        self.certificates = [certificate_service_pb2_grpc.CertificateServiceStub(c)
                             for c in self.channels]
        self.verification = [verification_service_pb2_grpc.VerificationServiceStub(c)
                             for c in self.channels]

    async def close(self) -> None:
        """Close every connection."""
        for channel in self.channels:
            await channel.close()

    async def run(self, call: Callable[[int, int], Awaitable[object]],
                  concurrency: int) -> tuple[float, float, float]:
        """Rate, p50 and p99 (ms) of `call(task, i)` from `concurrency` tasks for SECONDS."""
        latencies: list[float] = []
        started = time.perf_counter()
        measuring_from = started + WARM_UP_SECONDS
        stop = measuring_from + SECONDS

        async def task(number: int) -> None:
            i = 0
            while True:
                begin = time.perf_counter()
                if begin >= stop:
                    return
                await call(number, i)
                end = time.perf_counter()
                if begin >= measuring_from:
                    latencies.append(end - begin)
                i += 1

        await asyncio.gather(*(task(n) for n in range(concurrency)))
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        return len(latencies) / SECONDS, p50, p99


async def _measure(daemon: RunningDaemon) -> tuple[float, float, float, float]:
    load = Load(daemon)
    try:
        return await _scenarios(load)
    finally:
        await load.close()


async def _scenarios(load: Load) -> tuple[float, float, float, float]:
    request = health_pb2.HealthCheckRequest()

    async def health_check(task: int, _: int) -> object:
        return await load.health[task % CONNECTIONS].Check(  # type: ignore[attr-defined]
            request, timeout=30)

    ceiling, p50, p99 = await load.run(health_check, 64)
    print(f"ceiling Health/Check  c=64: {ceiling:8.0f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")

    issued = await load.certificates[0].BatchIssueCertificates(
        certificate_service_pb2.BatchIssueCertificatesRequest(requests=[
            certificate_service_pb2.IssueCertificateRequest(
                issuer=f"issuers/{POLICE}", type_id="resident-id-card", fields=FIELDS,
                request_id=os.urandom(8).hex()) for _ in range(DISTINCT)]), timeout=300)
    certificates = [result.response.certificate.der for result in issued.results]
    assert len(certificates) == DISTINCT and all(certificates)

    async def issue(task: int, _: int) -> object:
        return await load.certificates[task % CONNECTIONS].IssueCertificate(
            certificate_service_pb2.IssueCertificateRequest(
                issuer=f"issuers/{POLICE}", type_id="resident-id-card", fields=FIELDS),
            timeout=60)

    async def verify(task: int, i: int) -> object:
        answer = await load.verification[task % CONNECTIONS].Verify(
            verification_service_pb2.VerifyRequest(
                der=certificates[(task * 31 + i) % DISTINCT]), timeout=60)
        assert answer.report.indication == 1, answer.report  # PASSED
        return answer

    unary_verify = 0.0
    for name, call in (("Issue", issue), ("Verify", verify)):
        for concurrency in (1, 8, 64):
            rate, p50, p99 = await load.run(call, concurrency)
            print(f"unary {name:6}         c={concurrency:<2}: {rate:8.0f}/s  "
                  f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
            if name == "Verify" and concurrency == 64:
                unary_verify = rate

    library = _library_rate(certificates)
    print(f"library verify (one process, in-process): {library:8.0f}/s")
    stream = await _stream_rate(load, certificates)
    print(f"VerifyStream ({STREAMS} streams x {STREAM_BATCH}/message): {stream:8.0f}/s")
    return ceiling, unary_verify, library, stream


_platform_home: list[Path] = []


def _library_rate(certificates: list[bytes]) -> float:
    """Certificates per second through certlib's Verifier in this process."""
    platform = open_platform(load_settings(_platform_home[0]))
    try:
        verifier = Verifier(platform.trust_material(), StoreStatusSource(platform.store),
                            platform.types)
        for der in certificates[:32]:
            assert verifier.verify(der).passed
        rates = []
        for _ in range(3):
            start = time.perf_counter()
            for der in certificates:
                verifier.verify(der)
            rates.append(len(certificates) / (time.perf_counter() - start))
        return statistics.median(rates)
    finally:
        platform.close()


async def _stream_rate(load: Load, certificates: list[bytes]) -> float:
    """Verifications per second over STREAMS concurrent VerifyStream calls."""
    batch = verification_service_pb2.VerifyStreamRequest(items=[
        verification_service_pb2.VerifyRequest(der=certificates[i % DISTINCT])
        for i in range(STREAM_BATCH)])

    async def one_stream(number: int) -> int:
        async def requests() -> AsyncIterator[verification_service_pb2.VerifyStreamRequest]:
            for _ in range(STREAM_MESSAGES):
                yield batch

        verified = 0
        call = load.verification[number % CONNECTIONS].VerifyStream(requests(), timeout=600)
        async for response in call:
            verified += sum(1 for result in response.results
                            if result.report.indication == 1)
        return verified

    await one_stream(0)  # warm-up
    start = time.perf_counter()
    counts = await asyncio.gather(*(one_stream(n) for n in range(STREAMS)))
    elapsed = time.perf_counter() - start
    assert sum(counts) == STREAMS * STREAM_MESSAGES * STREAM_BATCH, counts
    return sum(counts) / elapsed


@contextlib.contextmanager
def _running_daemon() -> Iterator[RunningDaemon]:
    home = Path(tempfile.mkdtemp(prefix="certlib-bench-daemon-"))
    url = f"sqlite:///{home / 'certlib.db'}"
    os.environ["CERTLIB_DATABASE_URL"] = url
    _platform_home.append(home)
    with contextlib.contextmanager(launch)(home, url, workers=WORKERS) as daemon:
        yield daemon


def main() -> None:
    """Run the benchmark and print its figures."""
    with _running_daemon() as daemon:
        print(f"certd: {daemon.workers} workers on {daemon.listen}, {os.cpu_count()} cores")
        ceiling, unary_verify, library, stream = asyncio.run(_measure(daemon))
    print(f"ratio unary-verify/ceiling: {unary_verify / ceiling:.2f}")
    print(f"ratio stream-verify/library: {stream / library:.2f}")


if __name__ == "__main__":
    main()
