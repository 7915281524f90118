"""The dialect layer (docs/warehouse.md, "Dialect layer"): models read as portable SQL.

Every engine-specific expression of the dbt models lives in a macro of dbt_project/macros/cross_db/
behind adapter.dispatch, with a duckdb__ implementation. This test reads the files only (no dbt, no
warehouse): it strips the Jinja and the SQL comments and string literals from every model, and from
the macros that render model SQL, and fails on any DuckDB-only function, operator, clause or type
left in the SQL, naming the file, the line and the macro to use instead. It also checks that every
macro of cross_db dispatches and has a duckdb__ implementation and a description, and that every
contract type comes from the type map (var trace_types).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

DBT = Path(__file__).resolve().parents[1] / "dbt_project"
CROSS_DB = DBT / "macros" / "cross_db"

# Macros outside cross_db that render the models' SQL, scanned like the models (rebuild_scope.sql:
# the pre-hook that deletes a trace-scoped model's rows of the rebuilt traces).
SQL_MACROS = ["payload_fields.sql", "rebuild_scope.sql", "safe_vars.sql"]

_F = r"\b{}\s*\("  # a call of a function
# (pattern, what it is, what to use instead). Patterns run on lower-cased SQL without Jinja,
# comments or string contents.
DENY: list[tuple[str, str, str]] = [
    (r"::", "a :: cast", "cast(x as <type>), with {{ trace_type('<name>') }} for an engine-specific type"),
    (r"->>?", "a JSON arrow operator or a lambda", "{{ json_extract_text(json, path) }}"),
    (
        _F.format(r"json_extract"),
        "json_extract",
        "{{ json_extract_paths(...) }} or {{ json_extract_text(...) }}",
    ),
    (
        _F.format(r"json_extract_(?:string|path|path_text)"),
        "a DuckDB JSON extraction",
        "{{ json_extract_text(...) }}",
    ),
    (_F.format(r"json_type"), "json_type", "{{ json_type_is(json, kinds) }}"),
    (_F.format(r"json_array_length"), "json_array_length", "{{ json_array_length(json, path) }}"),
    (
        _F.format(
            r"(?:json_keys|json_structure|json_transform|json_valid|json_contains|to_json|json_object)"
        ),
        "a DuckDB JSON function",
        "a macro in macros/cross_db/json.sql",
    ),
    (
        _F.format(r"arg_(?:min|max)(?:_null)?"),
        "arg_min/arg_max",
        "{{ arg_min(arg, val) }} / {{ arg_max(arg, val) }}",
    ),
    (
        _F.format(r"(?:first|last)"),
        "first()/last() (ordered aggregate)",
        "{{ first_by_order(expr, order_by) }}",
    ),
    (_F.format(r"list"), "the list() aggregate", "{{ sorted_distinct_array_agg(expr) }}"),
    (
        _F.format(r"list_\w+"),
        "a DuckDB list_* function",
        "dbt.array_construct / dbt.array_append, {{ list_element(...) }}, {{ list_has(...) }}",
    ),
    (
        _F.format(r"(?:array_length|array_extract|array_slice|flatten|len)"),
        "a DuckDB list function",
        "a macro in macros/cross_db/lists.sql",
    ),
    (
        _F.format(r"(?:unnest|generate_series|range)"),
        "unnest/generate_series/range",
        "{{ explode_days(first, last) }}",
    ),
    (_F.format(r"(?:hash|md5_number|xxhash64)"), "hash()", "{{ hash64(expr) }}"),
    (_F.format(r"xor"), "xor()", "{{ bitwise_xor(a, b) }}"),
    (_F.format(r"bit_xor"), "bit_xor()", "{{ bit_xor_agg(expr) }}"),
    (
        _F.format(r"(?:date_diff|datediff|date_sub)"),
        "date_diff()",
        "{{ milliseconds_between(start, end) }} or dbt.datediff",
    ),
    (_F.format(r"date_trunc"), "date_trunc()", "{{ dbt.date_trunc(part, ts) }}"),
    (
        _F.format(r"(?:epoch|epoch_ms|epoch_us|make_timestamp|to_timestamp|strftime|strptime|now|today)"),
        "a DuckDB date function",
        "a macro in macros/cross_db/dates.sql, or dbt.current_timestamp()",
    ),
    (r"\bat\s+time\s+zone\b", "AT TIME ZONE", "{{ utc_date(ts) }}"),
    (_F.format(r"(?:format|printf)"), "format()", "{{ format_text(template, args) }}"),
    (
        _F.format(r"(?:string_agg|group_concat|listagg)"),
        "string_agg()",
        "{{ sorted_distinct_string_agg(expr, delimiter) }} or dbt.listagg",
    ),
    (_F.format(r"median"), "median()", "{{ median(expr) }}"),
    (_F.format(r"(?:try_cast|safe_cast)"), "try_cast()", "{{ try_cast_as(expr, '<name>') }}"),
    (
        _F.format(r"regexp_\w+"),
        "a regexp_* function (RE2 here, Java regexes on Spark)",
        "a macro in macros/cross_db/",
    ),
    (
        _F.format(
            r"(?:string_split|str_split|split_part|starts_with|ends_with|typeof|struct_pack|struct_extract)"
        ),
        "a DuckDB function",
        "dbt.split_part or a macro in macros/cross_db/",
    ),
    (
        r"\bqualify\b",
        "QUALIFY (open-source Spark has none)",
        "{% call first_row_per(partition_by, order_by) %}",
    ),
    (r"\b(?:group|order)\s+by\s+all\b", "GROUP BY ALL / ORDER BY ALL", "the columns, listed"),
    (r"\*\s*(?:exclude|replace)\s*\(", "SELECT * EXCLUDE/REPLACE", "the columns, listed"),
    (r"\bdistinct\s+on\b", "DISTINCT ON", "{% call first_row_per(...) %}"),
    (r"\bunion\s+(?:all\s+)?by\s+name\b", "UNION BY NAME", "the columns, listed in the same order"),
    (r"\b(?:asof|positional)\s+join\b", "an ASOF/POSITIONAL join", "a join with explicit conditions"),
    (r"\[|\]", "a list literal or subscript", "dbt.array_construct([...]) or {{ list_element(list, i) }}"),
    (r"[{}]", "a struct literal", "a macro in macros/cross_db/"),
    (r"//", "integer division //", "floor(a / b)"),
    (
        r"\bas\s+(?:varchar|json|timestamptz|ubigint|uinteger|usmallint|utinyint|hugeint|uhugeint|blob|uuid"
        r"|struct|map|union|timestamp\s+with\s+time\s+zone)\b",
        "a DuckDB type name",
        "{{ trace_type('<name>') }} (the map: var trace_types in dbt_project.yml)",
    ),
]
DENY_RE = [(re.compile(pattern), what, instead) for pattern, what, instead in DENY]


def _blank(match: re.Match) -> str:
    """The match replaced by spaces, its newlines kept (so line numbers stay)."""
    return re.sub(r"[^\n]", " ", match.group(0))


def portable_sql(text: str) -> str:
    """The SQL of a model or macro file without Jinja, comments and string contents, line by line."""
    text = re.sub(r"\{#.*?#\}", _blank, text, flags=re.S)
    # {{ ... }} (a call of the dialect layer, a ref ...) and {% ... %} tags; a call block's body is SQL
    # (innermost first: a config's hook is a {{ }} inside a {{ }})
    nested = re.compile(r"\{\{(?:(?!\{\{).)*?\}\}|\{%(?:(?!\{%).)*?%\}", flags=re.S)
    while nested.search(text):
        text = nested.sub(_blank, text)
    # string contents and -- comments, left to right (a quote in a comment opens no string)
    text = re.sub(
        r"'(?:[^']|'')*'|--[^\n]*",
        lambda m: "'" + _blank(m)[1:-1] + "'" if m.group(0).startswith("'") else _blank(m),
        text,
    )
    return text.lower()


def scanned_files() -> list[Path]:
    return sorted((DBT / "models").rglob("*.sql")) + [DBT / "macros" / name for name in SQL_MACROS]


def findings(path: Path) -> list[str]:
    found = []
    for number, line in enumerate(portable_sql(path.read_text()).splitlines(), 1):
        for pattern, what, instead in DENY_RE:
            if pattern.search(line):
                found.append(
                    f"{path.relative_to(DBT.parent)}:{number}: {what} is DuckDB-only; use {instead}"
                    f" (macros/cross_db/)\n    {path.read_text().splitlines()[number - 1].strip()}"
                )
    return found


@pytest.mark.parametrize("path", scanned_files(), ids=lambda p: str(p.relative_to(DBT)))
def test_no_duckdb_only_sql_outside_the_dialect_layer(path):
    found = findings(path)
    assert not found, "DuckDB-only SQL outside macros/cross_db:\n" + "\n".join(found)


def test_the_scan_catches_what_it_should():
    sample = """
    select x::varchar, {{ arg_min('a', 'b') }} as ok, arg_max(a, b), payload ->> '$.a' -- arg_min(
    from t qualify row_number() over (partition by k order by s) = 1
    """
    text = portable_sql(sample)
    hits = {what for line in text.splitlines() for pattern, what, _ in DENY_RE if pattern.search(line)}
    assert hits == {
        "a :: cast",
        "arg_min/arg_max",
        "a JSON arrow operator or a lambda",
        "QUALIFY (open-source Spark has none)",
    }


def _macros(text: str) -> dict[str, str]:
    """Macro name -> body, of one macro file."""
    found = re.finditer(r"\{%-?\s*macro\s+(\w+)\s*\((.*?)\{%-?\s*endmacro\s*-?%\}", text, flags=re.S)
    return {match.group(1): match.group(2) for match in found}


def cross_db_macros() -> dict[str, str]:
    macros: dict[str, str] = {}
    for path in sorted(CROSS_DB.glob("*.sql")):
        macros.update(_macros(path.read_text()))
    return macros


ADAPTER_PREFIX = re.compile(r"^(\w+?)__(\w+)$")


def test_every_dialect_macro_dispatches_to_a_duckdb_implementation():
    macros = cross_db_macros()
    public = [name for name in macros if not ADAPTER_PREFIX.match(name)]
    assert public, "no macro found in macros/cross_db"
    problems = []
    for name in public:
        if f"adapter.dispatch('{name}', 'trace_platform')" not in macros[name]:
            problems.append(f"{name}: does not call adapter.dispatch('{name}', 'trace_platform')")
        if f"duckdb__{name}" not in macros:
            problems.append(f"{name}: no duckdb__{name} implementation")
    for name in macros:
        match = ADAPTER_PREFIX.match(name)
        if match and match.group(2) not in public:
            problems.append(f"{name}: an implementation of no dispatching macro {match.group(2)}")
    assert not problems, "\n".join(problems)


def test_every_dialect_macro_is_documented():
    documented = {}
    for path in CROSS_DB.glob("*.yml"):
        for macro in yaml.safe_load(path.read_text()).get("macros", []):
            documented[macro["name"]] = macro.get("description", "")
    public = [name for name in cross_db_macros() if not ADAPTER_PREFIX.match(name)]
    missing = [name for name in public if not documented.get(name, "").strip()]
    assert not missing, f"macros/cross_db/*.yml describes none of: {missing}"
    docs = (DBT.parent / "docs" / "warehouse.md").read_text()
    unlisted = [name for name in public if f"`{name}`" not in docs]
    assert not unlisted, f'docs/warehouse.md ("Dialect layer") does not list: {unlisted}'


def test_contract_types_come_from_the_type_map():
    type_map = yaml.safe_load((DBT / "dbt_project.yml").read_text())["vars"]["trace_types"]
    names = set(type_map["duckdb"])
    for dialect, types in type_map.items():
        assert set(types) == names, (
            f"var trace_types: {dialect} names {sorted(types)}, duckdb {sorted(names)}"
        )
    reference = re.compile(r"""^\{\{ var\('trace_types'\)\[target\.type\]\.(\w+) \}\}$""")
    problems = []
    for path in sorted((DBT / "models").rglob("*.yml")):
        for node in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            for column in node.get("columns", []):
                if "data_type" not in column:
                    continue
                match = reference.match(str(column["data_type"]))
                if not match or match.group(1) not in names:
                    problems.append(
                        f"{path.relative_to(DBT.parent)}: {node['name']}.{column['name']}: data_type "
                        f"{column['data_type']!r}; use \"{{{{ var('trace_types')[target.type].<name> }}}}\" "
                        f"with a name of var trace_types ({', '.join(sorted(names))})"
                    )
    assert not problems, "\n".join(problems)
