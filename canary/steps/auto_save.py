"""auto_save: after a sleep with a dirty workspace, `lastAutoSave` names a pushed commit that
is on the remote (`git ls-remote`). Skipped, with the reason, where the target reports no
lastAutoSave or no remote is configured."""

from __future__ import annotations

import os
import subprocess

from canary.models import Status, StepResult
from canary.steps.base import RunContext, Step, result

NAME = "auto_save"
GIT_TIMEOUT_S = 15.0


class GitError(Exception):
    """When `git ls-remote` fails or times out."""


class GitUnavailableError(GitError):
    """When there is no git executable (e.g. the Lambda runtime)."""


def git_ls_remote(remote: str, timeout_s: float) -> list[str]:
    """The commit SHAs of every ref on the remote."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    try:
        proc = subprocess.run(["git", "ls-remote", remote], capture_output=True, text=True,
                              timeout=timeout_s, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise GitError(f"git ls-remote timed out after {timeout_s:.0f} s") from None
    except FileNotFoundError:
        raise GitUnavailableError("no git executable on this host") from None
    except OSError as exc:
        raise GitError(f"git ls-remote could not run: {exc}") from None
    if proc.returncode != 0:
        raise GitError(f"git ls-remote failed ({proc.returncode}): {proc.stderr.strip()[:200]}")
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    if c.sleep_mode != "wait":
        return result(NAME, Status.SKIPPED,
                      f"skipped: sleep mode {c.sleep_mode} does not watch a dirty workspace sleep")
    if not ctx.run_state.slept or ctx.run_state.dirtied_at_ms is None:
        return result(NAME, Status.SKIPPED,
                      "skipped: no sleep with a dirty workspace in this run")
    row = ctx.state.get_container(c.container_id) or {}
    save = row.get("lastAutoSave")
    if not isinstance(save, dict) or not save:
        return result(NAME, Status.SKIPPED,
                      "skipped: the target reports no lastAutoSave (production's container "
                      "does not yet)")
    commit = save.get("commit")
    at = save.get("at")
    m: dict = {"commit": str(commit)[:12] if commit else None}
    failed = {**m, "auto_save_failed": 1}
    if not isinstance(at, int | float) or at < ctx.run_state.dirtied_at_ms - 1000:
        return result(NAME, Status.FAILED,
                      f"lastAutoSave ({at}) is older than this sleep: the dirty work was not "
                      "saved", failed)
    if not commit or not save.get("pushed"):
        return result(NAME, Status.FAILED,
                      f"lastAutoSave not pushed (commit {commit!r}, pushed "
                      f"{save.get('pushed')!r}): work would be lost", failed)
    remote = c.git_remote_for()
    if not remote:
        return result(NAME, Status.SKIPPED,
                      f"skipped: lastAutoSave says commit {str(commit)[:12]} was pushed, but no "
                      "GIT_REMOTE_URL is configured to verify it", m)
    ls = ctx.git_ls_remote or git_ls_remote
    try:
        shas = ls(remote, min(GIT_TIMEOUT_S, max(1.0, ctx.remaining())))
    except GitUnavailableError as exc:
        return result(NAME, Status.SKIPPED, f"skipped: cannot verify the auto-save: {exc}", m)
    except GitError as exc:
        return result(NAME, Status.FAILED, f"cannot verify the auto-save: {exc}", m)
    if commit not in shas:
        seen = ", ".join(dict.fromkeys(s[:12] for s in shas)) or "nothing"
        return result(NAME, Status.FAILED,
                      f"auto-save commit {str(commit)[:12]} is recorded as pushed but is not on "
                      f"the remote (ls-remote shows {seen})"
                      ": work lost", failed)
    return result(NAME, Status.PASSED,
                  f"auto-save commit {str(commit)[:12]} is on the remote", {**m,
                                                                             "auto_save_failed": 0})


STEP = Step(NAME, run, ("preflight", "sleep"), {"AutoSaveFailed": "auto_save_failed"})
