"""Imports heavy libraries in a background thread while the process is waiting on something else.

The nightly job's GX check steps need great_expectations, whose import takes ~5 s of one core.
The dbt build step before them mostly waits on the dbt subprocess (dbt runs one thread), so the
import costs no wall time there. Python's import lock makes a later `import` in the check step
wait for, then reuse, the module this thread loaded; an import error is left for that later
import to raise where it belongs.
"""

from __future__ import annotations

import importlib
import threading

GX_MODULES = (
    "pandas",
    "great_expectations",
    "great_expectations.expectations",
    "great_expectations.execution_engine.pandas_execution_engine",
)

_started: set[tuple[str, ...]] = set()


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the step that needs the module will raise it
            return


def warm_in_background(modules: tuple[str, ...] = GX_MODULES) -> threading.Thread | None:
    """Starts (once per process) a daemon thread importing `modules`; returns it, or None if started before."""
    if modules in _started:
        return None
    _started.add(modules)
    thread = threading.Thread(target=_import_all, args=(modules,), name="warm-imports", daemon=True)
    thread.start()
    return thread
