"""`python -m canary run --target env --dry-run`: what a run would touch, and nothing more.

Built from the validated CanaryConfig and the same derivations the run uses (the clients'
URLs, `canary/footprint.py`'s tables and keys that IAM grants, `canary/tasks.py`'s
ownership rule), so an engineer can check a deployment's settings before the first real
run. No network call: no client is built, no key is read, no name is resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from canary.clients.git_remote import _shown as shown_remote
from canary.clients.hermes import RESUME_PATH
from canary.footprint import table_uses
from canary.lanes import Lane, lock_id, parse_lane
from canary.lock import DEFAULT_LOCK_ID, PARTITION_KEY
from canary.scenario import Scenario
from canary.steps import auth, hermes_not_found, router_not_found, sleep, websocket
from canary.tasks import MAX_DESCRIBED, MAX_LIST_PAGES, STOP_REASON, SessionIdentity

RUN_ID = "{runId}"  # what the probes' unknown thread ids contain: the run's id, made per run
_PROBES = (hermes_not_found, router_not_found, auth)  # each step's own probe_thread(run_id)
_VERBS = {"GetItem": "read", "Query": "read", "PutItem": "write", "UpdateItem": "write",
          "DeleteItem": "delete"}


def plan(config: Any, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What a run with `config` would touch, as a JSON-ready document."""
    env = environ or {}
    return {
        "dry_run": True,
        "target": config.target,
        "environment": config.environment,
        "lane": getattr(config, "lane", "full"),
        "endpoints": _endpoints(config, env),
        "sessions": [_session(s) for s in _sessions(config)],
    }


def _sessions(config: Any) -> list[Any]:
    """One run config per synthetic session (CANARY_SESSIONS), with the lane's ids."""
    return list(config.run_configs())


def _endpoints(config: Any, env: Mapping[str, str]) -> dict[str, Any]:
    aws = {"region": config.region,
           "endpoint": config.aws_endpoint_url or f"AWS's public endpoints in {config.region}",
           "profile": env.get("AWS_PROFILE") or "unset: boto3's default credential chain",
           "services": ["dynamodb", "ecs"]}
    if config.api_key_secret_arn and not config.api_key:
        aws["services"].append("secretsmanager")
        key = f"read from Secrets Manager: {config.api_key_secret_arn}"
    else:
        key = "INTERNAL_API_KEY (set; never shown)"
    url, headers = config.preview_request("{threadId}")
    return {
        "hermes": {"url": config.hermes_api_url,
                   "resume_preview": f"POST {config.hermes_api_url}{RESUME_PATH}",
                   "api_key": key},
        "preview": {"url": url,
                    "host": headers.get("Host", "the URL's own host")},
        "aws": aws,
        "git_remote": shown_remote(config.git_remote_for()) if config.git_remote_url else
        "unset: the remote check is skipped",
        "lock_table": config.lock_table or "unset: no memory between runs",
    }


def _session(config: Any) -> dict[str, Any]:
    identity = SessionIdentity(config.client_id, config.thread_id, config.session_id,
                               config.container_id)
    url, headers = config.preview_request(config.thread_id)
    ws_url, _ = config.preview_request(config.thread_id, websocket.PATH)
    probes = {step.NAME: step.probe_thread(RUN_ID) for step in _PROBES}
    return {
        "name": config.session_label,
        "client_id": identity.client_id,
        "user_id": config.user_id,
        "thread_id": identity.thread_id,
        "session_id": identity.session_id,
        "container_id": identity.container_id,
        "session_row_extras": config.session_row_extras(),
        "sleep_mode": config.sleep_mode,
        "wake_paths": list(config.wake_paths),
        "requests": {
            "resume_preview": {"chatThreadId": identity.thread_id,
                               "clientId": identity.client_id},
            "preview": {"url": url, **({"host": headers["Host"]} if headers else {})},
            "websocket": f"GET {ws_url} with a WebSocket upgrade",
            "probes": probes,
        },
        "leaves_running": _leaves_running(config),
        "problems": _problems(config),
        "tables": [_table(t) for t in table_uses(config)],
        "canary_table": _canary_table(config),
        "ecs": _ecs(config, identity),
    }


def _leaves_running(config: Any) -> str | None:
    """What a run leaves up on purpose (cleanup stops everything else of the session)."""
    if parse_lane(config.lane) is Lane.QUICK:
        return ("the session's one task and its thread mapping, kept warm for the next quick "
                "run (`canary retire --lane quick` removes them)")
    if sleep.NAME in Scenario.for_lane(config.lane).names and config.sleep_mode == "observe":
        return "the session's task, left to fall asleep by itself (the next run judges it)"
    return None


