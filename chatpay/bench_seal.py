"""Micro-benchmark of card sealing on one core: ``python -m chatpay.bench_seal [--seconds S]``.

Prints one JSON object: seals/s (gateway → vault), opens/s and reseals/s (the vault opening an envelope
and sealing it to one agent key).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec

from chatpay.sealing import SUITE, key_id, open_envelope, seal_card_for, seal_envelope

#: A realistic card plaintext (a test PAN), sized like a real submission.
PLAINTEXT = msgspec.json.encode(
    {
        "method": "card",
        "number": "4111111111111111",
        "name": "Ada Lovelace",
        "exp_month": 12,
        "exp_year": 2029,
        "cvc": "123",
    }
)
#: Request id bound into every envelope's ``info``.
REQUEST_ID = "pr_01JD000000000000000000000"


def _rate(work: Callable[[], object], seconds: float) -> float:
    """Calls of ``work`` per second, run for about ``seconds``."""
    work()
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while (now := time.perf_counter()) < deadline:
        for _ in range(50):
            work()
        n += 50
    return n / (now - start)


def run(seconds: float) -> dict[str, object]:
    """Measure seal, open and reseal-to-one-agent rates, single thread."""
    vault = ec.generate_private_key(ec.SECP256R1())
    agent = ec.generate_private_key(ec.SECP256R1()).public_key()
    agents = {key_id(agent): agent}
    vault_pub = vault.public_key()
    envelope = seal_envelope(PLAINTEXT, vault_pub, REQUEST_ID)

    def reseal() -> object:
        card = open_envelope(envelope, vault, REQUEST_ID)
        return seal_card_for(agents, msgspec.json.encode(card), REQUEST_ID)

    return {
        "suite": SUITE,
        "plaintext_bytes": len(PLAINTEXT),
        "seals_per_s": round(_rate(lambda: seal_envelope(PLAINTEXT, vault_pub, REQUEST_ID), seconds)),
        "opens_per_s": round(_rate(lambda: open_envelope(envelope, vault, REQUEST_ID), seconds)),
        "reseals_per_s": round(_rate(reseal, seconds)),
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m chatpay.bench_seal", description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    print(json.dumps(run(parser.parse_args(argv).seconds)))


if __name__ == "__main__":
    main()
