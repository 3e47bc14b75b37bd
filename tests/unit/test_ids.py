"""The synthetic session's ids: what the platform allows is accepted, what breaks a URL,
a host name or a key is refused, by the Lambda's config and the deploy parameters alike."""

from __future__ import annotations

import pytest

from canary import ids
from canary.config import CanaryConfig, ConfigError


@pytest.mark.parametrize(("kind", "value"), [
    ("client", "canary-example"), ("client", "ameliastamps"), ("client", "a"),
    ("user", "canary-user"), ("user", "bot@example.com"), ("user", "*"), ("user", "a.b+c"),
    ("thread", "canary-thread-0001"), ("thread", "thread.1@x"), ("session", "canary-session-1"),
])
def test_ids_the_platform_allows_are_accepted(kind, value):
    assert ids.problem(kind, value) is None


@pytest.mark.parametrize(("kind", "value"), [
    ("client", "-lead"), ("client", "trail-"), ("client", "has.dot"), ("client", "x" * 64),
    ("client", "Upper"),
    ("thread", ".."), ("thread", "."), ("thread", "a/b"), ("thread", "a?b"), ("thread", "a%2F"),
    ("thread", ""), ("user", "has space"), ("session", "x" * 101),
])
def test_ids_that_break_a_host_path_or_key_are_refused(kind, value):
    assert ids.problem(kind, value)


def test_config_names_the_variable_of_a_bad_thread_id(env_config):
    with pytest.raises(ConfigError, match="CANARY_THREAD_ID: invalid id"):
        env_config(CANARY_THREAD_ID="..")


def test_session_row_extras_fill_placeholders(env_config):
    config = env_config(CANARY_SESSION_ATTRIBUTES='{"editBranch": "thread-{threadId}", "n": 2}',
                        CANARY_SESSION_ID="canary-s-1")
    assert config.session_id == "canary-s-1"
    assert config.session_row_extras() == {"editBranch": f"thread-{config.thread_id}", "n": 2}


@pytest.mark.parametrize(("raw", "says"), [
    ("[1]", "not a JSON object"), ("{", "not JSON"), ('{"userId": "x"}', "cannot be set"),
    ('{"a": [1]}', "type list"),
])
def test_bad_session_attributes_are_refused(env_config, raw, says):
    with pytest.raises(ConfigError, match="CANARY_SESSION_ATTRIBUTES") as e:
        env_config(CANARY_SESSION_ATTRIBUTES=raw)
    assert says in str(e.value)


@pytest.fixture
def env_config():
    base = {
        "HERMES_API_URL": "https://alb.example.com/hermes", "AWS_REGION": "us-west-2",
        "PREVIEW_URL_TEMPLATE": "https://edit.{clientId}.example.com/session/{threadId}/",
        "INTERNAL_API_KEY": "k" * 20, "CANARY_CLIENT_ID": "canary-site",
        "CANARY_USER_ID": "bot@example.com", "CANARY_THREAD_ID": "canary-thread-1",
    }

    def make(**extra: str) -> CanaryConfig:
        return CanaryConfig.from_env({**base, **extra})

    return make


def test_ids_that_equal_the_client_id_are_refused(env_config):
    # named_by would then match every task of that client: another customer's containers.
    with pytest.raises(ConfigError, match="equals the client id"):
        env_config(CANARY_THREAD_ID="canary-site")
    with pytest.raises(ConfigError, match="equals the client id"):
        env_config(CANARY_SESSION_ID="canary-site")


@pytest.mark.parametrize("user", ["bot@example.com", "*", "a.b+c"])
def test_deploy_parameters_accept_the_ids_the_lambda_accepts(user):
    from infra.params import CanaryParams

    params = CanaryParams(
        environment="staging", hermes_api_url="https://alb.example.com/hermes",
        api_key_secret_arn="arn:aws:secretsmanager:us-west-2:123456789012:secret:k-AbCdEf",
        canary_client_id="canary-site", canary_user_id=user, canary_thread_id="t.1@x",
        preview_url_template="https://edit.{clientId}.example.com/session/{threadId}/")
    assert params.canary_user_id == user


def test_deploy_parameters_refuse_an_id_the_lambda_refuses():
    from infra.params import CanaryParams, ParamsError

    with pytest.raises(ParamsError, match="canaryThreadId"):
        CanaryParams(
            environment="staging", hermes_api_url="https://alb.example.com/hermes",
            api_key_secret_arn="arn:aws:secretsmanager:us-west-2:123456789012:secret:k-AbCdEf",
            canary_client_id="canary-site", canary_user_id="u", canary_thread_id="..",
            preview_url_template="https://edit.{clientId}.example.com/session/{threadId}/")
