"""Grants through certd, against plain Verify measured in the same run.

Starts a real certd (two workers, SQLite, SoftHSM2) on 127.0.0.1 with `[oidc]` pointing at a
local identity provider, and measures at concurrency 8 and 64 (rate, p50, p99):

- unary `VerificationService/Verify`, each on one of 256 distinct certificates and recorded
  in the audit log (measured before and after the grant runs; the ratio uses their mean);
- `HolderService/CreateGrant` as the holder app with the holder's bearer token (checked
  against the identity provider's keys on every call);
- `UseService/UseCertificate` by the office, each call on a fresh one-use grant: token
  check, one use consumed under a row lock, a presentation of two fields, a signed receipt,
  the use and its audit record in one transaction.

The load comes from one asyncio client process over eight mutual-TLS connections per
department, so SO_REUSEPORT spreads it over both workers; client and server share the
machine. The last line is the ratio of grant uses to verifications at concurrency 64.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc

from certlib.ids import uscc_with_check
from certsvc.v1 import (
    certificate_pb2,
    certificate_service_pb2,
    certificate_service_pb2_grpc,
    grant_pb2,
    holder_service_pb2,
    holder_service_pb2_grpc,
    use_service_pb2,
    use_service_pb2_grpc,
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from tests.daemon_support import (
    HOLDER_AUDIENCE,
    ID_NUMBER_CLAIM,
    POLICE,
    RunningDaemon,
    launch,
    run_certd,
)
from tests.idp import LocalIdentityProvider
from tests.samples import SAMPLES, WANG_WU, ZHANG_SAN

WORKERS = 2
CONNECTIONS = 8
SECONDS = 4.0
WARM_UP_SECONDS = 0.5
DISTINCT = 256
HELD = 4
"""Certificates of the granting holder (the 256 verified ones are another person's)."""
MIN_POOL = 3000
"""Fresh grants made ready before each UseCertificate run (a run stops early without)."""
CONCURRENCY = (8, 64)

APP = uscc_with_check("12630000MB0000050")
OFFICE = uscc_with_check("11630100MB0000045")
MATTER = grant_pb2.Matter(code="630100-ZZ-001", display_name="户籍迁入登记")
FIELDS = {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
          for key, value in SAMPLES["resident-id-card"].items() if key != "photo"}


class PoolEmpty(Exception):
    """No fresh grant is left for this run."""


class Load:
    """Calls over several mutual-TLS connections per department, measured per call."""

    def __init__(self, daemon: RunningDaemon) -> None:
        self.channels: list[grpc.aio.Channel] = []
        police = self._connect(daemon, "police")
        app, office = self._connect(daemon, "app"), self._connect(daemon, "office")
        self.issuing = certificate_service_pb2_grpc.CertificateServiceStub(police[0])
        self.holders = [holder_service_pb2_grpc.HolderServiceStub(c) for c in app]
        self.uses = [use_service_pb2_grpc.UseServiceStub(c) for c in office]
        self.verification = [verification_service_pb2_grpc.VerificationServiceStub(c)
                             for c in office]

    def _connect(self, daemon: RunningDaemon, label: str) -> list[grpc.aio.Channel]:
        files = daemon.credentials(label)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=files.ca, private_key=files.key,
            certificate_chain=files.certificate)
        # A local subchannel pool gives each channel its own TCP connection.
        made = [grpc.aio.secure_channel(daemon.listen, credentials, options=[
            ("grpc.use_local_subchannel_pool", 1)]) for _ in range(CONNECTIONS)]
        self.channels += made
        return made

    async def close(self) -> None:
        """Close every connection."""
        for channel in self.channels:
            await channel.close()

    @staticmethod
    async def run(call: Callable[[int, int], Awaitable[object]],
                  concurrency: int) -> tuple[float, float, float, int]:
        """Rate, p50 and p99 (ms) and the number of measured calls of `call(task, i)` from
        `concurrency` tasks for SECONDS (less if `call` runs out of work)."""
        latencies: list[float] = []
        started = time.perf_counter()
        measuring_from = started + WARM_UP_SECONDS
        stop = measuring_from + SECONDS
        last = [measuring_from]
        ran_out = asyncio.Event()

        async def task(number: int) -> None:
            i = 0
            while True:
                begin = time.perf_counter()
                if begin >= stop:
                    return
                try:
                    await call(number, i)
                except PoolEmpty:
                    ran_out.set()
                    return
                end = time.perf_counter()
                if begin >= measuring_from:
                    latencies.append(end - begin)
                    last[0] = max(last[0], end)
                i += 1

        await asyncio.gather(*(task(n) for n in range(concurrency)))
        assert latencies, "nothing was measured"
        latencies.sort()
        window = last[0] - measuring_from if ran_out.is_set() else SECONDS
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        return len(latencies) / window, p50, p99, len(latencies)


def _line(name: str, concurrency: int, figures: tuple[float, float, float, int]) -> None:
    rate, p50, p99, count = figures
    print(f"{name:26} c={concurrency:<2}: {rate:8.0f}/s  p50 {p50:6.1f} ms  "
          f"p99 {p99:6.1f} ms  ({count} calls)")


async def _measure(daemon: RunningDaemon, idp: LocalIdentityProvider
                   ) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    load = Load(daemon)
    try:
        return await _scenarios(load, idp)
    finally:
        await load.close()


