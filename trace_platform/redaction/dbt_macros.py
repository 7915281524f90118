"""Writes the redaction rules as dbt macros: dbt_project/macros/redaction/redaction.sql.

    python -m trace_platform.redaction.dbt_macros [--rules FILE] [--out FILE] [--check]

The models call `{{ redact_text('col') }}` / `{{ redact_json('col') }}`: dispatched macros
(adapter.dispatch(..., 'trace_platform')) with one implementation per engine, both compiled from
the same rules by the one compiler (trace_platform.redaction.compiler): duckdb__ inlines the
expression the DuckDB TEMP macros of trace_platform.redaction.connection compute, spark__ the same
steps in Spark SQL (tests/test_redaction_spark.py compares their values); default__ stops the
compilation with the adapter named. The helpers (Luhn, IBAN, the text rules, the prefilter, the
JSON pipeline; on Spark also JSON validity and minification as DuckDB has them) are macros of
their own, one `{% set %}` per rule in the chains.

The rules file is the one TRACE_PLATFORM_REDACTION_CONFIG names, else the packaged
config/redaction.yaml. `python -m trace_platform.defs.transform.project` (`make install`, the CLI's
`run`) regenerates the file before it parses the project; it is rewritten only when its text
changes. The dbt-duckdb plugin refuses to open a connection while the file is out of date with
the rules (`check`), so dbt never builds the marts with other rules than the Python side uses.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from trace_platform.redaction.compiler import _CALL, _PARAM, DIALECTS, PUBLIC, Macro, compile_rules
from trace_platform.redaction.rules import (
    DEFAULT_PATH,
    ENV_VAR,
    RedactionConfigError,
    Rule,
    config_path,
    load_rules,
)

REPO_DIR = Path(__file__).resolve().parents[2]
MACRO_FILE = REPO_DIR / "dbt_project" / "macros" / "redaction" / "redaction.sql"
COMMAND = "python -m trace_platform.redaction.dbt_macros"

# The engines' names in the file: the adapter types dbt dispatches on.
ENGINES = {"duckdb": "DuckDB", "spark": "Spark"}
assert tuple(ENGINES) == DIALECTS


def dbt_name(dialect: str, name: str) -> str:
    """The dbt macro name of the compiled macro `name` of `dialect`: duckdb__redact_text (the
    dispatched implementations of the public macros), duckdb__redaction_luhn (the helpers)."""
    return f"{dialect}__{name}" if name in PUBLIC else f"{dialect}__redaction_{name}"


_JINJA_OPEN = re.compile(r"\{[{%#]|\{$")
_TOKEN = re.compile(f"{_CALL.pattern}|{_PARAM.pattern}")


class StaleMacrosError(RuntimeError):
    """The generated dbt macro file does not match the redaction rules."""


def _jinja_string(text: str) -> str:
    if "'" in text or "\\" in text:
        raise AssertionError(f"helper argument {text!r}: quotes and backslashes are not expected")
    return f"'{text}'"


def _jinja_argument(argument: str) -> str:
    """A helper's argument as a Jinja expression: SQL text and parameters, parenthesized unless a
    bare identifier (a lambda parameter such as __rc) or a bare parameter."""
    parts = _PARAM.split(argument)  # literal, param, literal, ...
    if len(parts) == 1 and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", argument):
        return _jinja_string(argument)
    if len(parts) == 3 and parts[0] == parts[2] == "":
        return parts[1]
    pieces = ["'('"]
    for i, part in enumerate(parts):
        if i % 2:
            pieces.append(part)
        elif part:
            pieces.append(_jinja_string(part))
    pieces.append("')'")
    return " ~ ".join(pieces)


def _sql_text(text: str) -> str:
    """Literal SQL in the template: in a raw block when Jinja could read something in it."""
    if "\r" in text:
        raise RedactionConfigError("a carriage return in a pattern cannot be written to a dbt macro")
    if not _JINJA_OPEN.search(text):
        return text
    if "endraw" in text:
        raise RedactionConfigError("a pattern containing 'endraw' cannot be written to a dbt macro")
    return "{% raw %}" + text + "{% endraw %}"


def _jinja(expr: str, dialect: str) -> str:
    """An expression with markers as template text: parameters {{ t }}, helpers {{ macro(...) }}."""
    out, last = [], 0
    for m in _TOKEN.finditer(expr):
        out.append(_sql_text(expr[last : m.start()]))
        if m.group(1):  # a call
            out.append(f"{{{{ {dbt_name(dialect, m.group(1))}({_jinja_argument(m.group(2))}) }}}}")
        else:
            out.append(f"{{{{ {m.group(3)} }}}}")
        last = m.end()
    out.append(_sql_text(expr[last:]))
    return "".join(out)


def _helper(macro: Macro, dialect: str) -> str:
    lines = [f"{{#- {macro.doc} -#}}", f"{{% macro {dbt_name(dialect, macro.name)}({macro.param}) -%}}"]
    if macro.body is None:  # a chain (no steps: the parameter as is)
        for step in macro.steps:
            lines.append(f"    {{#- {step.label} -#}}")
            lines.append(f"    {{%- set {macro.param} -%}}{_jinja(step.sql, dialect)}{{%- endset -%}}")
        lines.append(f"    ({{{{ {macro.param} }}}})")
    else:
        lines.append(f"    ({_jinja(macro.body, dialect)})")
    lines.append("{%- endmacro %}")
    return "\n".join(lines)


def _public(implementations: dict[str, Macro]) -> str:
    """The dispatched macro, its default__ (a compilation error) and one implementation per dialect."""
    macro = implementations["duckdb"]
    name, p = macro.name, macro.param
    names = " and ".join(dbt_name(dialect, name) for dialect in implementations)
    lines = [
        f"{{#- {macro.doc} Dispatched: {names} below; other adapters have none. -#}}",
        f"{{% macro {name}(expression) -%}}",
        f"    {{{{ return(adapter.dispatch('{name}', 'trace_platform')(expression)) }}}}",
        "{%- endmacro %}",
        "",
        f"{{% macro default__{name}(expression) -%}}",
        f'    {{{{ exceptions.raise_compiler_error("{name}() has no implementation for the \'" ~ adapter.type()'
        f" ~ \"' adapter: only {names} are generated (trace_platform/redaction/dbt_macros.py,"
        ' docs/security.md)") }}',
        "{%- endmacro %}",
    ]
    for dialect, implementation in implementations.items():
        what = (
            f"The DuckDB expression of the TEMP macro {name}({p})"
            if dialect == "duckdb"
            else f"The same in {ENGINES[dialect]} SQL (the compiler's {dialect} dialect)"
        )
        lines += [
            "",
            f"{{#- {what}, inline: {{{{ {p} }}}} is the argument. -#}}",
            f"{{% macro {dbt_name(dialect, name)}(expression) -%}}",
            f"    {{%- set {p} = '(' ~ expression ~ ')' -%}}",
            f"    ({_jinja(implementation.body, dialect)})",
            "{%- endmacro %}",
        ]
    return "\n".join(lines)


def source_name(path: str | os.PathLike | None = None) -> str:
    """The rules file as the header names it: repository-relative for the packaged one."""
    resolved = config_path(path).resolve()
    if resolved == DEFAULT_PATH.resolve():
        return DEFAULT_PATH.relative_to(REPO_DIR).as_posix()
    return str(resolved).replace("#}", "# }")


def render(rules: tuple[Rule, ...], source: str) -> str:
    compiled = {dialect: compile_rules(rules, dialect) for dialect in DIALECTS}
    enabled = ", ".join(r.id for r in rules if r.enabled) or "none"
    disabled = ", ".join(r.id for r in rules if not r.enabled) or "none"
    header = f"""{{#- GENERATED FILE: do not edit by hand.

    Generated by `{COMMAND}` (which `make install`, i.e.
    `python -m trace_platform.defs.transform.project`, runs) from the redaction rules
    {source}
    ({ENV_VAR} names another rules file). To change what is redacted, edit the rules and
    regenerate; tests/test_redaction_macros.py checks this file against the packaged rules.

    redact_text(expression) and redact_json(expression) take a SQL expression as text
    ({{{{ redact_text('t.prompt') }}}}) and dispatch on the adapter: duckdb__redact_text and
    duckdb__redact_json render the very expression of the DuckDB TEMP macros the Python side
    registers (trace_platform/redaction/compiler.py), inline and vectorised; spark__redact_text
    and spark__redact_json the same rules compiled to Spark SQL (patterns as Java regexes of the
    same meaning; tests/test_redaction_spark.py compares the values with DuckDB's). Any other
    adapter gets a compilation error. docs/security.md describes every rule.

    Rules applied, in file order: {enabled}.
    Disabled: {disabled}.
-#}}"""
    by_name = {dialect: {m.name: m for m in macros} for dialect, macros in compiled.items()}
    sections = [header]
    sections += [_public({dialect: by_name[dialect][name] for dialect in DIALECTS}) for name in PUBLIC]
    for dialect, macros in compiled.items():
        sections.append(f"{{#- ---- helpers of the {ENGINES[dialect]} implementation ---- -#}}")
        sections += [_helper(m, dialect) for m in macros if m.name not in PUBLIC]
    return "\n\n".join(sections) + "\n"


def generate(path: str | os.PathLike | None = None) -> str:
    """The macro file's text for the rules file `path` (default: the configured one)."""
    return render(load_rules(path), source_name(path))


def write(path: str | os.PathLike | None = None, out: Path = MACRO_FILE) -> bool:
    """(Re)writes the macro file when its text changes; True when it did."""
    text = generate(path)
    if out.exists() and out.read_text(encoding="utf-8") == text:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".redaction-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, out.stat().st_mode & 0o777 if out.exists() else 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


_CHECKED: dict[tuple, bool] = {}


def check(path: str | os.PathLike | None = None, out: Path = MACRO_FILE) -> None:
    """Raises StaleMacrosError when the macro file is not what the rules file gives (memoized per
    rules file and macro file version)."""
    rules_path = config_path(path)
    try:
        key = (str(rules_path.absolute()), rules_path.stat().st_mtime_ns, out.stat().st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _CHECKED:
        return
    current = out.read_text(encoding="utf-8") if out.exists() else None
    if current != generate(path):
        raise StaleMacrosError(
            f"{out} is not generated from the redaction rules {config_path(path)}: run `{COMMAND}` "
            "(or `python -m trace_platform.defs.transform.project`)"
        )
    if key is not None:
        _CHECKED[key] = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", help=f"rules file (default: ${ENV_VAR}, else {DEFAULT_PATH})")
    parser.add_argument("--out", type=Path, default=MACRO_FILE, help="macro file to write")
    parser.add_argument("--check", action="store_true", help="only check the file is current")
    args = parser.parse_args(argv)
    try:
        if args.check:
            check(args.rules, args.out)
            print(f"{args.out}: current")
        else:
            print(f"{args.out}: {'written' if write(args.rules, args.out) else 'unchanged'}")
    except (RedactionConfigError, StaleMacrosError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
