"""Check a value against a type annotation, and say in words what the annotation allows.

Used where values arrive untyped (a recipe's `collator.options`, keyword options of
`build_collator`), so that `mlm_probability="0.15"` fails where it is given, naming the option,
instead of deep inside a tensor operation.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from pathlib import PurePath
from typing import Any


def matches_type(hint: Any, value: Any) -> bool:
    """True if `value` is allowed by the annotation `hint` (a bool is not a number; a list passes for a tuple)."""
    if hint is Any or hint is typing.Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches_type(arg, value) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin in (tuple, list):
        return isinstance(value, (list, tuple)) and _items_match(origin, args, value)
    if origin in (dict, collections.abc.Mapping) or hint in (dict, collections.abc.Mapping):
        return isinstance(value, collections.abc.Mapping)
    if origin is collections.abc.Callable or hint is collections.abc.Callable:
        return callable(value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return isinstance(value, PurePath)
    try:
        return isinstance(value, hint)
    except TypeError:  # a typing construct isinstance cannot check (a non-runtime Protocol): accept
        return True


def _items_match(origin: Any, args: tuple[Any, ...], value: Any) -> bool:
    if not args:
        return True
    if origin is list or args[-1] is Ellipsis:
        return all(matches_type(args[0], item) for item in value)
    return len(value) == len(args) and all(matches_type(arg, item) for arg, item in zip(args, value))


def describe_type(hint: Any) -> str:
    """What `hint` allows, in words a recipe writer understands: "a number", "true or false", ..."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe_type(arg) for arg in args))
    if origin in (tuple, list):
        if args and args[-1] is not Ellipsis and origin is tuple:
            return f"a list of {len(args)} values ({', '.join(describe_type(arg) for arg in args)})"
        return f"a list of {describe_type(args[0])}" if args else "a list"
    if origin in (dict, collections.abc.Mapping) or hint in (dict, collections.abc.Mapping):
        return "a mapping of name: value"
    if origin is collections.abc.Callable or hint is collections.abc.Callable:
        return "a function"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string", type(None): "null"}
    if hint in names:
        return names[hint]
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return "a path"
    return getattr(hint, "__name__", str(hint))
