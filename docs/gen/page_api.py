"""The CRM's API reference, generated from the BentoML service's own OpenAPI spec (read from the
service class, no server needed), so every endpoint, field and error code on the page is the
service's. Only the examples, the auth error and a few words per error code are written here."""

from __future__ import annotations

import json
from typing import Any

from markdown_text import HEADER, cell, code, prose, table

URL = "http://127.0.0.1:3000"
#: one request body per endpoint; tests/test_docs_site.py validates each against the spec
EXAMPLES: dict[str, dict[str, Any]] = {
    "/predict": {
        "customer_id": "C0000042",
        "channels": ["push", "sms", "email"],
        "window_start": "2026-11-25T08:00:00Z",
        "window_hours": 72,
        "purpose": "marketing",
        "explain": True,
    },
    "/predict_batch": {
        "requests": [
            {"customer_id": "C0000042", "window_hours": 24},
            {"customer_id": "C0000043", "channels": ["email"], "campaign": "campaign_plan"},
            {"customer_id": "new-customer-0001", "timezone": "Europe/Berlin", "consent": {"email": True}},
        ]
    },
    "/outcomes": {
        "outcomes": [
            {
                "decision_id": "6f1c0d2e9a7b4c3d8e5f60718293a4b5",
                "event": "sent",
                "at": "2026-11-25T16:00:00Z",
            },
            {
                "decision_id": "6f1c0d2e9a7b4c3d8e5f60718293a4b5",
                "event": "converted",
                "at": "2026-11-27T09:12:00Z",
                "value": 120.0,
            },
        ]
    },
}
NOTES = {
    "/predict_batch": "The answers come back in the order of `requests`, decided in one vectorised pass; "
    "a customer asked about twice in one batch is decided in turn, the second request seeing what the "
    "first handed out.",
    "/outcomes": "The counts reconcile: `read` = `accepted` + the length of `quarantined`. A malformed "
    "row is quarantined with its reason and never fails the others. See [Outcomes](outcomes.md).",
}
ERRORS = {
    "400": "Invalid request. `error` says what is wrong; for a field the schema rejects, `detail` is a "
    "list of `{loc, msg, type}` naming it (a channel name, `window_hours` past 168, a `window_start` "
    "without a UTC offset, an unknown `timezone`, an empty or oversized batch). A `campaign` the "
    "service did not load is a 400 naming it and the campaigns loaded. Never a stack trace.",
    "401": "`OPTICHANNEL_API_TOKEN` is set and the request has no `Authorization: Bearer <token>` "
    "header, or the wrong one (added by the service's `BearerAuth` middleware, so not in the spec "
    "file). Health and metrics stay open.",
    "404": "BentoML's answer for an unknown route; optichannel's own code does not raise it.",
    "500": "An unexpected failure: a bug to report (the tests send thousands of generated requests "
    "and assert none gets a 5xx).",
}
#: a path's own wording of an error, where the general one above would mislead
PATH_ERRORS = {
    ("/outcomes", "400"): 'The body is not `{"outcomes": [...]}` with 1 to 10,000 rows. A bad row '
    "inside a good body is not an error: it is quarantined with its reason.",
}
GUARDED = ("/predict", "/outcomes")
ORDER = ["/predict", "/predict_batch", "/outcomes"]


def openapi() -> dict[str, Any]:
    """The service's spec, with our own info block instead of BentoML's default README."""
    from importlib.metadata import version

    from serving.service import NextBestChannel

    spec = NextBestChannel.openapi_spec.asdict()
    spec["info"] = {
        "title": "optichannel",
        "version": version("optichannel"),
        "description": "Next-best-channel decisions: which channel and which hour, or no contact at all.",
    }
    return spec


