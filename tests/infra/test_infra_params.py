"""Deploy parameters: validated once, errors name the parameter and how to set it."""

from __future__ import annotations

import json

import pytest

from infra.params import (
    MAX_TIMEOUT_S,
    CanaryParams,
    ParamsError,
    environments_from_context,
)

pytestmark = pytest.mark.infra

VALID = {
    "hermesApiUrl": "https://alb.internal/hermes",
    "previewUrlTemplate": "https://edit.{clientId}.example.com/session/{threadId}/",
    "apiKeySecretArn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:hermes-key-AbCdEf",
    "canaryClientId": "canary",
    "canaryUserId": "canary-user",
    "canaryThreadId": "canary-thread",
}
REQUIRED = ("hermesApiUrl", "apiKeySecretArn", "canaryClientId", "canaryUserId", "canaryThreadId")


def without(key: str) -> dict:
    return {k: v for k, v in VALID.items() if k != key}


@pytest.mark.parametrize("key", REQUIRED)
def test_missing_required_parameter_is_named(key):
    with pytest.raises(ParamsError, match=rf"'staging'.*missing required parameter '{key}'"):
        CanaryParams.from_context("staging", without(key))


@pytest.mark.parametrize("key", REQUIRED)
def test_empty_required_parameter_counts_as_missing(key):
    with pytest.raises(ParamsError, match=f"missing required parameter '{key}'"):
        CanaryParams.from_context("staging", {**VALID, key: "  "})


def test_missing_preview_target_names_both_ways_to_set_it():
    with pytest.raises(ParamsError, match=r"'previewUrlTemplate'.*'albDnsName' and 'previewDom"):
        CanaryParams.from_context("staging", without("previewUrlTemplate"))


def test_alb_dns_name_without_preview_domain_names_preview_domain():
    values = {**without("previewUrlTemplate"), "albDnsName": "internal-alb.elb.amazonaws.com"}
    with pytest.raises(ParamsError, match="'previewDomain' is required"):
        CanaryParams.from_context("staging", values)


def test_alb_dns_name_with_preview_domain_is_accepted():
    values = {
        **without("previewUrlTemplate"),
        "albDnsName": "internal-alb.elb.amazonaws.com",
        "previewDomain": "webordinary.com",
    }
    params = CanaryParams.from_context("staging", values)
    assert (params.alb_dns_name, params.preview_domain) == (
        "internal-alb.elb.amazonaws.com", "webordinary.com",
    )


def test_unknown_parameter_is_named_so_typos_do_not_pass_silently():
    with pytest.raises(ParamsError, match=r"unknown parameter.*'hermesApiURL'"):
        CanaryParams.from_context("staging", {**VALID, "hermesApiURL": "https://x/hermes"})


def test_keys_starting_with_underscore_are_comments():
    params = CanaryParams.from_context("staging", {**VALID, "_comment": "example values"})
    assert params.environment == "staging"


def test_string_values_from_the_command_line_are_typed():
    params = CanaryParams.from_context(
        "staging",
        {**VALID, "scheduleMinutes": "45", "alarmEmails": "a@example.com, b@example.com"},
    )
    assert params.schedule_minutes == 45
    assert params.alarm_emails == ("a@example.com", "b@example.com")


def test_non_integer_number_is_rejected_with_its_name():
    with pytest.raises(ParamsError, match="'memorySize' must be an integer"):
        CanaryParams.from_context("staging", {**VALID, "memorySize": "lots"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("apiKeySecretArn", "my-secret", "Secrets Manager secret ARN"),
        ("hermesApiUrl", "alb.internal/hermes", "http\\(s\\) URL"),
        ("previewUrlTemplate", "https://edit.example.com/session/", "\\{clientId\\}"),
        ("sleepMode", "snooze", "one of wait, observe, force"),
        ("alarmEmails", ["not-an-address"], "invalid e-mail"),
        ("memorySize", 64, "128..10240"),
        ("logRetentionDays", 31, "CloudWatch's values"),
        ("wakeDegradedMs", 90000, "must not exceed 'wakeFailedMs'"),
    ],
)
def test_malformed_parameter_is_named_with_the_problem(key, value, message):
    with pytest.raises(ParamsError, match=f"'{key}'.*{message}"):
        CanaryParams.from_context("staging", {**VALID, key: value})


def test_trailing_slash_on_the_hermes_url_is_dropped_as_the_lambda_drops_it():
    params = CanaryParams.from_context("staging", {**VALID, "hermesApiUrl": "https://a.b/hermes/"})
    assert params.hermes_api_url == "https://a.b/hermes"
    assert params.run_config().hermes_api_url == "https://a.b/hermes"


# Each value the Lambda's config refuses fails synth, named by its parameter: the deploy
# parameters have no rules of their own for what the Lambda reads, so they cannot drift.
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("wakeConcurrency", 21, "must be 1..20"),
        ("previewMarker", "x" * 1001, "1001 characters"),
        ("gitRemoteUrl", "--upload-pack=touch /tmp/x", "not a git remote"),
        ("ecsTaskFamily", "family:3", "not a task definition family"),
        ("sessionsTable", "ab", "not a DynamoDB table"),
        ("idleTimeoutSeconds", 100_000, "at most 86400"),
        ("sessionAttributes", {"userId": "x"}, "cannot be set"),
        ("previewUrlTemplate", "https://edit.{clientId}.x.com/{site}/session/{threadId}/",
         "placeholder other than"),
        ("canaryThreadId", "canary", "equals the client id"),
    ],
)
def test_a_value_the_lambda_refuses_fails_synth_naming_its_parameter(key, value, message):
    with pytest.raises(ParamsError, match=f"parameter '{key}'.*{message}"):
        CanaryParams.from_context("staging", {**VALID, key: value})


