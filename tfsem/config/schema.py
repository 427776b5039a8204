"""The strict JSON <-> frozen-dataclass machinery every config section uses.

* an unknown key is an error naming its dotted path and the closest valid key;
* a wrong type or enum value says what was expected and what was received;
* cross-field rules live in each section's ``validate()``;
* a section class may define ``from_dict(data, path)`` / ``to_dict()`` to take
  over its own conversion (the model one-of does).

Every field of a model section carries a one-line description
(``doc_field``); :func:`describe` lists them (``python -m tfsem.config
--describe gaugan`` and the documentation's config reference).

Model: TF Model Garden ``official/modeling/hyperparams/base_config.py`` (the
strict override message), without its non-strict fallback.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from typing import Any, List, Literal, Sequence, Tuple

__all__ = ["ConfigError", "apply_overrides", "check_size_multiple", "config_from_dict",
           "config_to_dict", "describe", "doc_field", "field_docs"]


class ConfigError(ValueError):
    """A config file or dict does not match the schema. The message names the field."""


def doc_field(default: Any, doc: str):
    """A dataclass field with a default and a one-line description."""
    return dataclasses.field(default=default, metadata={"doc": doc})


def _attribute_docs(cls: type) -> dict:
    """Field descriptions from the ``Attributes:`` part of ``cls``'s docstring
    (Google style: ``name: text`` or ``a, b: text``, continued on deeper
    indented lines), joined into one line each."""
    lines = (cls.__doc__ or "").expandtabs().splitlines()
    docs, names, indent, inside = {}, [], None, False
    for line in lines:
        text = line.strip()
        if text == "Attributes:":
            inside, indent = True, None
            continue
        if not inside or not text:
            continue
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:
            break  # the section ended
        head, sep, rest = text.partition(":")
        if depth == indent and sep and all(n.strip().isidentifier() for n in head.split(",")):
            names = [n.strip() for n in head.split(",")]
            for name in names:
                docs[name] = rest.strip()
        elif names:
            for name in names:
                docs[name] = f"{docs[name]} {text}".strip()
    return docs


def field_docs(cls: type) -> List[Tuple[str, str, Any, str]]:
    """(name, type, default, description) of every field of section ``cls``:
    a field's ``doc_field`` text, or else its entry under ``Attributes:`` in
    the class docstring."""
    hints = typing.get_type_hints(cls)
    attributes = _attribute_docs(cls)
    return [(f.name, _type_name(hints[f.name]), f.default,
             f.metadata.get("doc") or attributes.get(f.name, ""))
            for f in dataclasses.fields(cls)]


def describe(cls: type, markdown: bool = False) -> str:
    """The fields of section ``cls``: a plain listing, or a Markdown table."""
    rows = field_docs(cls)
    if markdown:
        lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
        lines += [f"| `{name}` | {tp} | `{json.dumps(config_to_dict(default))}` | {doc} |"
                  for name, tp, default, doc in rows]
        return "\n".join(lines)
    width = max(len(name) for name, *_ in rows)
    return "\n".join(f"{name:<{width}}  {json.dumps(config_to_dict(default))}  ({tp})\n"
                     f"{'':<{width}}  {doc}" for name, tp, default, doc in rows)


def check_size_multiple(experiment, factor: int, model: str) -> None:
    """A ConfigError unless the experiment's training size is a multiple of
    ``factor`` (``model`` says which model needs it, with its settings)."""
    height, width = experiment.image_size()
    if height % factor or width % factor:
        raise ConfigError(f"data: {model} needs a height and width that are multiples of "
                          f"{factor}; the data gives {height}x{width} (HxW)")


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """``data`` with each ``a.b.c=value`` of ``overrides`` set (Model Garden's
    ``--params_override``). ``value`` is JSON (``8``, ``true``, ``null``,
    ``[256, 512]``, ``"x"``) or else taken as a string; missing sections are
    created, and the strict loading that follows names any unknown key."""
    data = json.loads(json.dumps(data))  # a deep copy
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. model.gaugan.ngf=32")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        parts = key.strip().split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i + 1])} is not a section")
            node = child
        node[parts[-1]] = value
    return data


# ---------------------------------------------------------------------------
# Strict conversion
# ---------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " or null"
    if origin in (tuple, Tuple):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} " + "/".join(_type_name(a) for a in args)
    if dataclasses.is_dataclass(tp):
        return f"an object ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _received(value: Any) -> str:
    kind = "null" if value is None else type(value).__name__
    return f"{kind} {json.dumps(value) if not isinstance(value, str) else repr(value)}"


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_null = [a for a in args if a is not type(None)]
        errors = []
        for arg in non_null:
            try:
                return _convert(value, arg, path)
            except ConfigError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_received(value)}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed or type(value) is bool and True not in allowed:
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_received(value)}{hint}")
        return value
    if origin in (tuple, Tuple):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_received(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(
                f"{path}: expected {_type_name(tp)}, got a list of {len(value)}: {json.dumps(value)}"
            )
        return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if dataclasses.is_dataclass(tp) or hasattr(tp, "from_dict"):
        if isinstance(value, tp):
            return value
        return config_from_dict(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_received(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected int, got {_received(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected float, got {_received(value)}")
        if not math.isfinite(value):  # json.load reads NaN / Infinity
            raise ConfigError(f"{path}: must be a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected str, got {_received(value)}")
        return value
    if tp is Any:
        return value
    raise TypeError(f"{path}: unsupported field type {tp!r} in the config schema")


def config_from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Builds dataclass ``cls`` from a JSON-like dict, strictly (see module doc)."""
    where = path or "config"
    if hasattr(cls, "from_dict"):
        return cls.from_dict(data, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object ({cls.__name__}), got {_received(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else (
                "; valid keys: " + ", ".join(sorted(fields))
            )
            raise ConfigError(f"{_join(path, key)}: unknown key{hint}")
        kwargs[key] = _convert(value, hints[key], _join(path, key))
    missing = [
        name for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key(s): {', '.join(missing)}")
    return cls(**kwargs)


def config_to_dict(config: Any) -> Any:
    """The resolved config as JSON-ready data (tuples become lists)."""
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [config_to_dict(v) for v in config]
    return config

