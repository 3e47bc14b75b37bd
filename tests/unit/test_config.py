"""CanaryConfig: environment names, validation that names the variable, sandbox profile."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from canary.config import CanaryConfig, ConfigError
from canary.settings import SETTINGS

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
    ("CANARY_CLIENT_ID", "has.dot", "invalid id"),
    ("INTERNAL_API_KEY_SECRET_ARN", "my-secret", "not an ARN"),
    ("CANARY_BUDGET_S", "nan", "not a finite number"),
])
def test_bad_value_names_variable_and_problem(var, value, says):
    with pytest.raises(ConfigError) as e:
        CanaryConfig.from_env(env(**{var: value}))
    assert var in str(e.value)
    assert says in str(e.value)


# What once passed validation and failed later as a canary error or a traceback (issue 10).
@pytest.mark.parametrize(("changes", "var", "says"), [
    ({"PREVIEW_URL_TEMPLATE": "https://edit.{clientId}.x.com/{site}/session/{threadId}/"},
     "PREVIEW_URL_TEMPLATE", "placeholder other than {clientId}"),
    ({"PREVIEW_URL_TEMPLATE": "https://edit.{clientId}.x.com/{threadId}/"},
     "PREVIEW_URL_TEMPLATE", "does not end in /session/{threadId}/"),
    ({"PREVIEW_URL_TEMPLATE": "https://edit.{clientId}.x.com/session/{threadId}/x/{clientId}"},
     "PREVIEW_URL_TEMPLATE", "does not end in /session/{threadId}/"),
    ({"PREVIEW_DOMAIN": "webordinary.{com}"}, "PREVIEW_DOMAIN", "not edit.{clientId}"),
    ({"PREVIEW_DOMAIN": "web ordinary.com"}, "PREVIEW_DOMAIN", "not edit.{clientId}"),
    ({"ALB_DNS_NAME": "alb:99999"}, "ALB_DNS_NAME", "invalid port"),
    ({"AWS_ENDPOINT_URL": "not a url"}, "AWS_ENDPOINT_URL", "not an http(s) URL"),
    ({"HERMES_API_URL": "https://alb.example.com/hermes?x=1"}, "HERMES_API_URL",
     "query or fragment"),
    ({"HERMES_API_URL": "https://a_b!.example.com/hermes"}, "HERMES_API_URL", "host name"),
    ({"CANARY_BUDGET_S": "1e10"}, "CANARY_BUDGET_S", "at most 900"),
    ({"CANARY_BUDGET_S": "inf"}, "CANARY_BUDGET_S", "not a finite number"),
    ({"CANARY_BUDGET_S": "0.3"}, "CANARY_BUDGET_S", "1"),
    ({"CANARY_SESSION_ATTRIBUTES": '{"n": ' + "9" * 41 + "}"}, "CANARY_SESSION_ATTRIBUTES",
     "38 digits"),
    ({"WAKE_TIMEOUT_S": "1e6"}, "WAKE_TIMEOUT_S", "at most 900"),
    ({"WAKE_FAILED_MS": "1e12", "WAKE_DEGRADED_MS": "1"}, "WAKE_FAILED_MS", "at most 900000"),
    ({"API_FAILED_MS": "1e9"}, "API_FAILED_MS", "at most 60000"),
    ({"CONNECT_TIMEOUT_S": "0"}, "CONNECT_TIMEOUT_S", "must be > 0"),
    ({"CONNECT_TIMEOUT_S": "3600"}, "CONNECT_TIMEOUT_S", "at most 60"),
    ({"IDLE_TIMEOUT_S": "1e9"}, "IDLE_TIMEOUT_S", "at most 86400"),
    ({"SLEEP_MARGIN_S": "-1"}, "SLEEP_MARGIN_S", "must be >= 0"),
    ({"CLEANUP_RESERVE_S": "-3"}, "CLEANUP_RESERVE_S", "must be >= 0"),
    ({"WARM_API_SAMPLES": "99999999999999999999"}, "WARM_API_SAMPLES", "must be 1..10"),
    ({"AWS_REGION": "us east 1"}, "AWS_REGION", "not a region"),
    ({"SESSIONS_TABLE": "no spaces allowed"}, "SESSIONS_TABLE", "not a DynamoDB table"),
    ({"LOCK_TABLE": "x"}, "LOCK_TABLE", "not a DynamoDB table"),
    ({"REPORT_BUCKET": "s3://Reports"}, "REPORT_BUCKET", "not an S3 bucket name"),
    ({"ECS_CLUSTER": "my cluster"}, "ECS_CLUSTER", "not an ECS name"),
    ({"POWERTOOLS_METRICS_NAMESPACE": "AWS/Lambda"}, "POWERTOOLS_METRICS_NAMESPACE",
     "not a CloudWatch namespace"),
    ({"CANARY_ENVIRONMENT": "x" * 300}, "CANARY_ENVIRONMENT", "not a metric dimension"),
    ({"GIT_REMOTE_URL": "--upload-pack=touch /tmp/x"}, "GIT_REMOTE_URL", "not a git remote"),
    ({"SANDBOX_CONTROL_URL": "ftp://h/_sandbox"}, "SANDBOX_CONTROL_URL", "not an http(s) URL"),
    ({"INTERNAL_API_KEY": None,
      "INTERNAL_API_KEY_SECRET_ARN": "arn:aws:s3:::bucket"}, "INTERNAL_API_KEY_SECRET_ARN",
     "not an ARN of a Secrets Manager secret"),
])
def test_setting_that_would_fail_later_is_refused_up_front(changes, var, says):
    with pytest.raises(ConfigError) as e:
        CanaryConfig.from_env(env(**changes))
    assert var in str(e.value)
    assert says in str(e.value)


@pytest.mark.parametrize("key", [f"{SECRET} with space", f"{SECRET}\u00e9", "k" * 5000])
def test_unsendable_key_is_refused_without_echoing_it(key):
    with pytest.raises(ConfigError) as e:
        CanaryConfig.from_env(env(INTERNAL_API_KEY=key))
    assert "INTERNAL_API_KEY" in str(e.value)
    assert SECRET not in str(e.value) and "kkkk" not in str(e.value)


def test_credentials_in_a_url_are_refused_and_never_echoed():
    with pytest.raises(ConfigError) as e:
        CanaryConfig.from_env(env(HERMES_API_URL="https://admin:hunter22@alb.example.com/hermes"))
    assert "HERMES_API_URL" in str(e.value) and "credentials" in str(e.value)
    assert "hunter22" not in str(e.value)


def test_direct_construction_is_held_to_the_same_bounds(h):
    with pytest.raises(ConfigError, match="CANARY_BUDGET_S"):
        h.make_config(budget_s=float("inf"))
    with pytest.raises(ConfigError, match="retry_after_cap_s"):
        h.make_config(retry_after_cap_s=float("nan"))
    with pytest.raises(ConfigError, match="PREVIEW_DOMAIN"):
        h.make_config(preview_host_template="edit.{clientId}.{domain}")


def test_connect_timeout_is_read_from_the_environment():
    assert CanaryConfig.from_env(BASE).connect_timeout_s == 5
    assert CanaryConfig.from_env(env(CONNECT_TIMEOUT_S="1.5")).connect_timeout_s == 1.5


def test_default_wake_timeout_stays_within_its_bound():
    c = CanaryConfig.from_env(env(WAKE_FAILED_MS="900000", WAKE_DEGRADED_MS="1"))
    assert c.wake_timeout_s == 900


def test_preview_template_with_a_path_prefix_keeps_it():
    c = CanaryConfig.from_env(env(ALB_DNS_NAME=None, PREVIEW_DOMAIN=None,
                                  PREVIEW_URL_TEMPLATE="https://e.{clientId}.x.com/p/session/"
                                                       "{threadId}"))
    assert c.preview_request("t9")[0] == "https://e.canaryclient.x.com/p/session/t9/"


# A sample value for every variable of the settings table that CanaryConfig.from_env reads
# (the docs' tables are generated from it): each must change the config, so none goes unread.
SAMPLES = {
    "CANARY_ENVIRONMENT": "staging", "AWS_REGION": "eu-west-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "HERMES_API_URL": "https://other.example/hermes",
    "PREVIEW_URL_TEMPLATE": "https://edit.{clientId}.x.com/session/{threadId}/",
    "ALB_DNS_NAME": "other-alb.example.com", "PREVIEW_DOMAIN": "other.example",
    "INTERNAL_API_KEY": "another-key-123",
    "INTERNAL_API_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:k",
    "SESSIONS_TABLE": "s-table", "THREAD_MAPPINGS_TABLE": "m-table",
    "CONTAINERS_TABLE": "c-table", "CONTAINER_INDEX_NAME": "c-index", "ECS_CLUSTER": "cl2",
    "ECS_SERVICE": "sv2", "CANARY_CLIENT_ID": "otherclient", "CANARY_USER_ID": "otheruser",
    "CANARY_THREAD_ID": "other-thread", "WAKE_DEGRADED_MS": "40000", "WAKE_FAILED_MS": "70000",
    "API_DEGRADED_MS": "900", "API_FAILED_MS": "3000", "SLEEP_MODE": "force",
    "IDLE_TIMEOUT_S": "600", "SLEEP_CHECK_INTERVAL_S": "30", "WAKE_CONCURRENCY": "2",
    "WAKE_PATHS": "hermes", "CANARY_BUDGET_S": "300", "CLEANUP_RESERVE_S": "20",
    "WAKE_TIMEOUT_S": "90", "SLEEP_MARGIN_S": "10", "WARM_API_SAMPLES": "5",
    "CONNECT_TIMEOUT_S": "2", "PREVIEW_MARKER": "hello {containerId}",
    "GIT_REMOTE_URL": "/remotes/{containerId}.git", "SANDBOX_CONTROL_URL": "http://127.0.0.1:9/x",
    "LOCK_TABLE": "canary-lock", "POWERTOOLS_METRICS_NAMESPACE": "Other/Namespace",
    "CANARY_SESSION_ID": "other-session", "CANARY_SESSION_ATTRIBUTES": '{"editBranch": "b"}',
    "ECS_TASK_FAMILY": "other-family", "REPORT_BUCKET": "canary-reports",
    "CANARY_LANE": "quick", "CANARY_SESSIONS": '[{"name": "eu", "threadId": "t-eu"}]',
}


def test_every_documented_setting_is_read():
    documented = {s.var for s in SETTINGS if s.var and not s.reader}  # others: Powertools...
    assert documented - set(SAMPLES) == set(), "add a sample value for each new variable"
    base = dataclasses.asdict(CanaryConfig.from_env(BASE))
    unread = [name for name in sorted(documented)
              if dataclasses.asdict(CanaryConfig.from_env(env(**{name: SAMPLES[name]}))) == base]
    assert unread == []


def test_derived_defaults_follow_the_settings_they_derive_from():
    c = CanaryConfig.from_env(env(CANARY_BUDGET_S="100", WAKE_FAILED_MS="30000",
                                  WAKE_DEGRADED_MS="20000"))
    assert (c.cleanup_reserve_s, c.wake_timeout_s) == (10, 60)


def test_api_key_never_in_repr_or_str():
    c = CanaryConfig.from_env(BASE)
    assert SECRET not in repr(c)
    assert SECRET not in str(c)
    assert SECRET not in c.describe_thresholds()


def test_secret_arn_alone_is_enough():
    c = CanaryConfig.from_env(env(
        INTERNAL_API_KEY=None,
        INTERNAL_API_KEY_SECRET_ARN="arn:aws:secretsmanager:us-west-2:123456789012:secret:k"))
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
        sessions_table="sessions", thread_mappings_table="mappings", containers_table="containers",
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
