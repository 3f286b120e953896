"""boto3 clients and resources, built lazily on first use and cached per region and endpoint.

`AWS_ENDPOINT_URL` (honoured by boto3 itself) points them at the local stack's moto server.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient


def _cache_key() -> tuple[str | None, str | None]:
    return os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def dynamodb() -> DynamoDBServiceResource:
    return _resource("dynamodb", *_cache_key())  # type: ignore[no-any-return]


def sqs() -> SQSClient:
    return _client("sqs", *_cache_key())  # type: ignore[no-any-return]


def sns() -> SNSClient:
    return _client("sns", *_cache_key())  # type: ignore[no-any-return]


def stepfunctions() -> SFNClient:
    return _client("stepfunctions", *_cache_key())  # type: ignore[no-any-return]


@lru_cache(maxsize=16)
def _client(service: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=region)  # type: ignore[call-overload]


@lru_cache(maxsize=16)
def _resource(service: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().resource(service, endpoint_url=endpoint, region_name=region)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests that start a fresh moto backend call this)."""
    _client.cache_clear()
    _resource.cache_clear()
