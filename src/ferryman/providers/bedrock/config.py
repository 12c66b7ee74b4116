"""The config keys of the ``bedrock`` provider type, beyond the shared ones."""

from __future__ import annotations

from ferryman.providers.spec import ProviderConfig
from ferryman.secret import Secret


class BedrockConfig(ProviderConfig):
    region: str | None = None  # default: AWS_REGION, AWS_DEFAULT_REGION, then us-east-1
    # SigV4 credentials when there is no API key (default: the AWS credential chain)
    aws_access_key_id: Secret | None = None
    aws_secret_access_key: Secret | None = None
    aws_session_token: Secret | None = None
