"""The `aws` engine's action library: a declarative catalogue of operations on live resources
(`actions/`), the plan builder that resolves targets into a reviewable action document (`plan.py`),
and the executor that re-checks, calls, waits for and verifies exactly that document (`execute.py`)."""
