"""A faithful, fault-injectable local copy of the session-resumption platform.

Cheap to import: moto, boto3 and the servers load only when a Sandbox starts.
"""

from sandbox.faults import FAULTS
from sandbox.platform import Sandbox, SandboxConfigError, SandboxError, SandboxInfo

__all__ = ["FAULTS", "Sandbox", "SandboxConfigError", "SandboxError", "SandboxInfo"]
