"""Reference pages generated from the code at build time (a Sphinx extension).

- :func:`config_reference`: the configuration reference, from the pydantic schema
  (``cocEval.config.ProgrammeConfig.model_json_schema()``);
- :func:`data_dictionary`: the data contract, from the pandera schemas in ``cocEval.data``;
- :func:`api_pages`: one autodoc page per public module or package, found by walking the
  package (packages that define ``__all__`` are documented by their import path, e.g.
  ``cocEval.its``, with the names they export; private modules are left out).

The pages are written into ``docs/reference/generated/`` (not tracked) when the builder starts,
and only rewritten when their text changes. ``tests/test_docs.py`` calls these functions
directly to check that the pages follow the code.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from pathlib import Path

GENERATED = Path(__file__).resolve().parents[1] / "reference" / "generated"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _cell(text) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _code(v) -> str:
    return f"`{v}`" if v not in ("", None) else ""


def _write(path: Path, text: str) -> bool:
    """Write ``text`` unless the file already holds it (so Sphinx does not re-read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


# --------------------------------------------------------------------------------------------
# configuration (pydantic JSON schema)
# --------------------------------------------------------------------------------------------
def _type(prop: dict, defs: dict) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#cfg-{name.lower()})" if name in defs else name
    if "enum" in prop:
        return " or ".join(json.dumps(v) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    if "anyOf" in prop:
        parts = [_type(p, defs) for p in prop["anyOf"]]
        return " or ".join(dict.fromkeys(parts))
    t = prop.get("type")
    if t == "array":
        return f"list of {_type(prop.get('items', {}), defs)}"
    if t == "object":
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict):
            return f"mapping of name to {_type(extra, defs)}"
        return "mapping"
    if t == "string" and prop.get("format") == "path":
        return "path"
    return {"string": "text", "integer": "integer", "number": "number", "boolean": "true/false", "null": "empty"}.get(
        t, t or "any"
    )


_RULES = {
    "minimum": ">= {}",
    "exclusiveMinimum": "> {}",
    "maximum": "<= {}",
    "exclusiveMaximum": "< {}",
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "pattern": "matches `{}`",
}


def _rules(prop: dict) -> str:
    out = [fmt.format(prop[k]) for k, fmt in _RULES.items() if k in prop]
    for p in prop.get("anyOf", []):
        out += [fmt.format(p[k]) for k, fmt in _RULES.items() if k in p]
    return ", ".join(out)


def _default(name: str, prop: dict, required: set) -> str:
    if name in required:
        return "**required**"
    if "default" not in prop:
        return ""
    v = prop["default"]
    if isinstance(v, dict) and v:
        return "(see the section)"
    return _code(json.dumps(v))


def _model_table(title: str, schema: dict, defs: dict) -> list[str]:
    lines = [f"({'cfg-' + title.lower()})=", f"## `{title}`", ""]
    if schema.get("description"):
        lines += [schema["description"].strip(), ""]
    required = set(schema.get("required", []))
    lines += ["| key | type | default | rule | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, prop in schema.get("properties", {}).items():
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{name}`",
                    _cell(_type(prop, defs)),
                    _cell(_default(name, prop, required)),
                    _cell(_rules(prop)),
                    _cell(prop.get("description", "")),
                ]
            )
            + " |"
        )
    lines.append("")
    return lines


def config_reference(model=None) -> str:
    """Markdown reference for a pydantic configuration model (default ``ProgrammeConfig``).

    One table per model: the top-level keys first, then each nested section, with type,
    default, validation rule and description, all read from ``model.model_json_schema()``.
    """
    if model is None:
        from cocEval.config import ProgrammeConfig as model
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    lines = [
        "<!-- generated by docs/_ext/cocdocs.py from the pydantic schema: do not edit -->",
        "",
        f"Generated from `{model.__module__}.{model.__qualname__}`. Unknown keys are rejected "
        "(`extra='forbid'`) with a `ConfigError` naming the key path."
        if _forbids_extra(model)
        else "",
        "",
    ]
    lines += _model_table(schema.get("title", model.__name__), schema, defs)
    for name, sub in defs.items():
        if sub.get("type") == "object" or "properties" in sub:
            lines += _model_table(name, sub, defs)
    return "\n".join(lines).rstrip() + "\n"


def _forbids_extra(model) -> bool:
    return getattr(model, "model_config", {}).get("extra") == "forbid"


# --------------------------------------------------------------------------------------------
# data dictionary (pandera schemas)
# --------------------------------------------------------------------------------------------
def _check_names(column) -> list[str]:
    return [str(c.name) for c in (column.checks or []) if getattr(c, "name", None)]


def data_dictionary(schemas=None, keys=None) -> str:
    """Markdown data dictionary from pandera ``DataFrameSchema`` objects (default
    ``cocEval.data.SCHEMAS`` and ``cocEval.data.KEYS``): per table its key, each column with
    whether it may be empty, its rules (the check names, as validation errors quote them) and
    its description when the schema carries one, then the rules across columns."""
    if schemas is None or keys is None:
        from cocEval import data

        schemas = data.SCHEMAS if schemas is None else schemas
        keys = getattr(data, "KEYS", {}) if keys is None else keys
    lines = ["<!-- generated by docs/_ext/cocdocs.py from the pandera schemas: do not edit -->", ""]
    for table, schema in schemas.items():
        lines += [f"## `{table}`", ""]
        if getattr(schema, "description", None):
            lines += [schema.description, ""]
        key = keys.get(table) or (schema.unique if isinstance(schema.unique, list) else None)
        if key:
            lines += ["Key (unique together): " + ", ".join(f"`{k}`" for k in key), ""]
        described = any(getattr(c, "description", None) for c in schema.columns.values())
        head = ["column", "required", "may be empty", "rules"] + (["meaning"] if described else [])
        lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for name, col in schema.columns.items():
            cells = [
                f"`{name}`",
                "yes" if getattr(col, "required", True) else "no",
                "yes" if col.nullable else "no",
                _cell("; ".join(_check_names(col))),
            ]
            if described:
                cells.append(_cell(getattr(col, "description", None) or ""))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        rules = [str(c.name) for c in (schema.checks or []) if getattr(c, "name", None)]
        if rules:
            lines += ["Rules across columns:", ""] + [f"- {_cell(r)}" for r in rules] + [""]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# API pages
# --------------------------------------------------------------------------------------------
def public_modules(package: str = "cocEval") -> list[str]:
    """Modules and packages to document, by import path.

    A package that defines ``__all__`` (other than the top level) is documented as one page
    with the names it exports, and its submodules are not listed separately; private modules
    (a name part starting with ``_``) and ``__main__`` are left out.
    """
    root = importlib.import_module(package)
    out = [package]
    covered: list[str] = []

    def walk(pkg) -> None:
        for info in sorted(pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."), key=lambda i: i.name):
            leaf = info.name.rsplit(".", 1)[-1]
            if leaf.startswith("_") or any(info.name.startswith(c + ".") for c in covered):
                continue
            mod = importlib.import_module(info.name)
            out.append(info.name)
            if info.ispkg:
                if hasattr(mod, "__all__"):
                    covered.append(info.name)
                else:
                    walk(mod)

    walk(root)
    return out


def _summary(mod) -> str:
    doc = inspect.getdoc(mod) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def api_pages(package: str = "cocEval") -> dict[str, str]:
    """reST text of the API index and one autodoc page per module, keyed by file name.

    The index is included by ``reference/api.md``, so its links are relative to that page.
    """
    pages: dict[str, str] = {}
    rows = []
    for name in public_modules(package):
        mod = importlib.import_module(name)
        opts = ["   :members:"]
        if name != package and hasattr(mod, "__all__"):
            opts.append("   :imported-members:")  # a package documents the names it exports
        title = f"``{name}``"
        pages[f"api/{name}.rst"] = "\n".join(
            [
                ".. generated by docs/_ext/cocdocs.py: do not edit",
                "",
                title,
                "=" * len(title),
                "",
                f".. automodule:: {name}",
                *opts,
                "",
            ]
        )
        rows.append((name, _summary(mod)))
    index = [
        ".. generated by docs/_ext/cocdocs.py: do not edit",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 25 75",
        "",
        "   * - module",
        "     - what it does",
    ]
    for name, summary in rows:
        index += [f"   * - :doc:`{name} <generated/api/{name}>`", f"     - {summary or ' '}"]
    index += ["", ".. toctree::", "   :hidden:", "", *[f"   generated/api/{name}" for name, _ in rows], ""]
    pages["api_index.rst"] = "\n".join(index)
    return pages


# --------------------------------------------------------------------------------------------
def generate(outdir: Path = GENERATED) -> list[Path]:
    """Write every generated page into ``outdir``; remove stale API pages. Returns the paths."""
    pages = {"config.md": config_reference(), "data_dictionary.md": data_dictionary(), **api_pages()}
    written = []
    for rel, text in pages.items():
        path = outdir / rel
        _write(path, text)
        written.append(path)
    for old in (outdir / "api").glob("*.rst"):
        if old not in written:
            old.unlink()
    return written


def _on_builder_inited(app) -> None:
    generate()


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
