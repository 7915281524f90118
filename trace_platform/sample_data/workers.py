"""Running work units in parallel child interpreters (large outputs only; see `api.generate`)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from trace_platform.sample_data.files import run_unit


def run_in_workers(specs: list[dict], workers: int, bar) -> list[dict]:
    """Runs units in `workers` child interpreters (`python -m trace_platform.sample_data --worker`).

    Plain subprocesses rather than multiprocessing: nothing of the caller is re-imported or forked
    (a script without a main guard, or a parent holding DuckDB threads, is safe). Each child reads
    one unit spec per line and answers with one result line; the parent hands out the next unit
    as soon as a child is free and puts results back in unit order, so the output does not
    depend on scheduling.
    """
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for item in enumerate(specs):
        todo.put(item)
    results: list[dict | None] = [None] * len(specs)
    errors: list[BaseException] = []
    lock = threading.Lock()
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
    }

    def serve() -> None:
        with tempfile.TemporaryFile() as stderr:
            child = subprocess.Popen(
                [sys.executable, "-m", "trace_platform.sample_data", "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
            try:
                while not errors:
                    try:
                        index, spec = todo.get_nowait()
                    except queue.Empty:
                        break
                    child.stdin.write(json.dumps(spec).encode() + b"\n")
                    child.stdin.flush()
                    line = child.stdout.readline()
                    if not line:
                        child.wait()
                        stderr.seek(0)
                        detail = stderr.read().decode(errors="replace").strip().splitlines()[-1:] or [
                            "no output"
                        ]
                        raise RuntimeError(
                            f"generator worker for {spec['day']}/{spec['shard']} failed "
                            f"(exit {child.returncode}): {detail[0]}"
                        )
                    results[index] = json.loads(line)
                    if bar is not None:
                        with lock:
                            bar.update(results[index]["traces"])
            except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread
                errors.append(exc)
            finally:
                child.stdin.close()
                if errors:
                    child.kill()
                child.wait()

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def worker_main() -> None:
    for line in sys.stdin.buffer:
        result = run_unit(json.loads(line))
        sys.stdout.buffer.write(json.dumps(result).encode() + b"\n")
        sys.stdout.buffer.flush()
