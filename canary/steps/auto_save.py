"""auto_save: a sleep's `lastAutoSave` names a pushed commit that is on the remote.

wait mode: after this run's sleep with a dirty workspace, the row's lastAutoSave must be
newer than the dirtying. observe mode: when the previous run's container went to sleep on
its own (preflight's verdict), the lastAutoSave preflight found in the row is checked if it
is newer than that run's last activity (older: that sleep saved nothing; not measured).
Either way pushed=false or a commit missing from the remote (GIT_REMOTE_URL: smart HTTP for
http(s), `git ls-remote` otherwise) is work lost. No lastAutoSave (production's container
does not report one yet) or no remote: not measured, with the reason.
"""

from __future__ import annotations

from typing import Any

from canary.clients.base import CanaryFault, canary_headers
from canary.clients.git_remote import (
    GitError,
    GitUnavailableError,
    git_ls_remote,
    http_ls_remote,
    is_http_remote,
)
from canary.models import Status, StepResult
from canary.steps.base import RunContext, Step, result

NAME = "auto_save"
GIT_TIMEOUT_S = 15.0
NO_SAVE = "the target reports no lastAutoSave (production's container does not yet)"


def run(ctx: RunContext) -> StepResult:
    mode = ctx.config.sleep_mode
    if mode == "observe":
        return _observe(ctx)
    if mode != "wait":
        return result(NAME, Status.SKIPPED,
                      f"skipped: sleep mode {mode} does not watch a dirty workspace sleep")
    if not ctx.run_state.slept or ctx.run_state.dirtied_at_ms is None:
        return result(NAME, Status.SKIPPED,
                      "skipped: no sleep with a dirty workspace in this run")
    save = (ctx.state.get_container(ctx.config.container_id) or {}).get("lastAutoSave")
    if not isinstance(save, dict) or not save:
        return result(NAME, Status.SKIPPED, f"skipped: {NO_SAVE}")
    at = save.get("at")
    if not isinstance(at, int | float) or at < ctx.run_state.dirtied_at_ms - 1000:
        return result(NAME, Status.FAILED,
                      f"lastAutoSave ({at}) is older than this sleep: the dirty work was not "
                      "saved", {**_commit(save), "auto_save_failed": 1})
    return _judge(ctx, save, "")


def _observe(ctx: RunContext) -> StepResult:
    """The previous run's sleep, from what preflight found before this run's wake."""
    prev = ctx.run_state.previous_sleep or {"unmeasured": "preflight did not judge it"}
    if "last_activity_ms" not in prev:
        why = prev.get("unmeasured") or prev.get("why") or "it did not stop on its own"
        return result(NAME, Status.SKIPPED,
                      f"skipped: not measured: the previous run's container was not seen going "
                      f"to sleep ({why})")
    save = ctx.run_state.previous_auto_save
    if not isinstance(save, dict) or not save:
        return result(NAME, Status.SKIPPED, f"skipped: not measured: {NO_SAVE}")
    at, since = save.get("at"), prev["last_activity_ms"]
    if not isinstance(at, int | float) or at <= since:
        return result(NAME, Status.SKIPPED,
                      f"skipped: not measured: lastAutoSave ({at}) is not newer than the previous "
                      f"run's last activity ({since}): that sleep saved nothing (a clean "
                      "workspace has nothing to save)", _commit(save))
    return _judge(ctx, save, "the previous run's ")


def _judge(ctx: RunContext, save: dict[str, Any], whose: str) -> StepResult:
    """pushed and on the remote, or work lost; `whose` names the sleep in the reason."""
    commit = save.get("commit")
    m: dict = _commit(save)
    failed = {**m, "auto_save_failed": 1}
    if not commit or save.get("pushed") is not True:
        return result(NAME, Status.FAILED,
                      f"{whose}lastAutoSave not pushed (commit {commit!r}, pushed "
                      f"{save.get('pushed')!r}): work would be lost", failed)
    remote = ctx.config.git_remote_for()
    if not remote:
        return result(NAME, Status.SKIPPED,
                      f"skipped: {whose}lastAutoSave says commit {str(commit)[:12]} was pushed, "
                      "but no GIT_REMOTE_URL is configured to verify it", m)
    try:
        shas = remote_commits(ctx, remote, min(GIT_TIMEOUT_S, max(1.0, ctx.remaining())))
    except GitUnavailableError as exc:
        return result(NAME, Status.SKIPPED, f"skipped: cannot verify the auto-save: {exc}", m)
    except GitError as exc:  # the canary's remote setting or access, not lost work
        raise CanaryFault(f"cannot read the git remote to verify the auto-save: {exc}") from None
    if commit not in shas:
        seen = ", ".join(dict.fromkeys(s[:12] for s in shas)) or "nothing"
        return result(NAME, Status.FAILED,
                      f"{whose}auto-save commit {str(commit)[:12]} is recorded as pushed but is "
                      f"not on the remote (it shows {seen}): work lost", failed)
    return result(NAME, Status.PASSED,
                  f"{whose}auto-save commit {str(commit)[:12]} is on the remote",
                  {**m, "auto_save_failed": 0})


def remote_commits(ctx: RunContext, remote: str, timeout_s: float) -> list[str]:
    """The remote's commits: smart HTTP through the run's client for http(s) remotes (no git
    binary needed), `git ls-remote` (or the test's stand-in) for anything else."""
    if is_http_remote(remote):
        return http_ls_remote(ctx.preview.http, ctx.clock, remote, timeout_s,
                              canary_headers(ctx.run_id))
    return (ctx.git_ls_remote or git_ls_remote)(remote, timeout_s)


def _commit(save: dict[str, Any]) -> dict[str, Any]:
    commit = save.get("commit")
    return {"commit": str(commit)[:12] if commit else None}


STEP = Step(NAME, run, ("preflight",), {"AutoSaveFailed": "auto_save_failed"})
