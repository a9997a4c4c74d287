"""Status lists against the store: lookup rate, verify rate, publish and check times.

- status lookups through StatusListSource (verified list cached in memory, bit lookup)
  against StoreStatusSource (one database transaction per lookup), same entries;
- presentation verification with each source;
- publishing one list (build from the store, sign in the HSM, store, write the file) for an
  ECDSA P-256 and an SM2 department, and `current()` when nothing changed;
- building and encoding a full 131,072-entry list with half its entries revoked (CPU only).
"""

from __future__ import annotations

import functools
import random
import statistics
import time
from collections.abc import Callable

from bench.common import interleaved, temporary_settings
from certlib import cms, ecert
from certlib.clock import utc_now
from certlib.ids import uscc_with_check
from certlib.platform import open_platform
from certlib.present import present
from certlib.status import StoreStatusSource
from certlib.statuslist import (
    MIN_ENTRIES,
    StatusListPublisher,
    StatusListSource,
    build_bitstring,
    encode_bitstring,
)
from certlib.verify import Verifier
from tests.samples import SAMPLES

CERTIFICATES = 200
LOOKUPS = 20_000
VERIFIES = 300


def _reference(certificate: bytes) -> tuple[str, int]:
    """(status-list URI, index) of a certificate."""
    signed = ecert.ElectronicCertificate.load(certificate)["signed_object"].dump()
    status = ecert.CertificateSecurityObject.load(cms.parse(signed).content)["status"]
    return status["list"].native, status["index"].native


def _median_seconds(operation: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print its figures."""
    platform = open_platform(temporary_settings())
    authority = platform.authority
    authority.init_region("630000", "青海省政务服务平台")
    authority.init_region("620000", "甘肃省政务服务平台", "sm2-sm3")
    codes = [t.code for t in platform.types]
    ecdsa = uscc_with_check("11630000000000010")
    sm2 = uscc_with_check("11620000000000010")
    authority.add_issuer(ecdsa, "青海省公安厅", "630000", codes)
    authority.add_issuer(sm2, "甘肃省公安厅", "620000", codes, "sm2-sm3")
    data = SAMPLES["resident-id-card"]
    office = platform.office
    issued = [office.issue(issuer_uscc=ecdsa, type_id="resident-id-card", data=data)
              for _ in range(CERTIFICATES)]
    office.issue(issuer_uscc=sm2, type_id="resident-id-card", data=data)
    for certificate in issued[::10]:
        office.revoke(certificate.identifier)
    publisher = StatusListPublisher.for_platform(platform)
    trust = platform.trust_material()
    lists = StatusListSource(trust, publisher.fetch)
    store = StoreStatusSource(platform.store)
    references = [_reference(c.der) for c in issued]
    chooser = random.Random(7)
    order = [references[chooser.randrange(len(references))] for _ in range(LOOKUPS)]
    now = utc_now()
    for uri, index in references:
        assert lists.status(uri, index, now).status == store.status(uri, index, now).status

    def by_list(i: int) -> object:
        uri, index = order[i]
        return lists.status(uri, index, now)

    def by_store(i: int) -> object:
        uri, index = order[i]
        return store.status(uri, index, now)

    list_rate, store_rate = interleaved(by_list, by_store, LOOKUPS // 4, rounds=3)
    print(f"status lookup, StatusListSource:           {list_rate:10.0f}/s")
    print(f"status lookup, StoreStatusSource (SQLite): {store_rate:10.0f}/s")

    presentation = present(issued[1].der, ["name"])
    by_list_verifier = Verifier(trust, lists, platform.types)
    by_store_verifier = Verifier(trust, store, platform.types)
    list_verify, store_verify = interleaved(
        lambda _: by_list_verifier.verify(presentation),
        lambda _: by_store_verifier.verify(presentation), VERIFIES, rounds=3)
    print(f"verify presentation, status from lists:    {list_verify:10.0f}/s")
    print(f"verify presentation, status from store:    {store_verify:10.0f}/s")

    for name, uscc in (("ECDSA P-256", ecdsa), ("SM2", sm2)):
        list_id = publisher.list_ids(uscc)[0]
        publish = _median_seconds(functools.partial(publisher.publish, list_id), 20)
        check = _median_seconds(functools.partial(publisher.current, list_id), 50)
        size = len(publisher.current(list_id).der)
        print(f"publish one list ({name}):{' ' * (22 - len(name))}{publish * 1000:8.2f} ms "
              f"({size} bytes signed)")
        print(f"current() unchanged ({name}):{' ' * (19 - len(name))}{check * 1000:8.2f} ms")

    dense = [(index, "revoked") for index in range(0, MIN_ENTRIES, 2)]
    encoded = ""

    def build_dense() -> None:
        nonlocal encoded
        encoded = encode_bitstring(build_bitstring(MIN_ENTRIES, dense))

    seconds = _median_seconds(build_dense, 5)
    print(f"build+encode 131,072 entries, 65,536 revoked:{seconds * 1000:8.2f} ms "
          f"({len(encoded)} characters)")
    random_revoked = [(index, "revoked") for index in
                      random.Random(1).sample(range(MIN_ENTRIES), MIN_ENTRIES // 2)]
    random_encoded = encode_bitstring(build_bitstring(MIN_ENTRIES, random_revoked))
    print(f"encodedList, 65,536 random entries revoked: {len(random_encoded)} characters")
    platform.close()
    print(f"ratio list-lookup/store-lookup: {list_rate / store_rate:.2f}")


if __name__ == "__main__":
    main()
