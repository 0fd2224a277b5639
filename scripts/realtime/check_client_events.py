#!/usr/bin/env python3
"""Check recorded Realtime client events against the official openai-python types.

Every event the bridge sends to the OpenAI Realtime API (GA protocol) must be an
instance of the SDK's ``RealtimeClientEvent`` union and must carry no field that
the SDK does not declare: the server rejects a whole ``session.update`` that has
one unknown key, so "validates" is not enough on its own. The SDK's pydantic
models are declared with ``extra="allow"``, which means plain validation accepts
any unknown key silently. This script therefore does two independent checks:

1. **SDK validation** -- ``TypeAdapter(RealtimeClientEvent).validate_json`` in
   strict mode (no string-to-number coercion and the like). This is the
   authority on types, required fields and literal values.
2. **Declared-fields walk** -- a recursive walk of the raw JSON alongside the
   SDK's type annotations. Every object key must be a declared field (or its
   alias) of the model chosen for that object. Free-form values (annotated
   ``object``/``Any``, e.g. a function tool's ``parameters`` JSON Schema) are
   not descended into; typed dicts such as ``metadata: Dict[str, str]`` only
   have their values checked. Unions are resolved the way the server does it:
   a value passes if any member accepts it with no undeclared keys; when none
   does, the member whose ``type`` literal matches the value is the one
   reported.

Usage::

    check_client_events.py FILE.jsonl [FILE2.jsonl ...]
    check_client_events.py --self-test

Each non-blank input line is one client event exactly as sent over the
WebSocket. Exit status: 0 all events pass, 1 at least one event fails,
2 usage error, unreadable file, or a file with no events (a test that recorded
nothing must not pass).

Needs the ``openai`` package (and the pydantic v2 it depends on) in the running
interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import types
import typing
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

try:
    import openai
    import pydantic
    from openai.types.realtime.realtime_client_event import RealtimeClientEvent
    from pydantic import BaseModel, TypeAdapter, ValidationError
except ImportError as exc:  # pragma: no cover - environment problem
    sys.stderr.write(f"check_client_events: cannot import the openai SDK / pydantic v2: {exc}\n")
    sys.exit(2)

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2

_UNION_ORIGINS = (typing.Union, types.UnionType)
_LIST_ORIGINS = (list, typing.List, Sequence, typing.Sequence, tuple, set, frozenset)
_DICT_ORIGINS = (dict, typing.Dict, typing.Mapping, typing.MutableMapping)
_FREE_FORM = (object, Any)


# --------------------------------------------------------------------------
# Problems and paths
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason an event is rejected: a JSON path and what is wrong there."""

    path: str
    message: str


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------
# Type-annotation helpers
# --------------------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated[...]`` metadata and PEP 695 type aliases."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif hasattr(tp, "__value__") and type(tp).__name__ == "TypeAliasType":
            tp = tp.__value__
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _accepted_keys(model: type[BaseModel]) -> Dict[str, str]:
    """Map every wire key the model accepts to its Python field name."""
    keys: Dict[str, str] = {}
    config = model.model_config
    by_name = bool(config.get("populate_by_name") or config.get("validate_by_name"))
    for name, field in model.model_fields.items():
        wire: List[str] = []
        va = field.validation_alias
        if isinstance(va, str):
            wire.append(va)
        elif isinstance(va, pydantic.AliasChoices):
            for choice in va.choices:
                if isinstance(choice, str):
                    wire.append(choice)
                elif isinstance(choice, pydantic.AliasPath) and choice.path:
                    wire.append(str(choice.path[0]))
        elif isinstance(va, pydantic.AliasPath) and va.path:
            wire.append(str(va.path[0]))
        elif field.alias:
            wire.append(field.alias)
        if not wire or by_name:
            wire.append(name)
        for key in wire:
            keys[key] = name
    return keys


def _literal_type_values(model: type[BaseModel]) -> Optional[Tuple[Any, ...]]:
    """The literal values a model's ``type`` field admits, or None if not a literal."""
    field = model.model_fields.get("type")
    if field is None:
        return None
    values: List[Any] = []

    def collect(tp: Any) -> bool:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if origin is typing.Literal:
            values.extend(typing.get_args(tp))
            return True
        if origin in _UNION_ORIGINS:
            return all(a is type(None) or collect(a) for a in typing.get_args(tp))
        return False

    return tuple(values) if collect(field.annotation) else None


def _literal_matches(value: Any, allowed: Iterable[Any]) -> bool:
    # Compare type as well as value: JSON true must not match Literal[1].
    return any(type(value) is type(a) and value == a for a in allowed)


_ADAPTERS: Dict[Any, TypeAdapter] = {}


