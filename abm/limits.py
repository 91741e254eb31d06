"""Input limits shared by the scenario schema, the batch engine and the command line.

Kept in a module that imports nothing, so the command line can name them in its
help text without loading pydantic, the model or the batch engine.
"""

MAX_WEEKS = 2000
"""Longest horizon and any duration in weeks: 38 years, seven times the library's horizon."""
MAX_SEED = 2**32 - 1
"""Largest seed: any numpy seed, and it fits the int64 ``seed`` column of the outputs."""
MAX_SEED_COUNT = 10_000
"""Most seeds a batch (or validation) runs: 10,000 baseline runs are days of CPU."""
