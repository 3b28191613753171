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
