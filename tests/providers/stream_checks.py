"""What every translated stream must be, whichever provider it came from: events the openai SDK accepts,
numbered in order, items added in order and each done once, ``item_id`` naming the item its
``output_index`` opened, and a final response whose output is those items."""

from __future__ import annotations

from typing import Any

from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

EVENTS = TypeAdapter(ResponseStreamEvent)


def check_events(events: list[dict[str, Any]]) -> None:
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for e in events:
        EVENTS.validate_python(e)  # raises if the SDK would not accept the event
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] in ("response.completed", "response.incomplete", "response.failed")
    ids: dict[int, str] = {}
    for e in events:
        if e["type"] == "response.output_item.added":
            assert e["output_index"] == len(ids), "output items are added in order"
            ids[e["output_index"]] = e["item"]["id"]
        elif "output_index" in e:
            assert ids[e["output_index"]] == (e.get("item_id") or e["item"]["id"])
    final = events[-1]["response"]["output"]
    assert [item["id"] for item in final] == [ids[i] for i in range(len(ids))]
    done = [e["output_index"] for e in events if e["type"] == "response.output_item.done"]
    assert sorted(done) == list(range(len(ids))), "every item is done exactly once"
