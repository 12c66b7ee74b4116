"""A request's ``input`` as typed items (schemas/items.py ``input_items``, schemas/input.py).

Translating adapters read these; the checks on the way name the bad place in ``param``. Items and
parts of types Ferryman does not translate stay the dicts the client sent. ``input_list`` is the
undecoded form the gateway uses when it adds items to a request that may go on untouched.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.input import (
    AssistantRefusal,
    AssistantText,
    FunctionCallOutput,
    InputFile,
    InputFunctionCall,
    InputImage,
    InputMessage,
    InputReasoning,
    InputText,
    ItemReference,
)
from ferryman.schemas.items import function_output_text, input_items, input_list, text_of
from ferryman.schemas.output import ReasoningText, SummaryText


def test_a_string_and_easy_messages_become_typed_messages() -> None:
    assert input_items("hi") == [InputMessage(role="user", content=[InputText(text="hi")])]
    assert input_items(None) == []
    easy = input_items([{"role": "developer", "content": "rules"}, {"role": "assistant", "content": "ok"}])
    assert easy == [
        InputMessage(role="developer", content=[InputText(text="rules")]),
        InputMessage(role="assistant", content=[AssistantText(text="ok")]),
    ]


def test_content_parts_of_every_kind() -> None:
    [message] = input_items(
        [
            {
                "type": "message",
                "id": "msg_1",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "a", "cache_control": {"type": "ephemeral"}},
                    {"type": "input_image", "image_url": {"url": "https://x/a.png"}, "detail": "low"},
                    {"type": "input_image", "file_id": "file-1"},
                    {"type": "input_file", "file_data": "JVBE", "filename": "a.pdf"},
                    {"type": "input_file", "file_url": "https://x/b.pdf"},
                    {"type": "text", "text": "chat-style"},
                    {"type": "input_audio", "input_audio": {"data": "x"}},
                ],
            }
        ]
    )
    assert isinstance(message, InputMessage) and message.id == "msg_1"
    assert message.content == [
        InputText(text="a", cache_control={"type": "ephemeral"}),
        InputImage(image_url="https://x/a.png", detail="low"),  # the Chat Completions {"url"} form unwrapped
        InputImage(file_id="file-1"),
        InputFile(file_data="JVBE", filename="a.pdf"),
        InputFile(file_url="https://x/b.pdf"),
        InputText(text="chat-style"),
        {"type": "input_audio", "input_audio": {"data": "x"}},  # not translated: the part as sent
    ]
    assert text_of(message.content) == "achat-style"
    [answer] = input_items(
        [
            {
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "b", "annotations": []},
                    {"type": "refusal", "refusal": "no"},
                    {"type": "summary_text", "text": "c"},
                ],
            }
        ]
    )
    assert isinstance(answer, InputMessage)
    assert answer.content == [
        AssistantText(text="b", annotations=[]),
        AssistantRefusal(refusal="no"),
        AssistantText(text="c"),
    ]


def test_function_calls_and_their_outputs() -> None:
    call, as_object, none, text, parts, json_object, number = input_items(
        [
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a": 1}', "id": "fc_1"},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": {"a": 1}},
            {"type": "function_call", "call_id": "c3", "name": "f"},
            {"type": "function_call_output", "call_id": "c1", "output": "done"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "data:x"}],
            },
            {"type": "function_call_output", "call_id": "c3", "output": {"ok": True}},
            {"type": "function_call_output", "call_id": "c4", "output": 5},
        ]
    )
    assert call == InputFunctionCall(call_id="c1", name="f", arguments='{"a": 1}', id="fc_1")
    assert as_object == InputFunctionCall(call_id="c2", name="f", arguments='{"a":1}')  # an object: its JSON
    assert none == InputFunctionCall(call_id="c3", name="f", arguments="")
    assert text == FunctionCallOutput(call_id="c1", output="done")
    assert parts == FunctionCallOutput(call_id="c2", output=[InputText(text="see"), InputImage(image_url="data:x")])
    assert isinstance(json_object, FunctionCallOutput) and json_object.output == {"ok": True}
    assert isinstance(number, FunctionCallOutput) and number.output == "5"
    outputs = [o.output for o in (text, parts, json_object) if isinstance(o, FunctionCallOutput)]
    assert [function_output_text(o) for o in outputs] == ["done", "see", '{"ok":true}']


def test_reasoning_item_references_and_other_items() -> None:
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}}
    reasoning, reference, other = input_items(
        [
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "s"}],
                "content": [{"type": "reasoning_text", "text": "r"}],
                "encrypted_content": "anthropic:sig",
            },
            {"type": "item_reference", "id": "msg_1"},
            search,
        ]
    )
    assert reasoning == InputReasoning(
        id="rs_1", summary=[SummaryText(text="s")], content=[ReasoningText(text="r")], encrypted_content="anthropic:sig"
    )
    assert reference == ItemReference(id="msg_1")
    assert other is search  # not translated: the item as sent, for providers that take it


def test_full_form_items_encode_back_as_sent() -> None:
    sent: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}], "id": "msg_1"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}", "id": "fc_1", "status": "completed"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "s"}], "encrypted_content": "x"},
        {"type": "item_reference", "id": "msg_0"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
    ]
    assert msgspec.to_builtins(input_items(sent)) == sent


@pytest.mark.parametrize(
    ("input_", "param", "code"),
    [
        ([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}], "input[1].role", "invalid_value"),
        ([{"type": "message", "content": "a"}], "input[0].role", "invalid_value"),
        ([{"role": "user", "content": 5}], "input[0].content", "invalid_value"),
        (
            [{"role": "user", "content": [{"type": "input_text", "text": "a"}, {"text": "b"}]}],
            "input[0].content[1]",
            "invalid_value",
        ),
        ([{"role": "user", "content": ["a"]}], "input[0].content[0]", "invalid_value"),
        (
            [{"role": "user", "content": [{"type": "input_text", "text": "a", "cache_control": "yes"}]}],
            "input[0].content[0].cache_control",
            "invalid_value",
        ),
        ([{"type": "function_call", "name": "f"}], "input[0].call_id", "missing_required_parameter"),
        ([{"type": "function_call", "call_id": "c"}], "input[0].name", "missing_required_parameter"),
        ([{"type": "function_call_output", "output": "x"}], "input[0].call_id", "missing_required_parameter"),
        (
            [{"type": "function_call_output", "call_id": "c", "cache_control": {}}],
            "input[0].cache_control",
            "invalid_value",
        ),
        (
            [{"type": "function_call_output", "call_id": "c", "output": [{"type": "input_text"}, 3]}],
            "input[0].output[1]",
            "invalid_value",
        ),
        ([{"type": "reasoning", "summary": [{"type": "summary_text"}]}], "input[0].summary[0]", "invalid_value"),
        ([{"type": "reasoning", "summary": [], "content": "x"}], "input[0].content", "invalid_value"),
        ([{"type": "item_reference"}], "input[0].id", "missing_required_parameter"),
        ([{"type": 7}], "input[0].type", "invalid_value"),
        (["hi"], "input[0]", "invalid_value"),
    ],
)
def test_bad_input_names_its_place(input_: list[Any], param: str, code: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        input_items(input_)
    assert (info.value.param, info.value.code) == (param, code)


def test_input_list_expands_easy_messages_and_keeps_everything_else_as_sent() -> None:
    call = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", "vendor_field": 1}
    listed = input_list([{"role": "assistant", "content": "a", "id": "msg_1"}, call])
    assert listed == [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}], "id": "msg_1"},
        call,
    ]
    assert listed[1] is call
    assert input_list("hi") == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    assert input_list(None) == []