async def _scenarios(load: Load, idp: LocalIdentityProvider
                     ) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    bearer = (("authorization", "Bearer " + idp.mint(
        "holder-zhang", HOLDER_AUDIENCE, 3600, {ID_NUMBER_CLAIM: ZHANG_SAN})),)
    async def issue(person: dict[str, str], count: int) -> list[certificate_pb2.Certificate]:
        issued = await load.issuing.BatchIssueCertificates(
            certificate_service_pb2.BatchIssueCertificatesRequest(requests=[
                certificate_service_pb2.IssueCertificateRequest(
                    issuer=f"issuers/{POLICE}", type_id="resident-id-card",
                    fields={**FIELDS, **person},
                    request_id=os.urandom(8).hex()) for _ in range(count)]), timeout=300)
        made = [result.response.certificate for result in issued.results]
        assert len(made) == count and all(c.der for c in made)
        return made

    others = {"id_number": WANG_WU, "birth_date": "1960.01.01"}
    certificates = [made.der for made in await issue(others, DISTINCT)]
    held = [made.name for made in await issue({"id_number": ZHANG_SAN}, HELD)]
    pool: deque[bytes] = deque()

    async def verify(task: int, i: int) -> object:
        answer = await load.verification[task % CONNECTIONS].Verify(
            verification_service_pb2.VerifyRequest(
                der=certificates[(task * 31 + i) % DISTINCT]), timeout=60)
        assert answer.report.indication == 1, answer.report  # PASSED
        return answer

    async def create(task: int, i: int) -> object:
        made = await load.holders[task % CONNECTIONS].CreateGrant(
            holder_service_pb2.CreateGrantRequest(
                audience=f"issuers/{OFFICE}",
                certificates=[held[(task + i) % HELD]],
                fields=["name", "address"], matter=MATTER), metadata=bearer, timeout=60)
        pool.append(made.grant.token)
        return made

    async def use(task: int, _: int) -> object:
        if not pool:
            raise PoolEmpty
        token = pool.popleft()
        used = await load.uses[task % CONNECTIONS].UseCertificate(
            use_service_pb2.UseCertificateRequest(token_der=token), timeout=60)
        assert len(used.result.presentations) == 1 and used.result.receipt
        return used

    async def top_up() -> None:
        async def one(task: int) -> None:
            while len(pool) < MIN_POOL:
                await create(task, len(pool))
        await asyncio.gather(*(one(n) for n in range(64)))

    # One call per connection, one after another, before any load: each worker re-reads the
    # policy file (which gained the app and the office) on its first call, and the first
    # grant makes the region's `use` key (see the report: concurrent first grants race).
    for index in range(CONNECTIONS):
        await verify(index, 0)
        await create(index, 0)
    pool.clear()
    verified: dict[int, list[float]] = {c: [] for c in CONCURRENCY}
    created: dict[int, float] = {}
    used: dict[int, float] = {}
    for concurrency in CONCURRENCY:
        figures = await load.run(verify, concurrency)
        verified[concurrency].append(figures[0])
        _line("unary Verify", concurrency, figures)
    for concurrency in CONCURRENCY:
        figures = await load.run(create, concurrency)
        created[concurrency] = figures[0]
        _line("CreateGrant (bearer token)", concurrency, figures)
    for concurrency in CONCURRENCY:
        await top_up()
        figures = await load.run(use, concurrency)
        used[concurrency] = figures[0]
        _line("UseCertificate (fresh)", concurrency, figures)
    for concurrency in CONCURRENCY:
        figures = await load.run(verify, concurrency)
        verified[concurrency].append(figures[0])
        _line("unary Verify (again)", concurrency, figures)
    means = {c: sum(rates) / len(rates) for c, rates in verified.items()}
    return means, created, used


@contextlib.contextmanager
def _running_daemon(idp: LocalIdentityProvider) -> Iterator[RunningDaemon]:
    home = Path(tempfile.mkdtemp(prefix="certlib-bench-grants-"))
    url = f"sqlite:///{home / 'certlib.db'}"
    os.environ["CERTLIB_DATABASE_URL"] = url
    with contextlib.contextmanager(launch)(home, url, workers=WORKERS, idp=idp) as daemon:
        for label, uscc, roles in (("app", APP, "holder_app"),
                                   ("office", OFFICE, "grant_user,verifier")):
            made = run_certd(home, url, "client-cert", "--region", "630000", "--uscc", uscc,
                             "--name", label, "--label", label, "--roles", roles)
            assert made.returncode == 0, made.stderr
        time.sleep(1.0)  # the workers re-read the policy file within half a second
        yield daemon


def main() -> None:
    """Run the benchmark and print its figures."""
    with LocalIdentityProvider() as idp, _running_daemon(idp) as daemon:
        print(f"certd: {daemon.workers} workers on {daemon.listen}, {os.cpu_count()} cores")
        verify, create, use = asyncio.run(_measure(daemon, idp))
    for concurrency in CONCURRENCY:
        print(f"c={concurrency:<2}: verify {verify[concurrency]:.0f}/s (mean of two runs), "
              f"create/verify {create[concurrency] / verify[concurrency]:.2f}, "
              f"use/verify {use[concurrency] / verify[concurrency]:.2f}")
    print(f"ratio use/verify: {use[64] / verify[64]:.2f}")


if __name__ == "__main__":
    main()
