"""Concurrent signing: processes and threads at once, no crash, every signature valid.

SoftHSM2 runs with its locking off under python-pkcs11; certlib serialises calls per
process and gets parallelism from processes. This drives both at once.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from certlib.algorithms import verify_signature
from certlib.config import load_settings
from certlib.keys import CertlibKeyStore, open_keystore

PROCESSES = 2
THREADS_PER_PROCESS = 2
SIGNATURES_PER_THREAD = 1500


def _worker(home: str, key_name: str, worker: int) -> list[tuple[bytes, bytes]]:
    settings = load_settings(Path(home))
    results: list[tuple[bytes, bytes]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def sign_many(thread: int) -> None:
        store = open_keystore(settings)  # each thread its own store and PKCS#11 session
        ref = store.get(key_name)
        try:
            local = []
            for i in range(SIGNATURES_PER_THREAD):
                message = f"{worker}/{thread}/{i}".encode()
                local.append((message, store.sign(ref, message)))
            with lock:
                results.extend(local)
        except BaseException as error:  # reported to the parent below
            failures.append(error)
        finally:
            store.close()

    threads = [threading.Thread(target=sign_many, args=(t,)) for t in range(THREADS_PER_PROCESS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_processes_and_threads_sign_at_once(
    keystore: CertlibKeyStore, home: Path, key_name: str, start_method: str
) -> None:
    """Thousands of signatures from 2 processes x 2 threads, each on its own session, verify."""
    ref = keystore.generate("ecdsa-p256-sha256", key_name)
    keystore.sign(ref, b"the parent has used the module before forking")
    context = multiprocessing.get_context(start_method)
    with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
        futures = [pool.submit(_worker, str(home), key_name, w) for w in range(PROCESSES)]
        signed = [pair for future in futures for pair in future.result(timeout=300)]
    assert len(signed) == PROCESSES * THREADS_PER_PROCESS * SIGNATURES_PER_THREAD
    assert len({message for message, _ in signed}) == len(signed)
    invalid = [m for m, s in signed if not verify_signature(ref.public_key, ref.algorithm, m, s)]
    assert invalid == []
