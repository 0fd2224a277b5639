"""Checks the voice API's OpenAPI document and real responses against it.

stdin: {"document": <openapi.json>, "checks": [{"name", "schema", "body"}]}.
The document must be a valid OpenAPI 3.1 document (openapi-spec-validator);
each body must validate against its schema (JSON Schema 2020-12, with the
document's components), and carry no property the schema does not declare:
every object schema in the components is closed with
`unevaluatedProperties: false` (schemas used as `allOf` parts are closed by
the outermost composite instead, so flattened types are checked as a whole). Prints each failure; exits 1 if any.
"""

import copy
import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_document


def refs_in_allof(node, out):
    if isinstance(node, dict):
        for part in node.get("allOf", []):
            ref = part.get("$ref") if isinstance(part, dict) else None
            if ref:
                out.add(ref.rsplit("/", 1)[-1])
        for v in node.values():
            refs_in_allof(v, out)
    elif isinstance(node, list):
        for v in node:
            refs_in_allof(v, out)


def close(components):
    parts = set()
    refs_in_allof(components, parts)
    for name, schema in components.get("schemas", {}).items():
        if name not in parts and ("allOf" in schema or "properties" in schema):
            schema.setdefault("unevaluatedProperties", False)
    return components


def main():
    job = json.load(sys.stdin)
    document = job["document"]
    failures = []
    try:
        validate_document(copy.deepcopy(document))
    except Exception as e:  # noqa: BLE001 - any validator error is a failure
        failures.append(f"document: not a valid OpenAPI document: {e}")
    components = close(copy.deepcopy(document.get("components", {})))
    for check in job["checks"]:
        schema = dict(check["schema"])
        schema["components"] = components
        validator = Draft202012Validator(schema)
        for error in validator.iter_errors(check["body"]):
            path = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{check['name']}: at /{path}: {error.message}")
    for f in failures:
        print(f)
    print(f"{len(job['checks'])} bodies checked, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
