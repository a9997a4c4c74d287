"""Key-store signing against the raw PKCS#11 limit, plus SM2 rates.

Measures, in one run on one SoftHSM2 token: ECDSA P-256 signing through `KeyStore`
and through a bare python-pkcs11 loop (SHA-256 then CKM_ECDSA) on the same key; the
same with two processes; SM2 sign and verify next to `openssl speed sm2`.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from concurrent.futures import ProcessPoolExecutor

from pkcs11 import Mechanism, ObjectClass
from pkcs11.types import SignMixin

from bench.common import interleaved, rate, temporary_settings
from certlib.algorithms import verify_signature
from certlib.config import Settings, load_settings
from certlib.keys import open_keystore, token_config
from hsm.session import TokenSession

COUNT = 3000


def _raw_signer(settings: Settings, label: str) -> tuple[TokenSession, SignMixin]:
    token = TokenSession(token_config(settings))
    key = token.run(
        lambda session: session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
    )
    assert isinstance(key, SignMixin)
    return token, key


def _process_rate(home: str, mode: str, label: str) -> float:
    settings = load_settings(home)
    if mode == "raw":
        _, key = _raw_signer(settings, label)
        return rate(lambda i: key.sign(hashlib.sha256(b"%d" % i).digest(),
                                       mechanism=Mechanism.ECDSA), COUNT)
    store = open_keystore(settings)
    ref = store.get(label.split("/", 1)[0])
    return rate(lambda i: store.sign(ref, b"%d" % i), COUNT)


def _openssl_speed_sm2() -> tuple[float, float] | None:
    try:
        output = subprocess.run(["openssl", "speed", "-seconds", "2", "sm2"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", output)
    return (float(match.group(1)), float(match.group(2))) if match else None


def main() -> None:
    """Run the benchmark and print its figures."""
    settings = temporary_settings()
    store = open_keystore(settings)
    ref = store.generate("ecdsa-p256-sha256", "bench-ecdsa")
    _, raw_key = _raw_signer(settings, ref.label)
    for i in range(300):  # warm both paths
        store.sign(ref, b"%d" % i)

    def raw_sign(i: int) -> bytes:
        return bytes(raw_key.sign(hashlib.sha256(b"%d" % i).digest(), mechanism=Mechanism.ECDSA))

    raw_rate, store_rate = interleaved(raw_sign, lambda i: store.sign(ref, b"%d" % i), COUNT)
    print(f"ECDSA P-256 sign, one session: raw python-pkcs11 {raw_rate:8.0f}/s")
    print(f"ECDSA P-256 sign, one session: KeyStore.sign    {store_rate:8.0f}/s")

    with ProcessPoolExecutor(2) as pool:
        raw_two = sum(pool.map(_process_rate, [str(settings.home)] * 2, ["raw"] * 2,
                               [ref.label] * 2))
        store_two = sum(pool.map(_process_rate, [str(settings.home)] * 2, ["store"] * 2,
                                 [ref.label] * 2))
    print(f"ECDSA P-256 sign, two processes: raw {raw_two:8.0f}/s, KeyStore {store_two:8.0f}/s")

    sm2 = store.generate("sm2-sm3", "bench-sm2")
    signature = store.sign(sm2, b"message")
    sm2_sign = rate(lambda i: store.sign(sm2, b"%d" % i), 500)
    sm2_verify = rate(lambda i: verify_signature(sm2.public_key, "sm2-sm3", b"message", signature),
                      1000)
    print(f"SM2 (GmSSL via gmssl-pyx, key unwrapped by the HSM per call): "
          f"sign {sm2_sign:6.0f}/s, verify {sm2_verify:6.0f}/s")
    speed = _openssl_speed_sm2()
    if speed:
        print(f"SM2 openssl speed sm2 (OpenSSL 3, C):                        "
              f"sign {speed[0]:6.0f}/s, verify {speed[1]:6.0f}/s")
    store.close()
    print(f"ratio keystore/raw: {store_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
