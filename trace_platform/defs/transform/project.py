"""The dbt project as Dagster sees it, and the preparation of its manifest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from trace_platform.lib import settings
from trace_platform.redaction import dbt_macros

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _newest_source_mtime() -> float:
    newest = 0.0
    for folder in ("models", "macros", "tests", "seeds", "snapshots"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        path = DBT_PROJECT_DIR / name
        if path.exists():
            newest = max(newest, path.stat().st_mtime)
    return newest


def ensure_manifest(force: bool = False) -> Path:
    """Regenerates the redaction macros from the rules file (TRACE_PLATFORM_REDACTION_CONFIG, else
    the packaged one; the file is rewritten only when its text changes), then runs `dbt parse` when
    the manifest is missing or older than the dbt sources."""
    dbt_macros.write()
    manifest = dbt_project.manifest_path
    if not force and manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime():
        return manifest
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.setdefault("TRACE_PLATFORM_WAREHOUSE", str(settings.warehouse_path()))
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [
            str(dbt) if dbt.exists() else "dbt",
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{result.stdout}\n{result.stderr}")
    return manifest


if __name__ == "__main__":  # `python -m trace_platform.defs.transform.project` prepares the manifest
    # (and the generated redaction macros it needs: `make install` runs this)
    print(ensure_manifest(force=True))
