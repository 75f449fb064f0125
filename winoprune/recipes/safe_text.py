"""Bounded parsing of untrusted YAML/JSON text: alias expansion, nesting depth and integer size
are limited so that a small document can neither expand into a huge one ("billion laughs") nor
exhaust the recursion limit, nor make the integer parser spend quadratic time.

The limits (module constants, stated in the README):

- ``MAX_ALIAS_NODES``: nodes that aliases may add, counted after expansion (an alias of a
  mapping with 3 scalars adds 4 nodes); 10,000 by default, far above any recipe's needs.
- ``MAX_DEPTH``: nesting depth of mappings and sequences; 64 (recipes nest about 5 deep).
- ``MAX_INT_DIGITS``: digits of one integer; 4,300 (CPython's own limit for base 10).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_ALIAS_NODES = 10_000
MAX_DEPTH = 64
MAX_INT_DIGITS = 4_300


class TextLimitError(ValueError):
    """Untrusted text broke one of the parsing limits; the message names the rule."""


def _position(node: Node | None) -> str:
    mark = getattr(node, "start_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


class BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader with the limits above; also reads 1e-4 (no dot) as a float, as JSON does."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._alias_nodes += self._size(node) if node is not None else 0
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise TextLimitError(
                    f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes{_position(node)}; "
                    "write the values out instead of repeating anchors"
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            line = f" (line {mark.line + 1})" if mark is not None else ""
            raise TextLimitError(f"YAML is nested more than {MAX_DEPTH} levels deep{line}")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _size(self, node: Node) -> int:
        """Nodes in ``node`` once expanded (memoised: shared subtrees are counted once each)."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            size += sum(self._size(k) + self._size(v) for k, v in node.value)
        self._sizes[id(node)] = size
        return size

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = sum(ch.isalnum() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise TextLimitError(f"integer has more than {MAX_INT_DIGITS} digits{_position(node)}")
        return super().construct_yaml_int(node)


BoundedSafeLoader.add_constructor("tag:yaml.org,2002:int", BoundedSafeLoader.construct_yaml_int)
BoundedSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def check_depth(data: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise TextLimitError when dicts/lists in ``data`` nest deeper than ``max_depth``
    (iterative: safe on any depth)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth + 1 > max_depth:
                raise TextLimitError(f"value is nested more than {max_depth} levels deep")
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)


def load_yaml(text: str) -> Any:
    """Parse untrusted YAML with the limits; raises TextLimitError or yaml.YAMLError."""
    return yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 - a SafeLoader subclass


def load_json(text: str) -> Any:
    """Parse untrusted JSON with the limits; raises TextLimitError or json.JSONDecodeError."""
    if _json_depth(text) > MAX_DEPTH:
        raise TextLimitError(f"JSON is nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise TextLimitError(f"integer has more than {MAX_INT_DIGITS} digits") from exc


def _json_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text, outside strings (a cheap pre-check)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest
