"""Reader micro-benchmark: what reading a provider's whole reply into the canonical response costs.

    python bench/readers.py [--number 2000] [--repeat 7] [--only chat]

Times ``providers/native.canonical`` (the adapter's own reader over a silent ``ResponseBuilder``, as the door
fast paths read a reply for the request log's content and the other after hooks once it was sent) on each
provider's recorded non-streaming 200 replies (``tests/fixtures/providers``, read by ``tests/fakes/whole_replies``)
and on the fake upstream's ``chat.completion`` (``bench/upstream.py``, the reply ``variants.py --door chat`` is
answered with). The request is the Chat Completions door's canonical request for one user message. Each figure is
the best of ``--repeat`` runs of ``--number`` calls, in microseconds of this process's CPU time per reply (steadier
than wall time on a shared machine). The benchmark measures the code of this checkout (its ``src/`` comes first
on the path).
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))
sys.path.insert(1, str(BENCH.parent))  # the recordings and their readers, as the tests use them

from upstream import TEXT, chat_completion  # noqa: E402

from ferryman.doors.chat.request import responses_request  # noqa: E402
from ferryman.providers.base import Call  # noqa: E402
from ferryman.providers.native import canonical  # noqa: E402
from ferryman.providers.translating import TranslatingProvider  # noqa: E402
from ferryman.schemas.responses import check_request  # noqa: E402
from tests.fakes.whole_replies import providers, recorded  # noqa: E402


def call() -> Call:
    raw = responses_request({"model": "p/m", "messages": [{"role": "user", "content": "Say something."}]})
    return Call(check_request(raw), raw, "m", None)


def cases() -> list[tuple[str, str, Any]]:
    """(label, provider entry, reply): the fake upstream's reply first, then every recorded whole 200 reply."""
    return [("upstream.py chat.completion", "openai", chat_completion(TEXT))] + [
        (label, entry, reply) for entry, label, reply in recorded()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", type=int, default=2000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs; the best is reported")
    parser.add_argument("--only", default="", help="only the cases whose label contains this")
    args = parser.parse_args()
    adapters = providers()
    c = call()
    print(f"{'reply':<58} {'us/reply':>9}")
    for label, entry, reply in cases():
        if args.only not in label:
            continue
        provider = adapters[entry]

        def once(provider: TranslatingProvider = provider, reply: Any = reply) -> None:
            canonical(provider.name, c, provider.parse_reply, reply)

        best = min(timeit.repeat(once, timer=time.process_time, number=args.number, repeat=args.repeat)) / args.number
        print(f"{label:<58} {best * 1e6:>9.2f}")


if __name__ == "__main__":
    main()
