"""How dbt nodes appear in Dagster: keys by schema, groups by layer, one owner, kinds and tags.

Groups: the dbt source raw.* belongs to `ingest`; models to their schema's layer (`staging`,
`intermediate`, `marts`, `audit`, `eval`; the seed audit_rules sits in `audit`). The `quality` group
holds audit/check_results (trace_platform/defs/quality). Marts carry the freshness policy
(previous delivery day by the deadline in thresholds.yaml, 06:00 UTC). dbt tests become asset
checks evaluated per delivery-day partition, like the models they test (see
`trace_platform.defs.quality.common.partitioned_check_spec` for why).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from trace_platform.defs.partitions import delivery_day_partitions
from trace_platform.defs.quality.thresholds import freshness_policy

OWNER = "team:trace-platform"
LAYERS = ("staging", "intermediate", "marts", "audit", "eval")
# The dbt source build_state.completed_builds is the model int_completed_builds itself, read by
# int_trace_changes and int_rebuild_scope before this build appends to it (a ref() would close a
# loop: dbt_project/macros/rebuild_scope.sql). In Dagster it would be a second, external asset for
# the same table, or a cycle if keyed as the model; the dependency is left out of the asset graph.
BUILD_STATE_SOURCE = "source.trace_platform.build_state.completed_builds"


class TraceDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self._marts_freshness = freshness_policy()

    @staticmethod
    def _schema(dbt_resource_props: Mapping[str, Any]) -> str:
        return (dbt_resource_props.get("config") or {}).get("schema") or "main"

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        # raw.trace_events (a dbt source) is the ingestion asset; models are keyed schema/name.
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return dg.AssetKey([self._schema(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "ingest"
        schema = self._schema(dbt_resource_props)
        return schema if schema in LAYERS else "staging"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return [OWNER]

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        description = (dbt_resource_props.get("description") or "").strip()
        if description:
            return description
        return f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']}"

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        if dbt_resource_props["resource_type"] != "source":
            tags["layer"] = self.get_group_name(dbt_resource_props) or "staging"
            materialized = (dbt_resource_props.get("config") or {}).get("materialized")
            if materialized:
                tags["materialized"] = materialized
        return tags

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or {}
        if BUILD_STATE_SOURCE in (node.get("depends_on") or {}).get("nodes", []):
            build_state = self.get_asset_key(manifest["sources"][BUILD_STATE_SOURCE])
            spec = spec.replace_attributes(deps=[dep for dep in spec.deps if dep.asset_key != build_state])
        if spec.group_name == "marts" and not unique_id.startswith("source."):
            spec = spec.replace_attributes(freshness_policy=self._marts_freshness)
        return spec

    def get_asset_check_spec(
        self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.partitions_def is not None:
            return spec
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*partitions_def.*AssetCheckSpec.*")
            return dg.AssetCheckSpec(
                spec.name,
                asset=spec.asset_key,
                description=spec.description,
                additional_deps=spec.additional_deps,
                blocking=spec.blocking,
                metadata=spec.metadata,
                automation_condition=spec.automation_condition,
                partitions_def=delivery_day_partitions,
            )