def _problems(config: Any) -> list[str]:
    """Settings this run cannot honour (what synth refuses, infra/params.py)."""
    needs = config.wait_mode_needs_s + config.cleanup_reserve_s
    if (sleep.NAME in Scenario.for_lane(config.lane).names and config.sleep_mode == "wait"
            and needs > config.budget_s):
        return [f"SLEEP_MODE=wait needs a budget of at least {needs:.0f} s (twice the sleep "
                f"bound plus the cleanup reserve) but CANARY_BUDGET_S is {config.budget_s:g} s: "
                "the sleep step would be skipped; use SLEEP_MODE=observe or raise the budget"]
    return []


def _table(use: Any) -> dict[str, Any]:
    done = {_VERBS[a.split(":", 1)[1]] for a in use.actions}
    verbs = [v for v in ("read", "write", "delete") if v in done]
    return {"table": use.name, "key": use.key_attribute, "keys": list(use.keys),
            "actions": list(use.actions), "does": verbs}


def _canary_table(config: Any) -> dict[str, Any] | None:
    """The canary's own table: the memory item of observe mode (the Lambda also takes the lock
    item there; the CLI takes no lock)."""
    if not config.lock_table:
        return None
    from canary.memory import RunMemory

    memory = RunMemory(None, config.lock_table, config.container_id)
    return {"table": config.lock_table, "key": PARTITION_KEY,
            "memory_item": memory.key[PARTITION_KEY]["S"],
            "lambda_lock_item": lock_id(DEFAULT_LOCK_ID, config.lane)}


def _ecs(config: Any, identity: SessionIdentity) -> dict[str, Any]:
    family = config.ecs_task_family or "learnt from the first task proven the session's"
    return {
        "cluster": config.ecs_cluster,
        "service": config.ecs_service,
        "task_family": family,
        "reads": f"ListTasks (at most {MAX_LIST_PAGES} pages per status and family) and "
                 f"DescribeTasks (at most {MAX_DESCRIBED} per scan) in the cluster",
        "may_stop": (
            f"only tasks of cluster {config.ecs_cluster} whose container overrides' values "
            f"name client {identity.client_id!r} together with session "
            f"{identity.session_id!r}, thread {identity.thread_id!r} or container "
            f"{identity.container_id!r}; or whose ARN both Hermes's 201 and the containers "
            f"row {identity.container_id!r} name while their overrides name no other client. "
            "A task a single response names is never stopped."
        ),
        "stop_reason": STOP_REASON,
    }


def render(doc: dict[str, Any]) -> str:
    """The plan for a person: one block per endpoint group and per session."""
    ep = doc["endpoints"]
    lines = [f"dry run: what `canary run --target {doc['target']}` ({doc['environment']}, "
             f"{doc['lane']} lane) would touch; nothing was contacted", "", "endpoints:",
             f"  Hermes      {ep['hermes']['resume_preview']}",
             f"  API key     {ep['hermes']['api_key']}",
             f"  preview     GET {ep['preview']['url']} (Host: {ep['preview']['host']})",
             f"  AWS         {ep['aws']['endpoint']}, region {ep['aws']['region']}, profile "
             f"{ep['aws']['profile']} ({', '.join(ep['aws']['services'])})",
             f"  git remote  {ep['git_remote']}",
             f"  own table   {ep['lock_table']}"]
    for s in doc["sessions"]:
        lines += ["", f"synthetic session {s['name']}: {s['client_id']}/{s['thread_id']} (user "
                  f"{s['user_id']}; container {s['container_id']}; session {s['session_id']}; "
                  f"sleep mode {s['sleep_mode']}; wakes {','.join(s['wake_paths'])})",
                  f"  resume-preview body {s['requests']['resume_preview']}",
                  f"  preview GET {s['requests']['preview']['url']}",
                  f"  websocket {s['requests']['websocket']}",
                  "  probes (unknown threads, nothing is created for them) "
                  + ", ".join(f"{k} {v!r}" for k, v in s["requests"]["probes"].items())]
        lines += [f"  PROBLEM: {p}" for p in s["problems"]]
        if s["leaves_running"]:
            lines.append(f"  leaves running: {s['leaves_running']}")
        lines.append("  tables:")
        for t in s["tables"]:
            lines.append(f"    {t['table']}: {'/'.join(t['does'])} {t['key']} in "
                         f"{t['keys']} ({', '.join(a.split(':', 1)[1] for a in t['actions'])})")
        if s["session_row_extras"]:
            lines.append(f"    session row extras: {s['session_row_extras']}")
        own = s["canary_table"]
        if own:
            lines.append(f"    {own['table']}: read/write/delete {own['key']} "
                         f"{own['memory_item']!r} (the Lambda also takes lock "
                         f"{own['lambda_lock_item']!r})")
        ecs = s["ecs"]
        lines += [f"  ECS cluster {ecs['cluster']} (service {ecs['service']}, task family "
                  f"{ecs['task_family']}): {ecs['reads']}",
                  f"  may stop: {ecs['may_stop']} Stops carry the reason "
                  f"{ecs['stop_reason']!r}."]
    return "\n".join(lines) + "\n"
