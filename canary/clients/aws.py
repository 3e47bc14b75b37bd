"""AWS calls: clients with short timeouts, each call bounded by the run's deadline, and every
failure turned into one clear reason.

A failing AWS dependency shows up in many shapes: a hang (ReadTimeoutError), a reset
(ConnectionClosedError), a bad endpoint (EndpointConnectionError), throttling, a 5xx, a
proxy's HTML page (an error botocore names after the status code, or a 2xx it parses
into an empty result). `describe_aws_error` names each; `aws_call` wraps it in a
TargetError naming the operation; `BoundedClient` stops waiting for a call at the
deadline; `is_configuration_error` tells the deployment's mistakes (a missing secret,
no permission) from the service's failures (a timeout, a 500).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from canary.clients.base import CanaryFault, TargetError
from canary.deadline import Deadline, TimeUp, bounded

CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
TOTAL_ATTEMPTS = 2  # one retry: a throttled or reset call gets a second chance, no more
MESSAGE_CHARS = 150

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "RequestLimitExceededException",
    "SlowDown", "LimitExceededException",
})
CONFIGURATION_CODES = frozenset({
    "ResourceNotFoundException", "AccessDeniedException", "AccessDenied",
    "UnauthorizedOperation", "UnrecognizedClientException", "InvalidSignatureException",
    "InvalidClientTokenId", "ExpiredTokenException", "ValidationException",
    "InvalidParameterException", "InvalidRequestException", "DecryptionFailure",
    "ClusterNotFoundException", "KMSAccessDeniedException",
})


class AwsAnswerError(Exception):
    """A 2xx answer that is not AWS's (an HTML page from a proxy): botocore would parse it
    into an empty result, which reads as "no such item"."""


def client_config(user_agent_extra: str | None = None) -> Any:
    """botocore Config: short connect/read timeouts, one retry (a hanging endpoint costs
    at most ~2 x (connect + read) even where no deadline bounds the call)."""
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": TOTAL_ATTEMPTS, "mode": "standard"},
        max_pool_connections=16, user_agent_extra=user_agent_extra,
    )


def make_client(session: Any, service: str, **kwargs: Any) -> Any:
    """A boto3 client (of a JSON-protocol service: DynamoDB, ECS, Secrets Manager) that
    rejects a 2xx answer which is a web page, not AWS JSON."""
    client = session.client(service, config=client_config(_user_agent()), **kwargs)
    client.meta.events.register("after-call", _reject_web_pages)
    return client


def _user_agent() -> str:
    from canary import USER_AGENT

    return USER_AGENT


def _reject_web_pages(http_response: Any = None, **_: Any) -> None:
    """The body decides, not the content type (moto's server labels its JSON text/html):
    AWS's JSON APIs answer `{...}` or nothing; a page starts with `<`."""
    if http_response is None or http_response.status_code >= 300:
        return  # errors are raised by botocore and described below
    body = (http_response.content or b"").lstrip()
    if body and not body.startswith((b"{", b"[")):
        content_type = http_response.headers.get("content-type", "?").split(";")[0]
        raise AwsAnswerError(
            f"HTTP {http_response.status_code} answer with a {content_type} body, not AWS "
            f"JSON (a proxy or captive page in front of the endpoint?)"
        )


def describe_aws_error(exc: BaseException) -> str:
    """One line naming what went wrong, for every shape an AWS failure takes."""
    if isinstance(exc, TimeUp | AwsAnswerError):
        return str(exc)
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        return _describe_client_error(exc)
    url = getattr(exc, "kwargs", {}).get("endpoint_url", "")
    at = f" ({url})" if url else ""
    if isinstance(exc, bx.ConnectTimeoutError):
        return f"could not connect within {CONNECT_TIMEOUT_S:g} s{at}"
    if isinstance(exc, bx.ReadTimeoutError):
        return (f"no answer within the read timeout of {READ_TIMEOUT_S:g} s "
                f"({TOTAL_ATTEMPTS} attempts){at}")
    if isinstance(exc, bx.ConnectionClosedError):
        return f"connection closed or reset before an answer{at}"
    if isinstance(exc, bx.EndpointConnectionError):
        return f"could not connect to the endpoint{at}"
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return f"no usable AWS credentials ({type(exc).__name__})"
    if isinstance(exc, bx.NoRegionError):
        return "no AWS region configured (AWS_REGION)"
    if isinstance(exc, bx.ResponseParserError):
        return "an answer that is not AWS JSON (unparseable)"
    return f"{type(exc).__name__}: {_short(str(exc))}"


def _describe_client_error(exc: Any) -> str:
    response = exc.response if isinstance(getattr(exc, "response", None), dict) else {}
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    status = meta.get("HTTPStatusCode")
    content_type = str((meta.get("HTTPHeaders") or {}).get("content-type", ""))
    code = str(error.get("Code") or "ClientError")
    message = _short(str(error.get("Message") or ""))
    if code.isdigit():  # botocore found no AWS error in the body: it names the status instead
        return (f"HTTP {status} with a {content_type.split(';')[0] or 'non-JSON'} page, not an "
                f"AWS answer (a proxy or load balancer in front of the endpoint?)")
    if code in THROTTLING_CODES or status == 429:
        return f"throttled: {code} {message}".rstrip()
    if isinstance(status, int) and status >= 500:
        return f"AWS server error HTTP {status}: {code} {message}".rstrip()
    return f"{code} {message}".rstrip()


def is_configuration_error(exc: BaseException) -> bool:
    """True when the deployment is wrong (missing resource, no permission, no credentials),
    False when the service failed (timeout, reset, 5xx, throttling, a web page)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        response = exc.response if isinstance(getattr(exc, "response", None), dict) else {}
        return (response.get("Error") or {}).get("Code") in CONFIGURATION_CODES
    return isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError
                      | bx.NoRegionError | bx.ParamValidationError)


def is_aws_failure(exc: BaseException) -> bool:
    """An AWS call failed (as opposed to a bug in the canary)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, TimeUp | AwsAnswerError | BotoCoreError | ClientError)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Turn an AWS failure into TargetError('what: reason')."""
    try:
        yield
    except TargetError:
        raise
    except Exception as exc:
        if is_aws_failure(exc):
            kind = CanaryFault if is_configuration_error(exc) else TargetError
            raise kind(f"{what}: {describe_aws_error(exc)}") from None
        raise


class BoundedClient:
    """A boto3 client whose API calls are abandoned when `deadline` passes (TimeUp).

    Everything else (meta, exceptions, close, paginators) is the client's own.
    """

    def __init__(self, client: Any, deadline: Deadline) -> None:
        self._client = client
        self._deadline = deadline
        self._operations = getattr(getattr(client, "meta", None), "method_to_api_mapping", {})

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        operation = self._operations.get(name)
        if operation is None or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return bounded(partial(attr, *args, **kwargs), self._deadline.remaining(),
                           what=operation)

        return call
