"""One client per platform part. HTTP through one shared httpx.Client; AWS through boto3
clients passed in. Target failures come back as data (or `TargetError`), never as hangs."""

from canary.clients.base import TargetError

__all__ = ["TargetError"]