def _adapter(tp: Any) -> TypeAdapter:
    try:
        return _ADAPTERS[tp]
    except KeyError:
        adapter = _ADAPTERS[tp] = TypeAdapter(tp)
        return adapter
    except TypeError:  # unhashable annotation
        return TypeAdapter(tp)


# --------------------------------------------------------------------------
# The declared-fields walk
# --------------------------------------------------------------------------


def check_value(tp: Any, value: Any, path: str) -> List[Problem]:
    """Check a decoded JSON value against an SDK annotation.

    Returns the problems found (empty when the value conforms). Undeclared
    object keys are problems; so are type mismatches the walk can see, which
    keeps union resolution honest.
    """
    tp = _unwrap(tp)
    if tp in _FREE_FORM:
        return []
    if tp is type(None):
        return [] if value is None else [Problem(path, f"expected null, got {_short(value)}")]

    origin = typing.get_origin(tp)
    if origin in _UNION_ORIGINS:
        return _check_union(typing.get_args(tp), value, path)
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if _literal_matches(value, allowed):
            return []
        return [Problem(path, f"{_short(value)} is not one of {', '.join(_short(a) for a in allowed)}")]
    if origin in _LIST_ORIGINS or tp in (list, tuple):
        if not isinstance(value, list):
            return [Problem(path, f"expected an array, got {_short(value)}")]
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return [Problem(path, f"expected {len(args)} items, got {len(value)}")]
            item_types = list(args)
        else:
            item_types = [args[0] if args else Any] * len(value)
        problems: List[Problem] = []
        for index, (item_tp, item) in enumerate(zip(item_types, value)):
            problems.extend(check_value(item_tp, item, _join(path, index)))
        return problems
    if origin in _DICT_ORIGINS or tp is dict:
        if not isinstance(value, dict):
            return [Problem(path, f"expected an object, got {_short(value)}")]
        args = typing.get_args(tp)
        value_tp = args[1] if len(args) == 2 else Any
        problems = []
        for key, item in value.items():
            problems.extend(check_value(value_tp, item, _join(path, key)))
        return problems
    if _is_model(tp):
        return _check_model(tp, value, path)
    return _check_scalar(tp, value, path)


def _check_scalar(tp: Any, value: Any, path: str) -> List[Problem]:
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    else:
        # Anything exotic: let pydantic decide, strictly.
        try:
            _adapter(tp).validate_python(value, strict=True)
            ok = True
        except ValidationError as exc:
            return [Problem(path, exc.errors()[0]["msg"])]
    if ok:
        return []
    name = getattr(tp, "__name__", str(tp))
    return [Problem(path, f"expected {name}, got {_short(value)}")]


def _check_model(model: type[BaseModel], value: Any, path: str) -> List[Problem]:
    if not isinstance(value, dict):
        return [Problem(path, f"expected an object ({model.__name__}), got {_short(value)}")]
    accepted = _accepted_keys(model)
    problems: List[Problem] = []
    for key, item in value.items():
        name = accepted.get(key)
        if name is None:
            problems.append(Problem(_join(path, key), f"undeclared field (not in {model.__name__})"))
            continue
        problems.extend(check_value(model.model_fields[name].annotation, item, _join(path, key)))
    present = {accepted[k] for k in value if k in accepted}
    for name, field in model.model_fields.items():
        if field.is_required() and name not in present:
            problems.append(Problem(_join(path, field.alias or name), f"missing required field of {model.__name__}"))
    return problems


def _check_union(members: Sequence[Any], value: Any, path: str) -> List[Problem]:
    results = [(m, check_value(m, value, path)) for m in members]
    if any(not problems for _, problems in results):
        return []
    # Nothing fits. Report against the member the value was evidently meant
    # for: the model(s) whose `type` literal matches, else the members of the
    # right shape; among several, the closest fit.
    candidates = [r for r in results if _unwrap(r[0]) is not type(None)] or results
    tagged = value.get("type") if isinstance(value, dict) else None
    if tagged is not None:
        matching = []
        for member, problems in candidates:
            model = _unwrap(member)
            allowed = _literal_type_values(model) if _is_model(model) else None
            if allowed is not None and _literal_matches(tagged, allowed):
                matching.append((member, problems))
        if matching:
            candidates = matching
    if isinstance(value, dict):
        candidates = [r for r in candidates if _is_model(_unwrap(r[0]))] or candidates
    if len(candidates) == 1:
        return candidates[0][1]
    if all(len(p) == 1 and p[0].path == path for _, p in candidates):
        # Every member rejects the value itself (not something inside it).
        names = " | ".join(_describe(m) for m, _ in candidates)
        return [Problem(path, f"{_short(value)} matches none of {names}")]
    _, best = min(candidates, key=lambda r: len(r[1]))
    return best


