"""Reading a remote's commits without a git binary: git's smart HTTP ref advertisement
(pkt-line) served by the real `git http-backend` over loopback, and the parser's answer to
malformed or hostile advertisements."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from git_http_backend import http_backend, serving

from canary.clients.git_remote import (
    CONTENT_TYPE,
    GitError,
    http_ls_remote,
    is_http_remote,
    parse_advertisement,
)
from canary.clients.transport import http_client
from canary.clock import SystemClock

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "init.defaultBranch=main"]
A = "a" * 40
B = "b" * 40


def pkt(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return b"%04x" % (len(data) + 4) + data


FLUSH = b"0000"
SERVICE = pkt("# service=git-upload-pack\n") + FLUSH


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    """A project root with `full.git` (two branches and an annotated tag) and `empty.git`."""
    root = tmp_path / "srv"
    work = tmp_path / "work"
    git("init", "-q", "--bare", str(root / "full.git"))
    git("init", "-q", "--bare", str(root / "empty.git"))
    git("init", "-q", str(work))
    (work / "f").write_text("one")
    git("add", "f", cwd=work)
    git("commit", "-qm", "one", cwd=work)
    git("tag", "-a", "v1", "-m", "v1", cwd=work)
    git("checkout", "-qb", "side", cwd=work)
    (work / "f").write_text("two")
    git("commit", "-qam", "two", cwd=work)
    git("push", "-q", str(root / "full.git"), "main", "side", "v1", cwd=work)
    return root


@pytest.fixture
def backend(repos: Path) -> Iterator[str]:
    with http_backend(repos) as url:
        yield url


def answering(status: int, body: bytes, content_type: str = CONTENT_TYPE,
              seen: list[dict[str, str]] | None = None, **headers: str
              ) -> Iterator[str]:
    def handle(req: BaseHTTPRequestHandler) -> None:
        if seen is not None:
            seen.append({k.lower(): v for k, v in req.headers.items()})
        req.send_response(status)
        req.send_header("Content-Type", content_type)
        for name, value in headers.items():
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    with serving(handle) as url:
        yield url


def ls_http(url: str, timeout_s: float = 5.0) -> list[str]:
    with http_client() as http:
        return http_ls_remote(http, SystemClock(), url, timeout_s, {"User-Agent": "canary-test"})


# -- against git http-backend -----
def test_smart_http_lists_the_commits_git_ls_remote_lists(backend, repos):
    expected = [line.split()[0] for line in git("ls-remote", str(repos / "full.git")).splitlines()]
    got = ls_http(f"{backend}/full.git")
    assert sorted(set(got)) == sorted(set(expected))
    assert len(set(got)) == 3  # main, side and the tag object (plus its peeled commit)


def test_an_empty_repository_advertises_no_commits(backend):
    assert ls_http(f"{backend}/empty.git/") == []


def test_a_missing_repository_is_a_clear_error(backend):
    with pytest.raises(GitError, match="HTTP 404"):
        ls_http(f"{backend}/nowhere.git")


# -- what the remote answers instead -----
def test_credentials_in_the_url_go_as_basic_auth_and_never_into_the_reason():
    seen: list[dict[str, str]] = []
    for base in answering(401, b"no", "text/plain", seen):
        url = base.replace("http://", "http://bot:s3cr3t-t0ken@") + "/r.git"
        with pytest.raises(GitError) as err:
            ls_http(url)
    assert seen[0]["authorization"] == "Basic " + base64.b64encode(b"bot:s3cr3t-t0ken").decode()
    assert "refused" in str(err.value) and "s3cr3t" not in str(err.value)


def test_a_login_page_is_not_taken_for_a_git_server():
    for base in answering(200, b"<html>sign in</html>", "text/html"):
        with pytest.raises(GitError, match="not a smart HTTP git server"):
            ls_http(base + "/r.git")


def test_a_redirect_is_reported_without_its_query():
    for base in answering(302, b"", Location="https://elsewhere.test/r.git?token=abc"):
        with pytest.raises(GitError, match=r"redirect to https://elsewhere\.test/r\.git") as err:
            ls_http(base + "/r.git")
    assert "token" not in str(err.value)


def test_an_oversized_advertisement_is_refused_not_read(monkeypatch):
    import canary.clients.git_remote as gr

    monkeypatch.setattr(gr, "MAX_ADVERTISEMENT_BYTES", 1024)
    body = SERVICE + b"".join(pkt(f"{A} refs/tags/t{i}\n") for i in range(100)) + FLUSH
    for base in answering(200, body):
        with pytest.raises(GitError, match="over 1024 bytes"):
            ls_http(base + "/r.git")


def test_only_http_and_https_remotes_are_read_over_http():
    assert is_http_remote("https://git.example.com/r.git")
    assert is_http_remote("HTTP://127.0.0.1:8080/r")
    assert not is_http_remote("/remotes/c.git")
    assert not is_http_remote("file:///remotes/c.git")
    assert not is_http_remote("git@github.com:o/r.git")


# -- the pkt-line parser -----
def test_the_parser_reads_refs_capabilities_and_peeled_tags():
    body = (SERVICE + pkt(f"{A} HEAD\0multi_ack side-band-64k\n") + pkt(f"{A} refs/heads/main\n")
            + pkt(f"{B} refs/tags/v1^{{}}\n") + FLUSH)
    assert parse_advertisement(body) == [A, A, B]


def test_the_parser_accepts_sha256_ids_and_no_service_line():
    oid = "c" * 64
    assert parse_advertisement(pkt(f"{oid} refs/heads/main\0caps\n") + FLUSH) == [oid]


@pytest.mark.parametrize(("body", "why"), [
    (b"", "does not end with one flush"),
    (SERVICE + pkt(f"{A} refs/heads/main\n"), "does not end with one flush"),
    (SERVICE + b"ffff" + b"x" * 10, "packet length 65535"),
    (SERVICE + b"00zz" + FLUSH, "bad packet length"),
    (SERVICE + b"0001" + FLUSH, "packet length 1"),
    (SERVICE + pkt(f"{A} refs/heads/main\n")[:-5], "cut short"),
    (SERVICE + pkt("not-a-sha refs/heads/main\n") + FLUSH, "not a ref line"),
    (SERVICE + pkt(f"{A}\n") + FLUSH, "not a ref line"),
    (SERVICE + pkt("ERR access denied\n") + FLUSH, "the remote said"),
    (pkt("# service=git-receive-pack\n") + FLUSH + FLUSH, "not git-upload-pack"),
    (pkt("# service=git-upload-pack\n") + pkt(f"{A} refs/heads/main\n") + FLUSH, "no flush"),
    (SERVICE + FLUSH + pkt(f"{A} refs/heads/main\n") + FLUSH, "does not end with one flush"),
], ids=["empty", "no-final-flush", "huge-length", "non-hex-length", "v2-delim", "truncated",
        "bad-oid", "no-ref-name", "err-packet", "wrong-service", "service-without-flush",
        "flush-in-the-middle"])
def test_a_malformed_advertisement_raises_a_clear_reason(body, why):
    with pytest.raises(GitError, match=why):
        parse_advertisement(body)


def test_too_many_refs_are_refused(monkeypatch):
    import canary.clients.git_remote as gr

    monkeypatch.setattr(gr, "MAX_REFS", 10)
    body = SERVICE + pkt(f"{A} refs/tags/x\n") * 20 + FLUSH
    with pytest.raises(GitError, match="over 10 refs"):
        parse_advertisement(body)
