"""What dbt puts in a model's Jinja context, for linting dbt_project/ with sqlfluff (.sqlfluff).

sqlfluff's jinja templater renders each model with the project's macros (load_macros_from_path)
and its own stand-ins for ref, source, this and is_incremental (apply_dbt_builtins: true, so the
incremental branch is the one linted). This package supplies the rest, as in a nightly build:
`execute` is true and run_query answers with a stand-in result; no warehouse is opened. Every
public name here becomes a template global (library_path of a package).
"""

from pathlib import Path
from types import SimpleNamespace

import yaml
from jinja2 import pass_context

_VARS = yaml.safe_load((Path(__file__).resolve().parents[2] / "dbt_project" / "dbt_project.yml").read_text())[
    "vars"
]
_NO_DEFAULT = object()

execute = True
invocation_id = "sqlfluff-lint"
graph = {"nodes": {}, "sources": {}}  # the manifest's graph
flags = SimpleNamespace(FULL_REFRESH=False)  # a nightly build, not --full-refresh
selected_resources = []  # the nodes a `dbt build --select` chose
model = SimpleNamespace(depends_on=SimpleNamespace(nodes=[]))  # the node being rendered
target = SimpleNamespace(type="duckdb", name="dev", database="warehouse", schema="main", threads=1)
modules = SimpleNamespace(re=__import__("re"), datetime=__import__("datetime"))


def var(name, default=_NO_DEFAULT):
    """The project's vars (dbt_project.yml), so macros see the real type map and thresholds."""
    if name in _VARS and _VARS[name] is not None:
        return _VARS[name]
    if default is _NO_DEFAULT:
        if name in _VARS:
            return None
        raise KeyError(f"var {name!r} is not in dbt_project.yml and has no default")
    return default


class _Config:
    """`config(...)` in a model renders nothing; `config.get(key, default)` gives the default."""

    def __call__(self, *args, **kwargs):
        return ""

    def get(self, key, default=None):
        return default


config = _Config()


def before_begin(sql):
    """A hook that runs outside the model's transaction (dbt's before_begin)."""
    return {"sql": sql, "transaction": False}


def load_relation(relation):
    """An existing warehouse: every relation asked for exists (the incremental branch is linted)."""
    return relation


def env_var(name, default=""):
    return default


def log(message, info=False):
    return ""


class _Row(list):
    """A result row of zeros, however many columns the caller reads."""

    def __getitem__(self, index):
        return 0


class _Column:
    def values(self):
        return ["2026-01-01"]


class _Result:
    """run_query's answer: row 0 reads as zeros, a column holds one day (int(...) of it is 0)."""

    rows = [_Row()]
    columns = [_Column()] * 8


def run_query(sql):
    return _Result()


def _raise_compiler_error(message):
    raise RuntimeError(message)


exceptions = SimpleNamespace(raise_compiler_error=_raise_compiler_error, warn=lambda message: "")


@pass_context
def _dispatch(context, macro_name, macro_namespace=None):
    """adapter.dispatch as on DuckDB: duckdb__<name>, else default__<name>, among the project's macros."""
    for prefix in ("duckdb__", "default__"):
        macro = context.get(prefix + macro_name)
        if macro is not None:
            return macro
    raise KeyError(f"adapter.dispatch: no duckdb__ or default__ implementation of {macro_name}")


adapter = SimpleNamespace(
    dispatch=_dispatch,
    type=lambda: "duckdb",
    quote=lambda identifier: f'"{identifier}"',
    # an empty warehouse: no relation and no column exists yet
    get_relation=lambda database=None, schema=None, identifier=None: None,
    get_columns_in_relation=lambda relation: [],
    get_column_schema_from_query=lambda sql: [],
)


# The generated redaction macros (dbt_project/macros/redaction/, excluded in .sqlfluff) inline the
# whole rule set, nested deeper than sqlfluff parses; tests/test_redaction_macros.py checks them.
def redact_text(expression):
    return f"redact_text({expression})"


def redact_json(expression):
    return f"redact_json({expression})"


# dbt's own cross-database macros (`dbt.<name>`), as dbt-duckdb renders them.
dbt = SimpleNamespace(
    current_timestamp=lambda: "now()",
    date_trunc=lambda datepart, date: f"date_trunc('{datepart}', {date})",
    datediff=lambda first_date, second_date, datepart: (
        f"date_diff('{datepart}', {first_date}, {second_date})"
    ),
    safe_cast=lambda field, type: f"cast({field} as {type})",
    array_construct=lambda inputs=(), data_type=None: "[" + ", ".join(inputs) + "]",
    array_append=lambda array, new_element: f"list_append({array}, {new_element})",
)