def _describe(tp: Any) -> str:
    tp = _unwrap(tp)
    if typing.get_origin(tp) is typing.Literal:
        return "/".join(_short(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp)


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


def _event_classes() -> Dict[str, type[BaseModel]]:
    """Event ``type`` literal -> SDK model, read from the RealtimeClientEvent union."""
    members = typing.get_args(_unwrap(RealtimeClientEvent))
    classes: Dict[str, type[BaseModel]] = {}
    for member in members:
        model = _unwrap(member)
        for literal in _literal_type_values(model) or ():
            classes[literal] = model
    if not classes:
        raise RuntimeError("RealtimeClientEvent has no members: SDK layout changed?")
    return classes


EVENT_CLASSES = _event_classes()
_UNION_ADAPTER = TypeAdapter(RealtimeClientEvent)


class DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    obj: Dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(key)
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def check_event(text: str) -> Tuple[str, List[Problem]]:
    """Check one line of JSON. Returns (event type for display, problems)."""
    try:
        raw = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except DuplicateKey as exc:
        return "?", [Problem(str(exc), "duplicate key")]
    except ValueError as exc:
        return "?", [Problem("", f"not valid JSON: {exc}")]
    if not isinstance(raw, dict):
        return "?", [Problem("", "event is not a JSON object")]
    event_type = raw.get("type")
    label = event_type if isinstance(event_type, str) else "?"
    model = EVENT_CLASSES.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        return label, [Problem("type", f"unknown client event type {_short(event_type)}")]

    problems = check_value(model, raw, "")
    try:
        _UNION_ADAPTER.validate_json(text, strict=True)
    except ValidationError as exc:
        if not problems:
            # The walk missed what pydantic caught: report pydantic's own view.
            # (Union members are named in the location; the member matching
            # the event type is the relevant one.)
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(Problem(loc, f"SDK validation: {err['msg']}"))
    return label, problems


def check_files(paths: Sequence[str], out=sys.stdout) -> int:
    total = failed = 0
    unusable = False
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            sys.stderr.write(f"{path}: cannot read: {exc}\n")
            unusable = True
            continue
        events_in_file = 0
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            events_in_file += 1
            label, problems = check_event(line)
            if problems:
                failed += 1
                for problem in problems:
                    where = problem.path or "<event>"
                    out.write(f"{path}:{lineno}: {label}: {where}: {problem.message}\n")
        if events_in_file == 0:
            sys.stderr.write(f"{path}: no events (an empty recording cannot pass)\n")
            unusable = True
        total += events_in_file
    out.write(
        f"checked {total} client events in {len(paths)} file(s) against openai {openai.__version__}: "
        f"{total - failed} passed, {failed} failed\n"
    )
    if unusable:
        return EXIT_USAGE
    return EXIT_FAIL if failed else EXIT_OK


# --------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------

_FULL_SESSION = {
    "type": "realtime",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": "You answer the phone.",
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "gpt-4o-mini-transcribe"},
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
                "interrupt_response": True,
                "create_response": True,
            },
            "noise_reduction": {"type": "near_field"},
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
    },
    "tools": [
        {
            "type": "function",
            "name": "lookup_order",
            "description": "Find an order by number.",
            "parameters": {
                "type": "object",
                "properties": {"order": {"type": "string", "x-anything": 1}},
                "required": ["order"],
                "additionalProperties": False,
            },
        }
    ],
    "tool_choice": "auto",
}


def _with(obj: Dict[str, Any], path: Sequence[str], value: Any) -> Dict[str, Any]:
    """Deep copy of obj with obj[path...] = value."""
    copy = json.loads(json.dumps(obj))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


SELF_TEST_GOOD: List[Dict[str, Any]] = [
    {"type": "session.update", "event_id": "e1", "session": _FULL_SESSION},
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "turn_detection": {"type": "semantic_vad", "eagerness": "auto"},
                    "noise_reduction": None,
                },
                "output": {"format": {"type": "audio/pcma"}},
            },
        },
    },
    {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}},
    {"type": "input_audio_buffer.append", "event_id": "e2", "audio": "AAAA"},
    {"type": "input_audio_buffer.commit"},
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_1", "output": "{\"ok\":true}"},
    },
    {
        "type": "conversation.item.create",
        "previous_item_id": "item_1",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]},
    },
    {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]},
    },
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call", "call_id": "call_1", "name": "lookup_order", "arguments": "{}"},
    },
    {"type": "conversation.item.truncate", "item_id": "item_2", "content_index": 0, "audio_end_ms": 1234},
    {"type": "response.create"},
    {
        "type": "response.create",
        "response": {
            "conversation": "none",
            "output_modalities": ["text"],
            "instructions": "Summarise the call.",
            "metadata": {"purpose": "summary"},
        },
    },
    {"type": "response.cancel", "event_id": "e3"},
]

