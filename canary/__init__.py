"""Session-resumption canary: wakes, routes and sleeps a synthetic edit session and reports.

Kept import-light (Lambda cold start): submodules load what they need.
"""

__version__ = "0.1.0"
USER_AGENT = f"session-resumption-canary/{__version__}"
