"""`certctl demo`: a guided walk through the HSM key store."""

from __future__ import annotations

import argparse

from certlib.algorithms import ALGORITHMS, verify_signature
from certlib.config import Settings
from certlib.errors import KeyNotFoundError, KeyNotUsableError
from certlib.keys import open_keystore

_MESSAGE = "电子证照 demo: keys never leave the HSM".encode()


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` command."""
    commands.add_parser("demo", help="create keys in the HSM, sign, verify and rotate")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Create one key per algorithm, sign and verify with each, then rotate one."""
    store = open_keystore(settings)
    try:
        print(f"state directory: {settings.home}")
        for name, entry in ALGORITHMS.items():
            if not entry.generates_keys:
                continue
            key_name = f"demo-{name}"
            try:
                ref = store.get(key_name)
                if not ref.can_sign:
                    raise KeyNotFoundError("retired")
                action = "found"
            except (KeyNotFoundError, KeyNotUsableError):
                try:
                    ref = store.rotate(key_name)
                    action = "rotated"
                except KeyNotFoundError:
                    ref = store.generate(name, key_name)
                    action = "created"
            signature = store.sign(ref, _MESSAGE)
            valid = verify_signature(ref.public_key, name, _MESSAGE, signature)
            tampered = verify_signature(ref.public_key, name, _MESSAGE + b"!", signature)
            print(
                f"{action:8} {ref.label:32} {ref.protection.value:8} signed {len(signature):3} "
                f"bytes; verifies: {valid}; altered message verifies: {tampered}"
            )
            if not valid or tampered:
                return 1
        old = store.get("demo-ecdsa-p256-sha256")
        old_signature = store.sign(old, _MESSAGE)
        new = store.rotate(old.name)
        print(f"rotated  {old.label} -> {new.label}")
        try:
            store.sign(store.get(old.name, old.version), _MESSAGE)
            print("ERROR: the retired version still signs")
            return 1
        except KeyNotUsableError as refusal:
            print(f"refused  {old.label}: {refusal.message}")
        still_valid = verify_signature(old.public_key, old.algorithm, _MESSAGE, old_signature)
        print(f"verified an old {old.label} signature after rotation: {still_valid}")
        print(f"keys in the HSM: {len(store.list())} versions")
        return 0 if still_valid else 1
    finally:
        store.close()
