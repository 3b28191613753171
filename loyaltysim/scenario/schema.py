"""The JSON Schema of scenario files, generated from the pydantic models (for editors and validators).

Shipped scenarios point at the committed copy, ``scenarios/scenario.schema.json``, with a first line
``# yaml-language-server: $schema=scenario.schema.json``; a test keeps that copy equal to this.
"""

from __future__ import annotations

import json

from loyaltysim.scenario.models import Scenario

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def scenario_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a scenario file, field descriptions included."""
    schema = Scenario.model_json_schema(by_alias=True)
    return {"$schema": DIALECT, "title": "loyaltysim scenario", **{k: v for k, v in schema.items() if k != "title"}}


def schema_text() -> str:
    """The schema as the committed file holds it: indented JSON and a final newline."""
    return json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"


def scenario_reference(heading: str = "###") -> str:
    """A Markdown reference of every scenario field (type, default, description with its source),
    generated from the models, one table per section in the order a scenario file nests them."""
    schema = scenario_schema()
    defs = schema.get("$defs", {})
    order: list[str] = []

    def visit(node: dict) -> None:
        for prop in node.get("properties", {}).values():
            for ref in _refs(prop):
                if ref not in order:
                    order.append(ref)
                    visit(defs[ref])

    visit(schema)
    out = []
    for title, node in [("Scenario", schema)] + [(name, defs[name]) for name in order]:
        out += [f"{heading} {title}", ""]
        if node.get("description"):
            out += [" ".join(node["description"].split()), ""]
        out += ["| field | type | default | description |", "|---|---|---|---|"]
        required = set(node.get("required", []))
        for name, prop in node.get("properties", {}).items():
            if name in required:
                default = "required"
            elif isinstance(prop.get("default"), dict) and _refs(prop):
                default = "see below"  # a nested section: its own table gives each default
            else:
                default = f"`{json.dumps(prop.get('default'))}`"
            text = " ".join(str(prop.get("description", "")).split()).replace("|", "\\|")
            out.append(f"| `{name}` | {_type(prop)} | {default} | {text} |")
        out.append("")
    return "\n".join(out)


def _refs(prop: dict) -> list[str]:
    found = []
    if "$ref" in prop:
        found.append(prop["$ref"].rsplit("/", 1)[-1])
    for key in ("anyOf", "allOf", "oneOf"):
        for sub in prop.get(key, []):
            found += _refs(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(prop.get(key), dict):
            found += _refs(prop[key])
    return found


def _type(prop: dict) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " or ".join(_type(p) for p in prop[key])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of {_type(prop['additionalProperties'])}"
    return str(kind)


README_MARKERS = ("<!-- scenario-reference:start -->", "<!-- scenario-reference:end -->")


def readme_reference() -> str:
    """The scenario reference as the README shows it (one heading level down)."""
    return scenario_reference().strip().replace("### ", "#### ")


def update_readme(path: str = "README.md") -> None:
    """Rewrite the scenario reference between the README's markers (after a change to the models)."""
    from pathlib import Path

    p = Path(path)
    text = p.read_text(encoding="utf-8")
    start, end = README_MARKERS
    a, b = text.index(start) + len(start), text.index(end)
    p.write_text(text[:a] + "\n" + readme_reference() + "\n" + text[b:], encoding="utf-8")
