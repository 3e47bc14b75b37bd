"""A faithful, fault-injectable local copy of the session-resumption platform.

Cheap to import: moto, boto3 and the servers load only when a Sandbox starts.
"""

from sandbox.faults import FAULTS, Fault
from sandbox.platform import Sandbox, SandboxConfigError, SandboxError, SandboxInfo
from sandbox.variations import VARIATIONS

__all__ = [
    "FAULTS", "VARIATIONS", "Fault", "Sandbox", "SandboxConfigError", "SandboxError", "SandboxInfo",
]