def _ref_name(schema: dict[str, Any], components: dict[str, Any]) -> str | None:
    """The component a schema is, by reference or by BentoML's `<Name>IODescriptor` inline copy."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    title = schema.get("title", "")
    name = title.removesuffix("IODescriptor")
    return name if name != title and name in components else None


def _type(schema: dict[str, Any], components: dict[str, Any], used: set[str]) -> str:
    """A field's type in words, with limits, linking the objects it holds."""
    name = _ref_name(schema, components)
    if name:
        used.add(name)
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        kinds = [_type(s, components, used) for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = any(s.get("type") == "null" for s in schema["anyOf"])
        return " or ".join(kinds) + (" or null" if nullable else "")
    if "enum" in schema:
        return "one of " + ", ".join(code(v) for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        text = "array of " + _type(schema.get("items", {}), components, used)
        if "maxItems" in schema:
            text += f", {schema.get('minItems', 0)} to {schema['maxItems']} items"
        elif "minItems" in schema:
            text += f", at least {schema['minItems']}"
        return text
    if kind == "object" and "additionalProperties" in schema:
        keys = schema.get("propertyNames", {}).get("enum")
        key = ("one of " + ", ".join(code(k) for k in keys)) if keys else "string"
        return f"object: {key} → " + _type(schema["additionalProperties"], components, used)
    if "format" in schema:
        kind += f" ({schema['format']})"
    if "minimum" in schema or "maximum" in schema:
        kind += f", {schema.get('minimum', '')} to {schema.get('maximum', '')}"
    if "maxLength" in schema:
        kind += f", {schema.get('minLength', 0)} to {schema['maxLength']} characters"
    return kind


def _fields(schema: dict[str, Any], components: dict[str, Any], used: set[str]) -> str:
    required = set(schema.get("required", []))
    rows = []
    for name, field in schema.get("properties", {}).items():
        if name in required:
            presence = "required"
        elif "default" in field:
            presence = "default " + code(json.dumps(field["default"]))
        else:
            presence = "optional"
        rows.append([code(name), _type(field, components, used), presence, cell(field.get("description"))])
    text = table(["field", "type", "presence", "meaning"], rows)
    if schema.get("additionalProperties") is False:
        text += "\nAny other field is an error (400).\n"
    return text


def _body(schema: dict[str, Any], components: dict[str, Any], used: set[str]) -> str:
    """A request or answer body: a link to its object, or its own table when it has no name."""
    name = _ref_name(schema, components)
    if name or schema.get("type") == "array":
        text = _type(schema, components, used)
        return text[0].upper() + text[1:] + ".\n"
    return "\n\n" + _fields(schema, components, used)


def _python(value: Any, depth: int = 0) -> str:
    """A JSON value as a Python literal, one key per line like black would write it."""
    pad, inner = "    " * depth, "    " * (depth + 1)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {_python(v, depth + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return "[\n" + "\n".join(f"{inner}{_python(v, depth + 1)}," for v in value) + f"\n{pad}]"
    if isinstance(value, list):
        return "[" + ", ".join(_python(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return {True: "True", False: "False", None: "None"}[value]
    return json.dumps(value)


def _examples(path: str, body: dict[str, Any]) -> str:
    headers = "-H 'Authorization: Bearer YOUR_TOKEN' " if path.startswith(GUARDED) else ""
    curl = f"curl -s -X POST {URL}{path} {headers}\\\n  -H 'Content-Type: application/json' \\\n"
    curl += f"  -d '{json.dumps(body)}'"
    python = (
        "import httpx\n\n"
        f"body = {_python(body)}\n"
        'headers = {"Authorization": "Bearer YOUR_TOKEN"}  # only when OPTICHANNEL_API_TOKEN is set\n'
        f'answer = httpx.post("{URL}{path}", json=body, headers=headers).json()\n'
    )
    return f"```bash\n{curl}\n```\n\n```python\n{python}```\n"


def render(spec: dict[str, Any]) -> str:
    """The whole page."""
    components = spec["components"]["schemas"]
    used: set[str] = set()
    out = [HEADER.format(source="serving/service.py's OpenAPI spec"), "# API reference\n"]
    out.append(
        "Every endpoint of the BentoML service (`serving/service.py`), its fields, error codes and an "
        "example in `curl` and Python. The same spec as a file: [openapi.json](openapi.json) (for "
        "client generators); a running service also serves it at `/docs.json` and an interactive "
        "page at `/`. Start one with `optichannel serve`; the examples assume it at "
        f"`{URL}`.\n"
    )
    infrastructure = []
    paths = sorted(spec["paths"].items(), key=lambda p: ORDER.index(p[0]) if p[0] in ORDER else len(ORDER))
    for path, ops in paths:
        for method, op in ops.items():
            if "Infrastructure" in op.get("tags", []):  # BentoML's words, with its own HTML
                words = " ".join((op.get("description") or "").split())
                infrastructure.append([code(f"{method.upper()} {path}"), words])
                continue
            out.append(f"## {method.upper()} {path}\n")
            out.append(prose(op.get("description")) + "\n")
            if path in NOTES:
                out.append(NOTES[path] + "\n")
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            out.append("**Request body.** " + _body(schema, components, used))
            answer = op["responses"].get("200", op["responses"].get(200, {}))
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            out.append("**Answer (200).** " + _body(schema, components, used))
            codes = {str(c) for c in op["responses"]} - {"200"}
            codes |= {"401"} if path.startswith(GUARDED) else set()
            rows = [[c, PATH_ERRORS.get((path, c), ERRORS[c])] for c in sorted(codes)]
            out.append("**Errors.**\n\n" + table(["code", "when"], rows))
            if path in EXAMPLES:
                out.append("**Example.**\n\n" + _examples(path, EXAMPLES[path]))
    out.append("## Health and metrics\n")
    out.append(
        "BentoML's own endpoints, never behind the token:\n\n" + table(["endpoint", "what"], infrastructure)
    )
    out.append("## Objects\n")
    done: set[str] = set()
    while used - done:
        name = sorted(used - done)[0]
        done.add(name)
        schema = components[name]
        out.append(f"### {name}\n")
        if schema.get("description"):
            out.append(prose(schema["description"]) + "\n")
        out.append(_fields(schema, components, used))
    return "\n".join(out)


def pages() -> dict[str, str]:
    """The reference page and the spec file, by path under docs/."""
    spec = openapi()
    return {"crm/api.md": render(spec), "crm/openapi.json": json.dumps(spec, indent=2, default=str) + "\n"}
