"""Config file shape, env references, defaults, and errors that name the key and its place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ferryman.config import ConfigError, ProviderConfig, config_from_dict, config_from_env, describe, load_config
from ferryman.providers.azure import AzureConfig
from ferryman.providers.bedrock.config import BedrockConfig
from ferryman.providers.gemini.config import GeminiConfig, VertexConfig

ISSUE_EXAMPLE = """
providers:
  openai:    {base_url: "https://api.openai.com/v1", keys: [{value: env.OPENAI_API_KEY, weight: 1, models: []}]}
  anthropic: {base_url: "https://api.anthropic.com", keys: [{value: env.ANTHROPIC_API_KEY}]}
models:
  - {name: smart, target: openai/gpt-4o-mini, fallbacks: [anthropic/claude-3-5-haiku-latest]}
store: "sqlite:///./ferryman.db"
"""


def test_the_documented_shape_loads(tmp_path: Path) -> None:
    path = tmp_path / "ferryman.yaml"
    path.write_text(ISSUE_EXAMPLE)
    config = load_config(path, {"OPENAI_API_KEY": "sk-one", "ANTHROPIC_API_KEY": "sk-ant"})
    openai = config.providers["openai"]
    assert openai.type == "openai"
    assert openai.base_url == "https://api.openai.com/v1"
    assert openai.keys[0].secret.reveal() == "sk-one"
    assert openai.keys[0].secret.source == "env.OPENAI_API_KEY"
    assert config.providers["anthropic"].type == "anthropic"
    assert config.models["smart"].fallbacks == ["anthropic/claude-3-5-haiku-latest"]
    assert config.store == "sqlite:///./ferryman.db"


def test_type_defaults_to_known_name_and_custom_servers_need_one() -> None:
    config = config_from_dict(
        {
            "providers": {
                "my-vllm": {"type": "openai-chat", "base_url": "http://10.0.0.5:8000/v1"},
                "groq": {"keys": [{"value": "os.environ/GROQ_KEY"}]},
            }
        },
        {"GROQ_KEY": "gsk-1"},
    )
    assert config.providers["my-vllm"].type == "openai-chat"
    assert config.providers["my-vllm"].keys == []
    assert config.providers["groq"].type == "openai-chat"
    assert config.providers["groq"].base_url == "https://api.groq.com/openai/v1"
    assert config.providers["groq"].keys[0].secret.reveal() == "gsk-1"
    with pytest.raises(ConfigError, match="'type' is required"):
        config_from_dict({"providers": {"my-server": {"base_url": "http://x"}}}, {})


def test_provider_options() -> None:
    config = config_from_dict(
        {
            "providers": {
                "openai": {
                    "timeout": 30,
                    "max_retries": 5,
                    "headers": {"OpenAI-Organization": "org-1"},
                    "keys": [{"value": "a", "weight": 3, "models": ["gpt-4o"]}, {"value": "b"}],
                }
            }
        },
        {},
    )
    p = config.providers["openai"]
    assert (p.timeout, p.max_retries, p.headers) == (30, 5, {"OpenAI-Organization": "org-1"})
    assert [k.weight for k in p.keys] == [3, 1]
    assert [k.secret.reveal() for k in p.usable_keys("gpt-4o-mini")] == ["b"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"providers": {"openai": {"base_url": "https://x/v1", "fallback": []}}},
            "providers.openai: unknown key 'fallback' for provider type 'openai'",
        ),
        ({"modles": []}, "unknown key 'modles' in the top level"),
        ({"models": [{"name": "a", "target": "openai/x", "fallback": ["b"]}]}, "unknown key 'fallback' in models[0]"),
        (
            {"providers": {"openai": {"keys": [{"value": "x", "wieght": 2}]}}},
            "unknown key 'wieght' in providers.openai.keys[0]",
        ),
        ({"providers": {"openai": {"type": "carrier-pigeon"}}}, "unknown provider type 'carrier-pigeon'"),
        ({"providers": {"openai": {"timeout": "slow"}}}, "providers.openai.timeout"),
        ({"models": [{"name": "a", "target": "anthropic/claude"}]}, "provider 'anthropic', which is not configured"),
        ({"models": [{"name": "a", "target": "gpt-4o"}]}, "must be 'provider/model'"),
        ({"store": "mysql://x"}, "not a store URL"),
        ({"providers": {"openai": {"base_url": "api.openai.com"}}}, "must start with http"),
    ],
)
def test_bad_configs_say_what_and_where(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, {}, source="f.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("f.yaml")


def test_each_provider_type_takes_its_own_keys() -> None:
    env = {"AWS_KEY": "AKIA-from-env", "AWS_SECRET": "aws-secret-from-env", "SA_JSON": "{}"}
    config = config_from_dict(
        {
            "providers": {
                "bedrock": {
                    "region": "eu-west-1",
                    "aws_access_key_id": "env.AWS_KEY",
                    "aws_secret_access_key": "os.environ/AWS_SECRET",
                    "aws_session_token": "literal-token",
                },
                "vertex": {"project": "proj", "region": "global", "credentials": "env.SA_JSON", "api_version": "v1"},
                "gemini": {"api_version": "v1alpha"},
                "anthropic": {},
                "azure": {
                    "base_url": "https://res.openai.azure.com",
                    "api_version": "2024-10-21",
                    "deployments": {"gpt-35-turbo": "chat:my-gpt35"},
                },
            }
        },
        env,
    )
    bedrock = config.providers["bedrock"]
    assert isinstance(bedrock, BedrockConfig) and bedrock.region == "eu-west-1"
    assert bedrock.aws_access_key_id is not None and bedrock.aws_access_key_id.reveal() == "AKIA-from-env"
    assert bedrock.aws_secret_access_key is not None and bedrock.aws_secret_access_key.source == "env.AWS_SECRET"
    assert bedrock.aws_session_token is not None and bedrock.aws_session_token.source == "literal"
    assert not bedrock.needs_key  # SigV4 credentials may stand in for a key
    assert "aws-secret-from-env" not in repr(config) and "literal-token" not in repr(config)
    vertex = config.providers["vertex"]
    assert isinstance(vertex, VertexConfig) and (vertex.project, vertex.region) == ("proj", "global")
    assert vertex.credentials is not None and vertex.credentials.reveal() == "{}"
    assert isinstance(config.providers["gemini"], GeminiConfig) and config.providers["gemini"].api_version == "v1alpha"
    azure = config.providers["azure"]
    assert isinstance(azure, AzureConfig) and azure.deployments == {"gpt-35-turbo": "chat:my-gpt35"}
    assert type(config.providers["anthropic"]) is ProviderConfig  # the shared keys only


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"anthropic": {"aws_access_key_id": "AKIA"}},
            "f.yaml: providers.anthropic: unknown key 'aws_access_key_id' for provider type 'anthropic' "
            "(a key of: bedrock)",
        ),
        (
            {"openai": {"deployments": {"gpt-4o": "prod"}}},
            "f.yaml: providers.openai: unknown key 'deployments' for provider type 'openai' (a key of: azure)",
        ),
        (
            {"gemini": {"project": "p"}},
            "f.yaml: providers.gemini: unknown key 'project' for provider type 'gemini' (a key of: vertex)",
        ),
        (
            {"my-claude": {"type": "anthropic", "region": "us-east-1"}},
            "f.yaml: providers.my-claude: unknown key 'region' for provider type 'anthropic' "
            "(a key of: vertex, bedrock)",
        ),
        (
            {"bedrock": {"api_version": "v1"}},
            "f.yaml: providers.bedrock: unknown key 'api_version' for provider type 'bedrock' "
            "(a key of: gemini, vertex, azure)",
        ),
        ({"groq": {"regoin": "x"}}, "f.yaml: providers.groq: unknown key 'regoin' for provider type 'openai-chat'"),
        (
            {"openai": {"needs_key": False}},
            "f.yaml: providers.openai: unknown key 'needs_key' for provider type 'openai'",
        ),
        (
            {"bedrock": {"aws_access_key_id": 5}},
            "f.yaml: providers.bedrock.aws_access_key_id: Expected 'str', got 'int'",
        ),
    ],
)
def test_a_key_of_another_provider_type_is_refused(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"providers": entry}, {}, source="f.yaml")
    assert str(info.value) == message


EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.y*ml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_config_loads(path: Path) -> None:
    config = load_config(path, {})
    assert config.providers and config.source == str(path)


def test_config_check_passes_the_example() -> None:
    result = _cli("config", "check", str(EXAMPLES[0].parent / "ferryman.yaml"), env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "anthropic: type=anthropic base_url=https://api.anthropic.com" in result.stdout


def test_no_file_enables_every_provider_with_a_key() -> None:
    config = config_from_env(
        {"OPENAI_API_KEY": "sk-1", "GEMINI_API_KEY": "g-1", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "PATH": "/bin"}
    )
    assert sorted(config.providers) == ["gemini", "mock", "openai"]  # mock is built in
    assert config.providers["openai"].base_url == "http://127.0.0.1:9/v1"
    assert config.providers["gemini"].base_url == "https://generativelanguage.googleapis.com"


def test_secrets_never_print() -> None:
    config = config_from_dict({"providers": {"openai": {"keys": [{"value": "sk-very-secret"}]}}}, {})
    assert "sk-very-secret" not in repr(config)
    assert "sk-very-secret" not in str(config.providers["openai"].keys[0].secret)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferryman", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_config_check_prints_resolved_config_redacted(tmp_path: Path) -> None:
    path = tmp_path / "ferryman.yaml"
    path.write_text(ISSUE_EXAMPLE.replace("env.ANTHROPIC_API_KEY", "sk-ant-literal-secret"))
    result = _cli("config", "check", str(path), env={"OPENAI_API_KEY": "sk-openai-env-secret", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "openai: type=openai base_url=https://api.openai.com/v1" in out
    assert "key env.OPENAI_API_KEY: set" in out
    assert "smart -> openai/gpt-4o-mini fallbacks=['anthropic/claude-3-5-haiku-latest']" in out
    assert "sk-openai-env-secret" not in out + result.stderr
    assert "sk-ant-literal-secret" not in out + result.stderr


def test_config_check_rejects_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("providers:\n  openai:\n    base_urll: https://x\n")
    result = _cli("config", "check", str(path))
    assert result.returncode == 1
    assert "providers.openai: unknown key 'base_urll' for provider type 'openai'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = _cli("config", "check", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "cannot read config file" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("providers: [\n")
    assert "not valid YAML" in _cli("config", "check", str(broken)).stderr


def test_tls_and_proxy_keys_are_checked_and_never_show_a_proxy_password(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("not checked here: loaded when the provider starts")

    def provider(**entry: object) -> dict[str, object]:
        return {"providers": {"up": {"type": "openai", "base_url": "https://up.example/v1", **entry}}}

    config = config_from_dict(
        provider(ca_bundle=str(pem), proxy="env.CORP_PROXY"), {"CORP_PROXY": "http://u:pw@p:3128"}
    )
    up = config.providers["up"]
    assert (up.ca_bundle, up.verify_tls, up.proxy.reveal() if up.proxy else None) == (
        str(pem),
        True,
        "http://u:pw@p:3128",
    )
    assert "pw" not in describe(config) and "proxy: http://p:3128 (env.CORP_PROXY" in describe(config)
    refused = {
        "ca_bundle": (provider(ca_bundle=str(tmp_path / "missing.pem")), "is not a readable file"),
        "client_key": (provider(client_key=str(pem)), "needs client_cert"),
        "verify_tls": (provider(verify_tls=False, ca_bundle=str(pem)), "false ignores ca_bundle"),
        "proxy": (provider(proxy="socks5://u:secretpw@p:1080"), "must be an http:// proxy URL"),
    }
    for key, (data, message) in refused.items():
        with pytest.raises(ConfigError, match=message) as caught:
            config_from_dict(data, {})
        assert f"providers.up.{key}" in str(caught.value) and "secretpw" not in str(caught.value)
    with pytest.raises(ConfigError, match="verify_tls"):
        config_from_dict(provider(verify_tls="no"), {})  # only a real false turns the check off


def test_config_check_says_how_responses_are_stored() -> None:
    config = config_from_dict(
        {"store": {"url": "sqlite:///./x.db", "sync": "after_reply"}, "forward_unknown_response_ids": True}, {}
    )
    text = describe(config)
    assert "store: sqlite:///./x.db (sync: after_reply)" in text
    assert "never saw: forwarded" in text
    assert "store: (none)" in describe(config_from_dict({"store": False}, {}))
