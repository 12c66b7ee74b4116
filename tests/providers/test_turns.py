"""The shared builder of alternating turns (providers/turns.py) and the media helpers it leans on.

``Plain`` gives the builder the smallest blocks that still show where each came from, so these tests
see the structure the walk builds, not any one API's shapes (those are the adapters' own tests).
"""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.providers.claude import fit_budget
from ferryman.providers.media import data_url, file_bytes, image_url
from ferryman.providers.turns import Marked, Turns, cache_control, summary_text
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.input import (
    FunctionCallOutput,
    InputFile,
    InputFunctionCall,
    InputImage,
    InputReasoning,
    InputText,
)
from ferryman.schemas.items import opaque_for


class Plain(Turns):
    def text(self, text: str) -> dict[str, Any]:
        return {"text": text}

    def image(self, part: InputImage, where: str) -> dict[str, Any]:
        return {"image": image_url(part, where, self.provider)}

    def file(self, part: InputFile, where: str) -> dict[str, Any]:
        return {"file": part.filename}

    def tool_use(self, item: InputFunctionCall, where: str) -> dict[str, Any]:
        return {"use": item.call_id}

    def tool_result(self, item: FunctionCallOutput, where: str) -> dict[str, Any]:
        return {"result": item.call_id}

    def reasoning(self, item: InputReasoning) -> dict[str, Any] | None:
        state = opaque_for("plain", item.encrypted_content)
        return None if state is None else {"thought": summary_text(item), "sig": state}

    def cached(self, block: dict[str, Any], source: Marked, where: str) -> list[dict[str, Any]]:
        cache = cache_control(source, where)
        return [block] if cache is None else [block, {"mark": cache["type"]}]


def turns(input_: Any, instructions: str | None = None) -> Plain:
    built = Plain("plain")
    built.read(instructions, input_)
    return built


def call(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"}


def result(call_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "ok", **extra}


def thought(text: str, state: str) -> dict[str, Any]:
    return {"type": "reasoning", "summary": [{"type": "summary_text", "text": text}], "encrypted_content": state}


def test_a_string_is_one_user_turn() -> None:
    assert turns("hi").messages == [{"role": "user", "content": [{"text": "hi"}]}]


def test_consecutive_same_role_items_merge_into_one_turn() -> None:
    built = turns(
        [
            {"role": "user", "content": "a"},
            {"role": "user", "content": [{"type": "input_text", "text": "b"}, {"type": "input_text", "text": ""}]},
            {"role": "assistant", "content": "c"},
            call("1"),
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        ]
    )
    assert built.messages == [
        {"role": "user", "content": [{"text": "a"}, {"text": "b"}]},  # the empty text is left out
        {"role": "assistant", "content": [{"text": "c"}, {"use": "1"}, {"text": "no"}]},
    ]


def test_a_message_with_only_empty_text_adds_no_turn() -> None:
    built = turns(
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "b"}]
    )
    assert built.messages == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]


def test_tool_results_open_the_user_turn_in_their_order_with_their_marks() -> None:
    built = turns(
        [
            {"role": "user", "content": "q"},
            call("1"),
            call("2"),
            call("3"),
            {"role": "user", "content": "and also"},
            result("1", cache_control={"type": "ephemeral"}),
            result("2"),
            {"role": "user", "content": "last"},
            result("3"),
        ]
    )
    assert built.messages[2] == {
        "role": "user",
        "content": [
            {"result": "1"},
            {"mark": "ephemeral"},  # a result's cache mark stays with it, ahead of the next result
            {"result": "2"},
            {"result": "3"},
            {"text": "and also"},
            {"text": "last"},
        ],
    }


def test_system_and_developer_messages_are_pulled_out_in_order() -> None:
    built = turns(
        [
            {"role": "developer", "content": "dev"},
            {"role": "user", "content": "a"},
            {"role": "system", "content": [{"type": "input_text", "text": "sys", "cache_control": {"type": "x"}}]},
            {"role": "system", "content": ""},
            {"role": "user", "content": "b"},
        ],
        instructions="inst",
    )
    assert built.system == [{"text": "inst"}, {"text": "dev"}, {"text": "sys"}, {"mark": "x"}]
    assert built.messages == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]  # merged across it


def test_system_messages_take_text_only() -> None:
    with pytest.raises(InvalidRequestError) as info:
        turns([{"role": "system", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}])
    assert info.value.param == "input[0].content[0].type" and info.value.code == "unsupported_parameter"
    assert "'plain'" in info.value.message


def test_reasoning_and_the_call_after_it_share_one_assistant_turn() -> None:
    built = turns([{"role": "user", "content": "q"}, thought("hmm", "plain:sig"), call("1"), result("1")])
    assert [m["role"] for m in built.messages] == ["user", "assistant", "user"]
    assert built.messages[1]["content"] == [{"thought": "hmm", "sig": "sig"}, {"use": "1"}]


def test_reasoning_of_another_provider_is_left_out() -> None:
    built = turns(
        [{"role": "user", "content": "q"}, thought("hmm", "other:sig"), {"role": "assistant", "content": "a"}]
    )
    assert built.messages[1] == {"role": "assistant", "content": [{"text": "a"}]}


