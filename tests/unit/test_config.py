"""CanaryConfig: environment names, validation that names the variable, sandbox profile."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from canary.config import CanaryConfig, ConfigError

SECRET = "s3cret-key-value-123"

BASE = {
    "AWS_REGION": "us-west-2",
    "HERMES_API_URL": "https://alb.example.com/hermes/",
    "ALB_DNS_NAME": "internal-alb-123.us-west-2.elb.amazonaws.com",
    "PREVIEW_DOMAIN": "webordinary.com",
    "INTERNAL_API_KEY": SECRET,
    "CANARY_CLIENT_ID": "canaryclient",
    "CANARY_USER_ID": "canaryuser",
    "CANARY_THREAD_ID": "canary-thread-1",
}


def env(**changes: str | None) -> dict[str, str]:
    out = dict(BASE)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def test_production_defaults_from_a_minimal_environment():
    c = CanaryConfig.from_env(BASE)
    assert c.hermes_api_url == "https://alb.example.com/hermes"
    assert (c.wake_degraded_ms, c.wake_failed_ms) == (45_000, 60_000)
    assert (c.api_degraded_ms, c.api_failed_ms) == (1_000, 2_000)
    assert c.sleep_mode == "observe"
    assert c.wake_concurrency == 3
    assert c.wake_paths == ("hermes", "preview")
    assert c.containers_table == "webordinary-containers"
    assert c.ecs_cluster == "webordinary-edit-cluster"
    assert c.container_id == "canaryclient-canary-thread-1-canaryuser"
    assert c.environment == "production"


def test_alb_connects_to_the_alb_and_sends_the_edit_host():
    c = CanaryConfig.from_env(BASE)
    url, headers = c.preview_request("t9", "index.html")
    assert url == "https://internal-alb-123.us-west-2.elb.amazonaws.com/session/t9/index.html"
    assert headers == {"Host": "edit.canaryclient.webordinary.com"}


def test_preview_url_template_needs_no_host_header():
    c = CanaryConfig.from_env(env(
        ALB_DNS_NAME=None, PREVIEW_DOMAIN=None,
        PREVIEW_URL_TEMPLATE="https://edit.{clientId}.example.com/session/{threadId}/"))
    url, headers = c.preview_request("t9")
    assert url == "https://edit.canaryclient.example.com/session/t9/"
    assert headers == {}


@pytest.mark.parametrize("missing", [
    "HERMES_API_URL", "AWS_REGION", "CANARY_THREAD_ID", "INTERNAL_API_KEY",
])
def test_missing_required_variable_is_named(missing):
    with pytest.raises(ConfigError, match=missing):
        CanaryConfig.from_env(env(**{missing: None}))


def test_real_target_refused_without_all_synthetic_ids():
    with pytest.raises(ConfigError) as e:
        CanaryConfig.from_env(env(CANARY_CLIENT_ID=None, CANARY_USER_ID=None))
    assert "CANARY_CLIENT_ID" in str(e.value) and "CANARY_USER_ID" in str(e.value)
    assert "synthetic" in str(e.value)


def test_preview_location_required():
    with pytest.raises(ConfigError, match="PREVIEW_URL_TEMPLATE"):
        CanaryConfig.from_env(env(ALB_DNS_NAME=None, PREVIEW_DOMAIN=None))


def test_alb_without_domain_names_preview_domain():
    with pytest.raises(ConfigError, match="PREVIEW_DOMAIN"):
        CanaryConfig.from_env(env(PREVIEW_DOMAIN=None))


@pytest.mark.parametrize(("var", "value", "says"), [
    ("WAKE_FAILED_MS", "soon", "not a number"),
    ("WAKE_FAILED_MS", "-5", "must be > 0"),
    ("WAKE_DEGRADED_MS", "90000", "must not exceed failed"),
    ("API_DEGRADED_MS", "5000", "must not exceed failed"),
    ("SLEEP_MODE", "nap", "unknown mode"),
    ("WAKE_CONCURRENCY", "three", "not a whole number"),
    ("WAKE_CONCURRENCY", "0", "must be 1..20"),
    ("WAKE_PATHS", "hermes,carrier-pigeon", "invalid"),
    ("HERMES_API_URL", "alb.example.com/hermes", "not an http(s) URL"),
    ("CANARY_CLIENT_ID", "has-dash", "invalid value"),
    ("INTERNAL_API_KEY_SECRET_ARN", "my-secret", "not an ARN"),
    ("CANARY_BUDGET_S", "nan", "not a finite number"),
])
def test_bad_value_names_variable_and_problem(var, value, says):
    with pytest.raises(ConfigError) as e:
        CanaryConfig.from_env(env(**{var: value}))
    assert var in str(e.value)
    assert says in str(e.value)


def test_api_key_never_in_repr_or_str():
    c = CanaryConfig.from_env(BASE)
    assert SECRET not in repr(c)
    assert SECRET not in str(c)
    assert SECRET not in c.describe_thresholds()


def test_secret_arn_alone_is_enough():
    c = CanaryConfig.from_env(env(
        INTERNAL_API_KEY=None,
        INTERNAL_API_KEY_SECRET_ARN="arn:aws:secretsmanager:us-west-2:1:secret:k"))
    assert c.api_key is None and c.api_key_secret_arn.endswith(":k")


def test_wake_paths_parsed_and_deduplicated():
    c = CanaryConfig.from_env(env(WAKE_PATHS=" Preview , preview"))
    assert c.wake_paths == ("preview",)


def test_config_is_frozen():
    c = CanaryConfig.from_env(BASE)
    with pytest.raises(AttributeError):
        c.sleep_mode = "wait"  # type: ignore[misc]


def _info(**kw):
    base = dict(
        hermes_url="http://127.0.0.1:1/hermes", router_url="http://127.0.0.1:2",
        preview_host_template="edit.{clientId}.sandbox.test",
        aws_endpoint_url="http://127.0.0.1:3", region="us-east-1",
        sessions_table="s", thread_mappings_table="m", containers_table="c",
        container_index="container-index", cluster="cl", service="sv",
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
        control_url="http://127.0.0.1:1/_sandbox", git_remote_template="/tmp/{containerId}.git",
        preview_marker_template="webordinary-preview:{containerId}",
        idle_timeout_s=1.0, check_interval_s=0.1,
    )
    base.update(kw)
    return SimpleNamespace(**base)


def test_sandbox_profile_scales_thresholds_and_reads_info():
    c = CanaryConfig.for_sandbox(_info(idle_timeout_s=2.0))
    assert c.target == "sandbox" and c.sleep_mode == "wait"
    assert (c.wake_degraded_ms, c.wake_failed_ms) == (1500, 3000)
    assert (c.api_degraded_ms, c.api_failed_ms) == (100, 500)
    assert c.idle_timeout_s == 2.0
    assert c.api_key is None and c.api_key_secret_arn.endswith(":k")
    assert c.aws_endpoint_url == "http://127.0.0.1:3"
    assert c.marker_for() == f"webordinary-preview:{c.container_id}"
    assert c.git_remote_for() == f"/tmp/{c.container_id}.git"
    assert c.sandbox_control_url == "http://127.0.0.1:1/_sandbox"
    assert c.preview_request("t")[1] == {"Host": "edit.canary.sandbox.test"}


def test_sandbox_profile_accepts_overrides_and_validates_them():
    assert CanaryConfig.for_sandbox(_info(), wake_concurrency=5).wake_concurrency == 5
    with pytest.raises(ConfigError, match="SLEEP_MODE"):
        CanaryConfig.for_sandbox(_info(), sleep_mode="later")