def test_the_largest_wake_concurrency_the_lambda_accepts_deploys():
    params = CanaryParams.from_context("staging", {**VALID, "wakeConcurrency": 20})
    assert params.run_config().wake_concurrency == 20


def test_a_preview_template_with_a_fixed_host_deploys_as_it_runs():
    template = "https://edit.canary.example.com/session/{threadId}/"
    params = CanaryParams.from_context("staging", {**VALID, "previewUrlTemplate": template})
    assert params.run_config().preview_request("t1")[0] == (
        "https://edit.canary.example.com/session/t1/")


def test_wait_mode_needs_twice_the_sleep_bound_and_the_cleanup_reserve_in_the_budget():
    # bound = 60 + 10 + 60 (margin) = 130 s; the sleep step needs 2 x 130 + 1 s, cleanup 10%
    values = {**VALID, "sleepMode": "wait", "idleTimeoutSeconds": 60,
              "sleepCheckIntervalSeconds": 10}
    assert CanaryParams.from_context("staging", {**values, "budgetSeconds": 300})
    with pytest.raises(ParamsError, match=r"'sleepMode'.*'wait' needs a budget of at least 2"):
        CanaryParams.from_context("staging", {**values, "budgetSeconds": 280})


def test_schedule_must_outlast_the_sleep_bound_including_its_margin():
    # idle 1200 + check 60 + margin 60 = 1320 s = 22 min: the next run could not judge yet
    with pytest.raises(ParamsError, match=r"'scheduleMinutes'.*\(1320 s\)"):
        CanaryParams.from_context("staging", {**VALID, "scheduleMinutes": 22})
    assert CanaryParams.from_context("staging", {**VALID, "scheduleMinutes": 23})


@pytest.mark.parametrize("minutes", [5, 22, 30, 60, 240])
def test_timeout_is_below_the_schedule_and_at_most_14_minutes(minutes):
    params = CanaryParams.from_context(
        "staging", {**VALID, "scheduleMinutes": minutes, "sleepMode": "force"},
    )
    assert params.timeout_s < minutes * 60
    assert params.timeout_s <= MAX_TIMEOUT_S
    assert params.effective_budget_s < params.timeout_s


def test_schedule_shorter_than_idle_timeout_is_rejected_unless_sleep_is_forced():
    with pytest.raises(ParamsError, match=r"'scheduleMinutes'.*falls asleep between runs"):
        CanaryParams.from_context("staging", {**VALID, "scheduleMinutes": 15})


def test_wait_mode_needs_a_budget_longer_than_the_idle_timeout():
    with pytest.raises(ParamsError, match=r"'sleepMode'.*'wait' needs a budget"):
        CanaryParams.from_context("staging", {**VALID, "sleepMode": "wait"})


def test_budget_must_end_before_the_timeout():
    with pytest.raises(ParamsError, match=r"'budgetSeconds' must be 60\.\.810"):
        CanaryParams.from_context("staging", {**VALID, "budgetSeconds": 840})


def test_bad_environment_name_is_rejected():
    with pytest.raises(ParamsError, match="environment name 'Prod_1'"):
        CanaryParams.from_context("Prod_1", VALID)


def test_every_environment_becomes_params_and_overrides_apply_per_environment():
    context = {
        "environments": {"staging": VALID, "production": {**VALID, "memorySize": 1024}},
        "staging.canaryThreadId": "staging-thread",
    }
    staging, production = environments_from_context(context)
    assert (staging.stack_name, production.stack_name) == (
        "SessionResumptionCanary-staging", "SessionResumptionCanary-production",
    )
    assert staging.canary_thread_id == "staging-thread"
    assert production.canary_thread_id == VALID["canaryThreadId"]
    assert production.memory_size == 1024


def test_environments_may_be_passed_as_json_on_the_command_line():
    (params,) = environments_from_context({"environments": json.dumps({"staging": VALID})})
    assert params.environment == "staging"


def test_deploy_environments_selects_stacks_and_rejects_unknown_names():
    context = {"environments": {"staging": VALID, "production": VALID}}
    selected = environments_from_context({**context, "deployEnvironments": "production"})
    assert [p.environment for p in selected] == ["production"]
    with pytest.raises(ParamsError, match=r"unknown environment.*prod\b"):
        environments_from_context({**context, "deployEnvironments": "prod"})


def test_missing_environments_context_says_what_to_set():
    with pytest.raises(ParamsError, match="missing required context 'environments'"):
        environments_from_context({})


def test_cdk_json_example_environment_is_complete_and_marked_as_example(example_context):
    (params,) = environments_from_context(example_context)
    assert params.environment == "example"
    assert "example" in params.hermes_api_url
    assert "EXAMPLE" in example_context["environments"]["example"]["_comment"]
    assert params.schedule_minutes == 30


def test_constructing_params_directly_validates_too():
    params = CanaryParams.from_context("staging", VALID)
    values = {**params.__dict__, "canary_thread_id": None}
    with pytest.raises(ParamsError, match="missing required parameter 'canaryThreadId'"):
        CanaryParams(**values)


def test_a_quick_schedule_shorter_than_one_quick_run_is_refused_naming_the_shortest():
    with pytest.raises(ParamsError, match=r"quickScheduleMinutes.*at least 3"):
        CanaryParams.from_context("staging", {**VALID, "quickScheduleMinutes": 2})
    assert CanaryParams.from_context("staging", {**VALID, "quickScheduleMinutes": 3})
    assert CanaryParams.from_context("staging", {**VALID, "quickScheduleMinutes": 0})
