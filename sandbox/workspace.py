"""Git for the edit containers: a bare origin per containerId and a working copy per task.

Every git call passes its own identity and branch settings and ignores the global
and system config, so it works on a machine with no git identity at all.
"""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

GIT_IDENTITY = (
    "-c", "user.name=Webordinary Container", "-c", "user.email=container@sandbox.invalid"
)
_GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}
_GIT_ENV.pop("GIT_DIR", None)
_GIT_ENV.pop("GIT_WORK_TREE", None)
BRANCH = "main"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{client_id} (edit preview)</title></head>
<body><h1>{client_id}</h1><p>Edit preview of thread {thread_id}.</p>
<!-- webordinary-preview:{container_id} -->
<p class="marker">webordinary-preview:{container_id}</p></body></html>
"""


class GitError(RuntimeError):
    """When a git command exits non-zero."""


def git(cwd: Path, *args: str) -> str:
    cmd = [
        "git", *GIT_IDENTITY, "-c", f"init.defaultBranch={BRANCH}", "-c", "commit.gpgsign=false",
        *args,
    ]
    proc = subprocess.run(
        cmd, cwd=cwd, env=_GIT_ENV, capture_output=True, text=True, timeout=30, check=False
    )
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    return proc.stdout.strip()


@dataclass(frozen=True)
class AutoSave:
    at_ms: int
    commit: str
    pushed: bool


class Workspaces:
    """All git state of one sandbox, under one root directory (removed with the sandbox)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._counter = 0

    def remote_path(self, container_id: str) -> Path:
        return self.root / "origins" / f"{container_id}.git"

    @property
    def remote_template(self) -> str:
        return str(self.root / "origins" / "{containerId}.git")

    def checkout(self, container_id: str, client_id: str, thread_id: str) -> WorkingCopy:
        """A fresh working copy for a starting container (the origin is seeded on first use)."""
        with self._lock:
            self._counter += 1
            n = self._counter
            origin = self.remote_path(container_id)
            work = self.root / "work" / f"{container_id}-{n}"
            work.parent.mkdir(parents=True, exist_ok=True)
            if not origin.exists():
                origin.mkdir(parents=True)
                git(origin, "init", "--bare", "-b", BRANCH)
                work.mkdir()
                git(work, "init", "-b", BRANCH)
                (work / "index.html").write_text(
                    PAGE.format(client_id=client_id, thread_id=thread_id, container_id=container_id)
                )
                git(work, "add", "-A")
                git(work, "commit", "-q", "-m", "Initial site")
                git(work, "remote", "add", "origin", str(origin))
                git(work, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
            else:
                git(work.parent, "clone", "-q", "-b", BRANCH, str(origin), str(work))
        return WorkingCopy(work)


class WorkingCopy:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def page(self) -> bytes:
        return (self.path / "index.html").read_bytes()

    def make_dirty(self) -> Path:
        """Sandbox-only: an uncommitted change, as an editing session would leave."""
        # A name never used before: a re-woken container starts from the saved work,
        # so a per-container counter would rewrite an already-committed file unchanged.
        edit = uuid.uuid4().hex[:12]
        f = self.path / f"sandbox-edit-{edit}.txt"
        f.write_text(f"uncommitted edit {edit}\n")
        return f

    def break_remote(self) -> None:
        """Fault injection: point origin at a path that does not exist."""
        git(self.path, "remote", "set-url", "origin", str(self.path / "no-such-origin.git"))

    def is_dirty(self) -> bool:
        return bool(git(self.path, "status", "--porcelain"))

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def auto_save(self, message: str, push: bool, at_ms: int) -> AutoSave | None:
        """If dirty: stage all, commit, push (unless told not to). None when clean.

        `pushed` is what really happened; a failed push does not stop the container.
        """
        with self._lock:
            if not self.is_dirty():
                return None
            git(self.path, "add", "-A")
            git(self.path, "commit", "-q", "-m", message)
            commit = self.head()
            pushed = False
            if push:
                try:
                    git(self.path, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
                    pushed = True
                except GitError:
                    pushed = False  # the commit stays local; recorded as not pushed
            return AutoSave(at_ms=at_ms, commit=commit, pushed=pushed)