def test_trailing_reasoning_is_dropped_but_not_reasoning_before_an_answer() -> None:
    interrupted = turns([{"role": "user", "content": "q"}, thought("a", "plain:1"), thought("b", "plain:2")])
    assert [m["role"] for m in interrupted.messages] == ["user"]
    answered = turns([{"role": "user", "content": "q"}, thought("a", "plain:1"), {"role": "assistant", "content": "x"}])
    assert answered.messages[-1]["content"] == [{"thought": "a", "sig": "1"}, {"text": "x"}]
    # an answer followed by reasoning that led nowhere: the turn stays, reasoning and all
    trailing = turns([{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}, thought("a", "plain:1")])
    assert trailing.messages[-1]["content"] == [{"text": "x"}, {"thought": "a", "sig": "1"}]


def test_replayed_web_search_is_left_out_and_unknown_items_and_parts_are_refused() -> None:
    built = turns([{"role": "user", "content": "q"}, {"type": "web_search_call", "id": "ws_1", "status": "completed"}])
    assert built.messages == [{"role": "user", "content": [{"text": "q"}]}]
    for items, param in [
        ([{"type": "item_reference", "id": "msg_1"}], "input[0].type"),
        ([{"role": "user", "content": "q"}, {"type": "made_up_item", "call_id": "c"}], "input[1].type"),
        ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}], "input[0].content[0].type"),
    ]:
        with pytest.raises(InvalidRequestError) as info:
            turns(items)
        assert info.value.param == param and info.value.code == "unsupported_parameter"


def test_cache_control_must_be_an_object_with_a_type() -> None:
    with pytest.raises(InvalidRequestError) as info:
        turns([{"role": "user", "content": [{"type": "input_text", "text": "a", "cache_control": "yes"}]}])
    assert info.value.param == "input[0].content[0].cache_control" and info.value.code == "invalid_value"


def test_parts_keep_their_paths_and_marks() -> None:
    built = turns(
        [
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": {"url": "https://x/a.png"}, "cache_control": {"type": "e"}},
                    {"type": "input_file", "filename": "a.pdf", "file_data": "JVBERi0="},
                ],
            }
        ]
    )
    assert built.messages[0]["content"] == [{"image": "https://x/a.png"}, {"mark": "e"}, {"file": "a.pdf"}]
    assert built.parts([InputText(text="t", cache_control={"type": "e"})], "x", cached=False) == [{"text": "t"}]
    with pytest.raises(InvalidRequestError) as info:
        turns([{"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_image"}]}])
    assert info.value.param == "input[0].content[1].image_url" and info.value.code == "missing_required_parameter"


# ---- media ----------------------------------------------------------------------------------------


def test_data_urls() -> None:
    assert data_url("data:Image/PNG;base64,iVBO\n Rw==", "w") == ("image/png", "iVBORw==")
    assert data_url("data:,hello%20world", "w") == ("text/plain", "aGVsbG8gd29ybGQ=")
    assert data_url("data:;base64,JVBE", "w", default="application/pdf") == ("application/pdf", "JVBE")
    with pytest.raises(InvalidRequestError) as info:
        data_url("data:image/png;base64", "input[0].content[0]")
    assert info.value.param == "input[0].content[0]" and info.value.code == "invalid_value"


def test_image_urls_and_file_data() -> None:
    assert image_url(InputImage(image_url="https://x/a.png", file_id="file-1"), "w", "p") == "https://x/a.png"
    with pytest.raises(InvalidRequestError) as info:
        image_url(InputImage(file_id="file-1"), "w", "p")
    assert info.value.param == "w.file_id" and info.value.code == "unsupported_parameter"
    assert file_bytes(InputFile(file_data="aGk=", filename="notes.txt"), "w") == ("text/plain", "aGk=")
    assert file_bytes(InputFile(file_data="JVBE"), "w") == ("application/pdf", "JVBE")  # no name, no type: a PDF
    csv = InputFile(file_data="data:text/csv;base64,YSxi", filename="x.pdf")
    assert file_bytes(csv, "w") == ("text/csv", "YSxi")
    assert file_bytes(InputFile(file_url="https://x/a.pdf"), "w") is None


# ---- Claude thinking budgets ------------------------------------------------------------------------


def test_thinking_budget_fits_below_the_callers_limit() -> None:
    assert fit_budget(4096, None, explicit=False, provider="p") == 4096
    assert fit_budget(4096, 8192, explicit=True, provider="p") == 4096
    assert fit_budget(16384, 2000, explicit=False, provider="p") == 1999  # an effort's budget is cut to fit
    with pytest.raises(InvalidRequestError) as info:
        fit_budget(4096, 4096, explicit=True, provider="p")
    assert info.value.param == "reasoning.max_tokens"
    with pytest.raises(InvalidRequestError) as info:
        fit_budget(1024, 1024, explicit=False, provider="p")
    assert info.value.param == "max_output_tokens"
