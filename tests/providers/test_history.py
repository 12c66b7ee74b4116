"""OpenAI's tool items replayed in an agent's history (providers/history.py), on every translating provider.

Each kind of item the openai SDK's ``ResponseInputItemParam`` names goes to Anthropic, Bedrock,
Gemini and a Chat Completions server as a function call and its result (when the request offers a
function of the call's name), as labelled text, or not at all; never a 400.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ferryman.config import ProviderConfig, config_from_dict
from ferryman.providers.anthropic import AnthropicProvider
from ferryman.providers.base import Call
from ferryman.providers.bedrock import BedrockProvider
from ferryman.providers.bedrock.config import BedrockConfig
from ferryman.providers.gemini import GeminiProvider
from ferryman.providers.history import plain_items
from ferryman.providers.openai_chat import ChatCompletionsProvider
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.input import FunctionCallOutput, InputFunctionCall, InputImage, InputMessage, InputText
from ferryman.schemas.items import input_items
from ferryman.schemas.responses import validate_request

ANTHROPIC = AnthropicProvider(ProviderConfig(name="anthropic", type="anthropic", base_url="https://a.test", keys=[]))
BEDROCK = BedrockProvider(BedrockConfig(name="bedrock", type="bedrock", base_url=None, keys=[], region="us-east-1"))
GEMINI = GeminiProvider(
    config_from_dict({"providers": {"gemini": {"keys": [{"value": "k"}]}}, "store": False}, {}).providers["gemini"]
)
CHAT = ChatCompletionsProvider(ProviderConfig(name="local", type="openai-chat", base_url="https://x.test/v1", keys=[]))
MODELS = {"anthropic": "claude-sonnet-4-5", "bedrock": "anthropic.claude-sonnet-4-5-v1:0", "gemini": "gemini-2.5-flash"}
PROVIDERS = {"anthropic": ANTHROPIC, "bedrock": BEDROCK, "gemini": GEMINI, "chat": CHAT}

SHELL_TOOL = {"type": "function", "name": "local_shell", "parameters": {"type": "object", "properties": {}}}
ACTION = {"type": "exec", "command": ["ls", "-la"], "env": {}}
LOCAL_SHELL = [
    {"type": "local_shell_call", "id": "ls_1", "call_id": "call_1", "status": "completed", "action": ACTION},
    {"type": "local_shell_call_output", "id": "call_1", "output": "README.md\nsrc"},
]
# one well-formed item of every OpenAI tool kind an agent replays, as the openai SDK types them
EVERY_KIND: list[dict[str, Any]] = [
    *LOCAL_SHELL,
    {"type": "shell_call", "call_id": "sh_1", "action": {"commands": ["pwd"]}, "status": "completed"},
    {
        "type": "shell_call_output",
        "call_id": "sh_1",
        "output": [{"stdout": "/work\n", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}],
    },
    {
        "type": "apply_patch_call",
        "call_id": "ap_1",
        "status": "completed",
        "operation": {"type": "update_file", "path": "a.py", "diff": "-x\n+y"},
    },
    {"type": "apply_patch_call_output", "call_id": "ap_1", "status": "completed", "output": "patched"},
    {
        "type": "computer_call",
        "id": "cu_1",
        "call_id": "cc_1",
        "status": "completed",
        "pending_safety_checks": [],
        "action": {"type": "click", "button": "left", "x": 1, "y": 2},
    },
    {
        "type": "computer_call_output",
        "call_id": "cc_1",
        "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,iVBORw0KGgo="},
    },
    {"type": "tool_search_call", "call_id": "ts_1", "arguments": {"query": "github"}, "execution": "client"},
    {
        "type": "tool_search_output",
        "call_id": "ts_1",
        "execution": "client",
        "tools": [{"type": "function", "name": "gh_pr", "description": "Open a pull request", "parameters": {}}],
    },
    {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search", "query": "weather in Paris"},
    },
    {"type": "file_search_call", "id": "fs_1", "queries": ["q1"], "status": "completed", "results": [{"text": "hit"}]},
    {
        "type": "code_interpreter_call",
        "id": "ci_1",
        "code": "print(1)",
        "container_id": "c",
        "status": "completed",
        "outputs": [{"type": "logs", "logs": "1"}],
    },
    {"type": "image_generation_call", "id": "ig_1", "status": "completed", "result": "aGk=", "revised_prompt": "a cat"},
    {"type": "mcp_list_tools", "id": "ml_1", "server_label": "docs", "tools": []},
    {"type": "mcp_approval_request", "id": "ma_1", "arguments": "{}", "name": "read", "server_label": "docs"},
    {"type": "mcp_approval_response", "approval_request_id": "ma_1", "approve": True},
    {
        "type": "mcp_call",
        "id": "mc_1",
        "arguments": '{"path": "x"}',
        "name": "read",
        "server_label": "docs",
        "output": "contents",
    },
    {"type": "compaction", "encrypted_content": "gAAAA-openai"},
    {"type": "compaction_trigger"},
    {"type": "program", "id": "p_1", "call_id": "pc_1", "code": "x = 1", "fingerprint": "f"},
    {"type": "program_output", "id": "po_1", "call_id": "pc_1", "result": "ok", "status": "completed"},
]


def _native(provider: str, body: dict[str, Any]) -> dict[str, Any]:
    model = MODELS.get(provider, "m")
    raw, req = validate_request(msgspec.json.encode({"model": f"p/{model}", **body}))
    return PROVIDERS[provider].native_request(Call(req, raw, model, None), stream=False)


def _texts(native: Any) -> str:
    """Every string in a native request, to look for what the model is shown."""
    return msgspec.json.encode(native).decode()


def test_plain_items_rule_for_every_kind() -> None:
    placed = plain_items(input_items([{"role": "user", "content": "go"}, *EVERY_KIND]), frozenset())
    kinds = [(where, type(item).__name__, getattr(item, "role", None)) for where, item in placed]
    # dropped: web_search_call (11), mcp_list_tools (15), approvals (16, 17), compaction (19, 20)
    assert {where for where, _, _ in kinds}.isdisjoint({"input[11]", "input[15]", "input[16]", "input[17]"})
    assert {where for where, _, _ in kinds}.isdisjoint({"input[19]", "input[20]"})
    # every call is an assistant note, every output a user message, each labelled
    roles = {where: role for where, _, role in kinds if where not in ("input[12]", "input[13]", "input[18]")}
    assert [roles[f"input[{i}]"] for i in (1, 3, 5, 7, 9, 21)] == ["assistant"] * 6
    assert [roles[f"input[{i}]"] for i in (2, 4, 6, 8, 10, 22)] == ["user"] * 6
    texts: dict[str, list[Any]] = {}  # place -> the parts of the messages made from it, in order
    for where, item in placed:
        if isinstance(item, InputMessage):
            texts.setdefault(where, []).extend(item.content)
    assert texts["input[1]"][0].text == '[local_shell call call_1: {"type":"exec","command":["ls","-la"],"env":{}}]'
    assert [p.text for p in texts["input[2]"]] == ["[local_shell output for call_1]", "README.md\nsrc"]
    assert texts["input[4]"][1].text == "stdout:\n/work\n\nexit code 0"
    assert texts["input[6]"][1].text == "completed: patched"
    assert texts["input[8]"][1] == InputImage(image_url="data:image/png;base64,iVBORw0KGgo=")
    assert texts["input[10]"][1].text == "loaded tools:\ngh_pr: Open a pull request"
    assert texts["input[13]"][1].text == "[code_interpreter output]\n1"
    assert texts["input[14]"][0].text == "[image generated: a cat]"
    assert texts["input[18]"][0].text == '[mcp call docs.read: {"path": "x"}]'
    assert texts["input[18]"][1].text == "[mcp docs.read output]\ncontents"


def test_a_call_of_an_offered_function_is_a_function_call_and_its_output_a_result() -> None:
    placed = plain_items(input_items(LOCAL_SHELL), frozenset({"local_shell"}))
    assert [item for _, item in placed] == [
        InputFunctionCall(call_id="call_1", name="local_shell", arguments=msgspec.json.encode(ACTION).decode()),
        FunctionCallOutput(call_id="call_1", output=[InputText(text="README.md\nsrc")]),
    ]


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_every_kind_is_taken_by_every_provider(provider: str) -> None:
    native = _native(provider, {"input": [{"role": "user", "content": "go"}, *EVERY_KIND]})
    shown = _texts(native)
    for said in ("[local_shell call call_1", "README.md", "exit code 0", "gh_pr", "[mcp call docs.read", "contents"):
        assert said in shown
    assert "weather in Paris" not in shown and "gAAAA-openai" not in shown


def test_shell_replay_as_tool_use_on_anthropic() -> None:
    native = _native("anthropic", {"input": [{"role": "user", "content": "list"}, *LOCAL_SHELL], "tools": [SHELL_TOOL]})
    use = {"type": "tool_use", "id": "call_1", "name": "local_shell", "input": ACTION}
    result = {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "README.md\nsrc"}]}
    assert native["messages"][1:] == [{"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]


def test_shell_replay_as_tool_call_on_chat_and_gemini_and_bedrock() -> None:
    body = {"input": [{"role": "user", "content": "list"}, *LOCAL_SHELL], "tools": [SHELL_TOOL]}
    chat = _native("chat", body)["messages"]
    assert chat[1]["tool_calls"][0]["function"]["name"] == "local_shell"
    assert chat[2] == {"role": "tool", "tool_call_id": "call_1", "content": "README.md\nsrc"}
    gemini = _native("gemini", body)["contents"]
    assert gemini[1]["parts"][0]["functionCall"] == {"name": "local_shell", "args": ACTION, "id": "call_1"}
    assert gemini[2]["parts"][0]["functionResponse"]["name"] == "local_shell"
    bedrock = _native("bedrock", body)["messages"]
    assert bedrock[1]["content"][0]["toolUse"]["name"] == "local_shell"
    assert bedrock[2]["content"][0]["toolResult"]["toolUseId"] == "call_1"


def test_errors_after_a_dropped_item_name_the_original_place() -> None:
    search = next(i for i in EVERY_KIND if i["type"] == "web_search_call")
    items = [{"role": "user", "content": "q"}, search, {"type": "item_reference", "id": "msg_1"}]
    for provider in PROVIDERS:
        with pytest.raises(InvalidRequestError) as info:
            _native(provider, {"input": items})
        assert info.value.param in ("input[2].type", "input[2]")


def test_gemini_keeps_a_generated_image_as_the_image() -> None:
    image = next(i for i in EVERY_KIND if i["type"] == "image_generation_call")
    contents = _native("gemini", {"input": [{"role": "user", "content": "draw"}, image]})["contents"]
    assert contents[1]["parts"] == [{"inlineData": {"mimeType": "image/png", "data": "aGk="}}]
