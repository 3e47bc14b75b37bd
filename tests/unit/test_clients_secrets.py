"""ApiKeyProvider: key from config or Secrets Manager (moto), TTL cache on the injected clock,
one-line errors that never contain the key."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from canary.secrets import ApiKeyProvider, SecretError

KEY = "the-real-key-9b2e"
REGION = "us-east-1"


@pytest.fixture
def sm(monkeypatch, h):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def test_static_key_needs_no_aws(clock):
    assert ApiKeyProvider(key="k", clock=clock).get() == "k"


def test_key_from_secret_is_cached_for_the_ttl(sm, clock):
    arn = sm.create_secret(Name="k", SecretString=KEY)["ARN"]
    p = ApiKeyProvider(secret_arn=arn, clock=clock, client=sm, ttl_s=60)
    assert p.get() == KEY
    sm.put_secret_value(SecretId=arn, SecretString="rotated")
    clock.advance(59)
    assert p.get() == KEY
    clock.advance(2)
    assert p.get() == "rotated"


def test_json_secret_field(sm, clock):
    arn = sm.create_secret(Name="j", SecretString='{"INTERNAL_API_KEY": "from-json"}')["ARN"]
    assert ApiKeyProvider(secret_arn=arn, clock=clock, client=sm).get() == "from-json"


def test_missing_secret_is_one_line_naming_the_arn(sm, clock):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope"
    with pytest.raises(SecretError) as e:
        ApiKeyProvider(secret_arn=arn, clock=clock, client=sm).get()
    assert arn in str(e.value) and "ResourceNotFoundException" in str(e.value)
    assert "\n" not in str(e.value)
    assert e.value.configuration is True  # the deployment's mistake, not an outage


@pytest.mark.parametrize("value", [
    '{"password": "' + KEY + '"}',  # JSON without the key's field
    '{"INTERNAL_API_KEY": "' + KEY,  # not valid JSON (truncated)
], ids=["no-key-field", "invalid-json"])
def test_bad_json_secret_error_does_not_leak_value(sm, clock, value):
    arn = sm.create_secret(Name="b", SecretString=value)["ARN"]
    with pytest.raises(SecretError) as e:
        ApiKeyProvider(secret_arn=arn, clock=clock, client=sm).get()
    assert KEY not in str(e.value)
    # a traceback never shows the parser's error, whose .doc holds the secret's text
    assert e.value.__context__ is None or e.value.__suppress_context__


def test_client_built_only_when_none_passed(sm, clock, h):
    arn = sm.create_secret(Name="k2", SecretString=KEY)["ARN"]
    p = ApiKeyProvider(secret_arn=arn, clock=clock, region=REGION)
    assert p._client is None
    assert p.get() == KEY


def test_repr_and_peek_never_fetch_or_show_the_key(sm, clock):
    arn = sm.create_secret(Name="k3", SecretString=KEY)["ARN"]
    p = ApiKeyProvider(secret_arn=arn, clock=clock, client=sm)
    assert p.peek() is None
    p.get()
    assert KEY not in repr(p)
    assert p.peek() == KEY
