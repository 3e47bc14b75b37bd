"""The scenario's steps, one module each; every step returns a StepResult.

Target failures are results (FAILED with a reason); exceptions are canary bugs or bad
config. Steps share a RunContext (config, clock, harness, what earlier steps learned).
"""
