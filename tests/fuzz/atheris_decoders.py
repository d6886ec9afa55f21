"""Coverage-guided fuzzing of the payload decoders with atheris (libFuzzer), by
hand: the bytes libFuzzer mutates go to the native event decoder of every kind
and to every ecosystem device's adapter (tests/fuzz/payloads.py's fleet). A
decoder may return readings or raise ``Rejected``; anything else is a crash,
which libFuzzer reports with the input that caused it (saved as crash-*)::

    .venv/bin/python -m tests.fuzz.atheris_decoders -runs=1000000
    .venv/bin/python -m tests.fuzz.atheris_decoders -max_total_time=600 corpus/

``tests/fuzz/test_atheris.py`` runs a short one in the test command.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import atheris

import eldercare.device_source
import eldercare.domain  # noqa: F401

with atheris.instrument_imports(include=["gateway"]):
    from gateway.adapters import SourceDecoder
    from gateway.decode import Rejected, decode_event

from tests.fuzz.payloads import HOME, Fleet

AT = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
FLEET = Fleet()
TARGETS = [(f"eldercare/v1/{HOME}/{d.id}/event", d, None) for d in FLEET.native] + [
    (s.topic, None, FLEET.index.match(s.topic)) for s in FLEET.samples
]
DECODER = SourceDecoder()


def one_input(data: bytes) -> None:
    if not data:
        return
    topic, device, match = TARGETS[data[0] % len(TARGETS)]
    payload = data[1:]
    try:
        if match is None:
            decode_event(topic, payload, AT, device)
        else:
            DECODER.decode(match, topic, payload, False, AT, AT)
    except Rejected:
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
