"""Cross-region verification through certd, against local verification in the same run.

Starts two federated regions as real daemons on 127.0.0.1 (630000 and 620000, two workers
each, SQLite, SoftHSM2 tokens of their own, signed trust lists under a national list; see
tests/federation_support.py). 630000's department then verifies, over unary
`VerificationService/Verify` at concurrency 16 from one asyncio client (8 mutual-TLS
connections):

- 256 certificates of its own region (status from its own store), and
- 256 certificates of 620000 (620000's trust list, its CRLs and its signed status lists,
  cached in 630000's workers and refetched in the background: warm caches), its department
  signing with ECDSA P-256 like 630000's, so that both sides cost the same signature check,

alternating local and cross runs twice and taking the means. It also counts the round trips
to 620000's daemon that one cold verification makes: a fresh worker runtime on 630000's
state (trust lists in its store, nothing else cached) verifying one 620000 certificate.
The last lines are the ratio of cross-region to local verifications and the round trips.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from certsvc.v1 import (
    certificate_service_pb2,
    certificate_service_pb2_grpc,
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from daemon.config import load_daemon_config
from daemon.federation import PEER_CALLS
from daemon.runtime import WorkerRuntime
from tests.federation_support import DRIVING, REGIONS, World, build_world
from tests.samples import SAMPLES

LOCAL, FOREIGN = "630000", "620000"
CONNECTIONS = 8
CONCURRENCY = 16
SECONDS = 4.0
WARM_UP_SECONDS = 0.5
DISTINCT = 256
FIELDS = {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
          for key, value in SAMPLES[DRIVING].items() if key != "photo"}


def _channels(world: World, region: str, count: int = CONNECTIONS) -> list[grpc.aio.Channel]:
    """Connections to the region's daemon as its department (each its own TCP connection)."""
    files = world.credentials(region)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=files.ca, private_key=files.key, certificate_chain=files.certificate)
    return [grpc.aio.secure_channel(world.daemons[region].listen, credentials,
                                    options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(count)]


async def _issue(world: World, region: str) -> list[bytes]:
    [channel] = _channels(world, region, 1)
    stub = certificate_service_pb2_grpc.CertificateServiceStub(channel)
    issued = await stub.BatchIssueCertificates(
        certificate_service_pb2.BatchIssueCertificatesRequest(requests=[
            certificate_service_pb2.IssueCertificateRequest(
                issuer=f"issuers/{REGIONS[region].department}", type_id=DRIVING,
                fields=FIELDS, request_id=os.urandom(8).hex())
            for _ in range(DISTINCT)]), timeout=600)
    await channel.close()
    made = [result.response.certificate.der for result in issued.results]
    assert len(made) == DISTINCT and all(made)
    return made


async def _rate(call: Callable[[int, int], Awaitable[object]]) -> tuple[float, float, float]:
    """Calls per second, p50 and p99 (ms) of `call(task, i)` from CONCURRENCY tasks."""
    latencies: list[float] = []
    measuring_from = time.perf_counter() + WARM_UP_SECONDS
    stop = measuring_from + SECONDS

    async def task(number: int) -> None:
        i = 0
        while (begin := time.perf_counter()) < stop:
            await call(number, i)
            if begin >= measuring_from:
                latencies.append(time.perf_counter() - begin)
            i += 1

    await asyncio.gather(*(task(n) for n in range(CONCURRENCY)))
    latencies.sort()
    return (len(latencies) / SECONDS, latencies[len(latencies) // 2] * 1000,
            latencies[int(len(latencies) * 0.99)] * 1000)


async def _measure(world: World) -> tuple[float, float, bytes]:
    local, foreign = await _issue(world, LOCAL), await _issue(world, FOREIGN)
    channels = _channels(world, LOCAL)
    stubs = [verification_service_pb2_grpc.VerificationServiceStub(c) for c in channels]

    def verifying(certificates: list[bytes]) -> Callable[[int, int], Awaitable[object]]:
        async def call(task: int, i: int) -> object:
            answer = await stubs[task % CONNECTIONS].Verify(
                verification_service_pb2.VerifyRequest(
                    der=certificates[(task * 31 + i) % DISTINCT]), timeout=60)
            assert answer.report.indication == 1, answer.report  # PASSED
            return answer
        return call

    rates: dict[str, list[float]] = {"local": [], "cross": []}
    try:
        for round_number in (1, 2):
            for name, certificates in (("local", local), ("cross", foreign)):
                rate, p50, p99 = await _rate(verifying(certificates))
                rates[name].append(rate)
                print(f"verify {name:5} (round {round_number}) c={CONCURRENCY}: {rate:7.0f}/s  "
                      f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    finally:
        for channel in channels:
            await channel.close()
    return statistics.mean(rates["local"]), statistics.mean(rates["cross"]), foreign[-1]


def _cold_round_trips(world: World, certificate: bytes) -> tuple[int, str]:
    """Round trips to the foreign daemon of one verification by a fresh worker runtime."""
    os.environ["CERTLIB_HOME"] = str(world.homes[LOCAL])
    os.environ["CERTLIB_DATABASE_URL"] = world.daemons[LOCAL].database_url
    runtime = WorkerRuntime(load_daemon_config(world.homes[LOCAL]))
    try:
        before = dict(PEER_CALLS)
        report = runtime.verifier().verify(certificate)
        calls = {kind: PEER_CALLS[kind] - before[kind] for kind in PEER_CALLS}
    finally:
        runtime.close()
    print(f"cold verification: {report.indication.value}; calls to {FOREIGN}: {calls}")
    return sum(calls.values()), report.indication.value


def main() -> None:
    """Run the benchmark and print its figures."""
    with tempfile.TemporaryDirectory(prefix="certlib-bench-federation-") as directory:
        # Both departments sign with ECDSA P-256, so that the ratio measures federation,
        # not SM2 against ECDSA (620000's department signs with SM2 in the tests).
        world = build_world(Path(directory), workers=2, regions=(LOCAL, FOREIGN),
                            department_algorithms={FOREIGN: "ecdsa-p256-sha256"})
        try:
            local, cross, foreign = asyncio.run(_measure(world))
            trips, indication = _cold_round_trips(world, foreign)
        finally:
            world.stop()
    print(f"verify local mean: {local:7.0f}/s   verify cross-region mean: {cross:7.0f}/s")
    print(f"cold cross-region verification: {trips} round trip(s), {indication}")
    print(f"ratio cross/local: {cross / local:.2f}")
    print(f"ratio cold-round-trips/2: {trips / 2:.2f}")


if __name__ == "__main__":
    main()
