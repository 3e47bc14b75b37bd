"""Which commits a git remote has, as `git ls-remote` would list them.

http:// and https:// remotes are read over git's smart HTTP protocol
(`GET {remote}/info/refs?service=git-upload-pack`, pkt-line framed) through the run's httpx
client, because the Lambda runtime has no git binary. Local paths and file:// (the sandbox's
bare repositories) and ssh remotes still go through `git ls-remote`.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from canary.clients.base import exchange
from canary.clock import Clock

SERVICE = "git-upload-pack"
CONTENT_TYPE = f"application/x-{SERVICE}-advertisement"
MAX_ADVERTISEMENT_BYTES = 4 * 1024 * 1024  # ~50 000 refs; more is not a workspace remote
MAX_REFS = 100_000
_MAX_PKT = 65520  # git's LARGE_PACKET_MAX
_OID = re.compile(rb"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_ZERO_OID = re.compile(rb"^0+$")


class GitError(Exception):
    """When the remote's refs could not be read (failed, timed out, or answered nonsense)."""


class GitUnavailableError(GitError):
    """When there is no git executable (e.g. the Lambda runtime) for a non-HTTP remote."""


def is_http_remote(remote: str) -> bool:
    return remote.lower().startswith(("http://", "https://"))


def git_ls_remote(remote: str, timeout_s: float) -> list[str]:
    """The commit SHAs of every ref on a remote git itself can reach (paths, file://, ssh)."""
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


def http_ls_remote(http: httpx.Client, clock: Clock, remote: str, timeout_s: float,
                   headers: dict[str, str]) -> list[str]:
    """The commit SHAs the remote advertises over smart HTTP. Credentials in the URL's
    user-info are sent as Basic auth and never shown (exchange() masks Authorization)."""
    try:
        url, auth = _split_credentials(remote)
    except ValueError:
        raise GitError("GIT_REMOTE_URL is not a valid URL (its host or port)") from None
    sent = {**headers, "Accept": CONTENT_TYPE}
    if auth:
        sent["Authorization"] = auth
    ans = exchange(http, clock, "GET", f"{url.rstrip('/')}/info/refs?service={SERVICE}",
                   headers=sent, timeout_s=timeout_s, max_body_bytes=MAX_ADVERTISEMENT_BYTES)
    where = _shown(url)
    if ans.transport_failure:
        raise GitError(f"reading the remote's refs: {ans.error}")
    if 300 <= ans.status < 400:
        to = _shown(ans.headers.get("location", "")) or "nowhere"
        raise GitError(f"{where} answered HTTP {ans.status}, a redirect to {to}; set "
                       "GIT_REMOTE_URL to the repository's final URL")
    if ans.status in (401, 403):
        raise GitError(f"{where} refused the canary (HTTP {ans.status}): the remote needs "
                       "credentials it does not have")
    if ans.status != 200:
        raise GitError(f"{where} answered HTTP {ans.status} {ans.snippet(80)!r}, not its refs")
    kind = ans.content_type.split(";")[0].strip().lower()
    if kind != CONTENT_TYPE:
        raise GitError(f"{where} is not a smart HTTP git server (Content-Type "
                       f"{kind or 'none'!r}, not {CONTENT_TYPE}): is GIT_REMOTE_URL a git "
                       "repository URL?")
    if ans.truncated:
        raise GitError(f"{where}'s ref list is over {MAX_ADVERTISEMENT_BYTES} bytes: not read")
    return parse_advertisement(ans.body)


def parse_advertisement(body: bytes) -> list[str]:
    """The object ids of an upload-pack ref advertisement (protocol v0/v1, pkt-line framed):
    optional `# service=` announcement and flush, then one `<oid> <ref>` line per ref (the
    first also carries capabilities after NUL), then a flush. Anything else raises GitError."""
    pkts = _pkt_lines(body)
    if pkts and pkts[0] is not None and pkts[0].startswith(b"# service="):
        if pkts[0].rstrip(b"\n") != b"# service=" + SERVICE.encode():
            raise GitError(f"the remote announced {_quote(pkts[0])}, not {SERVICE}")
        if len(pkts) < 2 or pkts[1] is not None:
            raise GitError("malformed ref advertisement: no flush packet after the service line")
        pkts = pkts[2:]
    if not pkts or pkts[-1] is not None or None in pkts[:-1]:
        raise GitError("malformed ref advertisement: the ref list does not end with one flush "
                       "packet (cut short?)")
    oids: list[str] = []
    for pkt in pkts[:-1]:
        oids.extend(_ref_oid(pkt))
    return oids


def _pkt_lines(body: bytes) -> list[bytes | None]:
    """Split pkt-line framing; None stands for a flush packet (0000)."""
    out: list[bytes | None] = []
    i = 0
    while i < len(body):
        head = body[i:i + 4]
        if len(head) < 4 or not re.fullmatch(rb"[0-9a-fA-F]{4}", head):
            raise GitError(f"malformed ref advertisement: bad packet length {_quote(head)} at "
                           f"byte {i}")
        size = int(head, 16)
        if size == 0:
            out.append(None)
            i += 4
            continue
        if size < 4 or size > _MAX_PKT:
            raise GitError(f"malformed ref advertisement: packet length {size} at byte {i} "
                           "(protocol v2 or not git)")
        if i + size > len(body):
            raise GitError(f"malformed ref advertisement: packet at byte {i} claims {size} "
                           f"bytes, {len(body) - i} remain (cut short)")
        out.append(body[i + 4:i + size])
        i += size
        if len(out) > MAX_REFS + 3:
            raise GitError(f"the remote advertises over {MAX_REFS} refs: not read")
    return out


def _ref_oid(pkt: bytes) -> list[str]:
    """The object id of one ref line; [] for an empty repository's capabilities line."""
    if pkt.startswith(b"ERR "):
        raise GitError(f"the remote said: {_quote(pkt[4:])}")
    line = pkt.split(b"\0", 1)[0].rstrip(b"\n")
    oid, _, ref = line.partition(b" ")
    if not _OID.match(oid) or not ref or b" " in ref:
        raise GitError(f"malformed ref advertisement: not a ref line: {_quote(pkt)}")
    if _ZERO_OID.match(oid) and ref == b"capabilities^{}":
        return []
    return [oid.decode("ascii")]


def _split_credentials(remote: str) -> tuple[str, str | None]:
    """The URL without user-info, and the Basic Authorization value it carried (or None)."""
    parts = urlsplit(remote)
    if parts.username is None and parts.password is None:
        return remote, None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"


def _shown(url: str) -> str:
    """A URL fit for a reason: no user-info, no query (either may hold a credential)."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = (parts.netloc.rsplit("@", 1)[-1])
    return urlunsplit((parts.scheme, host, parts.path, "", ""))[:160]


def _quote(raw: bytes) -> str:
    return repr(raw[:80].decode("utf-8", errors="replace"))