# (event, substring that must appear in some reported problem path or message)
SELF_TEST_BAD: List[Tuple[Dict[str, Any], str]] = [
    ({"type": "response.cancel", "bogus": 1}, "bogus"),
    (
        {"type": "session.update", "session": _with(_FULL_SESSION, ["audio", "input", "sample_rate"], 8000)},
        "session.audio.input.sample_rate",
    ),
    (
        {"type": "session.update", "session": _with(_FULL_SESSION, ["audio", "input", "turn_detection", "eagerness"], "low")},
        "session.audio.input.turn_detection.eagerness",
    ),
    (
        {"type": "session.update", "session": _with(_FULL_SESSION, ["audio", "input", "format"], {"type": "audio/pcmu", "rate": 8000})},
        "session.audio.input.format.rate",
    ),
    (
        {"type": "session.update", "session": _with(_FULL_SESSION, ["tools", 0, "strict"], True)},
        "session.tools[0].strict",
    ),
    (
        {"type": "session.update", "session": _with(_FULL_SESSION, ["audio", "input", "turn_detection", "threshold"], "0.5")},
        "session.audio.input.turn_detection.threshold",
    ),
    ({"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": "5"}, "audio_end_ms"),
    ({"type": "conversation.item.truncate", "item_id": "i", "content_index": 0}, "audio_end_ms"),
    ({"type": "response.cancelled"}, "unknown client event type"),
    ({"type": "session.update", "session": {"modalities": ["audio"], "voice": "alloy"}}, "session"),
    (
        {"type": "conversation.item.create", "item": {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "x"}]}},
        "item.content[0].type",
    ),
    ({"type": "response.create", "response": {"conversation": "none", "modalities": ["text"]}}, "response.modalities"),
]


def self_test() -> int:
    misbehaved = 0
    for event in SELF_TEST_GOOD:
        label, problems = check_event(json.dumps(event))
        if problems:
            misbehaved += 1
            print(f"self-test: good {label} event rejected: {[(p.path, p.message) for p in problems]}")
    for event, needle in SELF_TEST_BAD:
        label, problems = check_event(json.dumps(event))
        if not problems:
            misbehaved += 1
            print(f"self-test: bad {label} event accepted (expected a problem at {needle!r}): {json.dumps(event)[:120]}")
        elif not any(needle in p.path or needle in p.message for p in problems):
            misbehaved += 1
            print(f"self-test: bad {label} event rejected for the wrong reason (wanted {needle!r}): "
                  f"{[(p.path, p.message) for p in problems]}")
    # The walk must also catch undeclared keys that pydantic lets through.
    sneaky = json.dumps({"type": "input_audio_buffer.clear", "extra": True})
    try:
        _UNION_ADAPTER.validate_json(sneaky, strict=True)
        extras_allowed = True
    except ValidationError:
        extras_allowed = False
    if extras_allowed and not check_event(sneaky)[1]:
        misbehaved += 1
        print("self-test: an undeclared top-level key passed")
    # Empty recordings must be a usage error, never a pass.
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as tmp:
        tmp.write("\n")
    try:
        with open(os.devnull, "w") as sink:
            old_err, sys.stderr = sys.stderr, sink
            try:
                code = check_files([tmp.name], out=sink)
            finally:
                sys.stderr = old_err
    finally:
        os.unlink(tmp.name)
    if code != EXIT_USAGE:
        misbehaved += 1
        print(f"self-test: an empty file gave exit {code}, expected {EXIT_USAGE}")

    cases = len(SELF_TEST_GOOD) + len(SELF_TEST_BAD) + 2
    print(f"self-test ({len(EVENT_CLASSES)} SDK client event types, openai {openai.__version__}): "
          f"{cases - misbehaved} passed, {misbehaved} failed")
    return EXIT_FAIL if misbehaved else EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check Realtime client events (JSON lines) against the openai-python SDK types, "
        "rejecting undeclared fields."
    )
    parser.add_argument("files", nargs="*", metavar="FILE.jsonl", help="one client event per line")
    parser.add_argument("--self-test", action="store_true", help="check the checker on built-in events")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.files:
        parser.print_usage(sys.stderr)
        sys.stderr.write("check_client_events: no input files\n")
        return EXIT_USAGE
    return check_files(args.files)


if __name__ == "__main__":
    sys.exit(main())
