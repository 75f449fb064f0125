"""The recipe's ``tile``: a name ("F(4,3)") or a mapping with points and accuracy options.

    tile: F(6,3)                                    # default points, modified form
    tile: {m: 6, r: 3, points: barabasz-6-3}        # a named set (winograd.point_sets)
    tile: {m: 6, r: 3, points: ["0", "1/2", "-1/2", 1, -1, 2, -2]}   # finite points, + infinity
    tile: {m: 4, r: 3, form: original, channel_sum: pairwise, order: huffman}

A mapping whose options are all defaults canonicalises to the name, so recipes that spell the
default tile either way keep the sha256 of the plain name. Errors name the field
(``tile.points.2: ...``); point strings are parsed by ``fractions.Fraction``, never evaluated.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, PlainSerializer, PlainValidator, ValidationError, WithJsonSchema

from winoprune.recipes.fields import StrictModel, in_range, raise_rules, unset
from winoprune.winograd.accurate import ChannelSum, Summation, TransformOrder
from winoprune.winograd.points import Form, named_set, resolve
from winoprune.winograd.transforms import MAX_ALPHA, WinogradTransform, standard_transform

DEFAULT_TILE = "F(4,3)"
FIELD_PREFIX = re.compile(r"^(points(?:\.\d+)?|form|m|r|alpha): ")


def _not_default(default: Any) -> Any:
    return lambda value: value == default


class TileSpec(StrictModel):
    """F(m, r) with chosen points (a set name or finite points), form and summation options."""

    m: Annotated[int, in_range(1, MAX_ALPHA)]
    r: Annotated[int, in_range(1, MAX_ALPHA)]
    # a named set, or the finite points (the modified form adds infinity)
    points: str | list[Any] | None = Field(default=None, exclude_if=unset)  # items: tile_rules
    # null: the named set's form, else modified (alpha - 1 finite points and infinity)
    form: Form | None = Field(default=None, exclude_if=unset)
    channel_sum: ChannelSum = Field(default="blas", exclude_if=_not_default("blas"))
    order: TransformOrder = Field(default="natural", exclude_if=_not_default("natural"))

    @property
    def name(self) -> str:
        return f"F({self.m},{self.r})"

    def resolved_form(self) -> Form:
        if self.form is not None:
            return self.form
        return named_set(self.points).form if isinstance(self.points, str) else "modified"

    def transform(self) -> WinogradTransform:
        values = self.points
        return resolve(self.m, self.r, values, self.resolved_form())

    def summation(self) -> Summation:
        return Summation(self.channel_sum, self.order)

    def is_default(self) -> bool:
        return (
            self.points is None and self.form in (None, "modified") and self.summation().is_default
        )


def tile_rules(spec: TileSpec) -> list[tuple[str, str]]:
    """Cross-field checks: alpha, the points (name, count, distinct, finite), the form."""
    if spec.m + spec.r - 1 > MAX_ALPHA:
        return [("m", f"m + r - 1 = {spec.m + spec.r - 1} exceeds the maximum {MAX_ALPHA}")]
    try:
        if isinstance(spec.points, str) and spec.form is not None:
            chosen = named_set(spec.points)
            if chosen.form != spec.form:
                return [("form", f"{spec.points!r} is a set of the {chosen.form} form")]
        spec.transform()
    except ValueError as exc:
        text = str(exc)
        found = FIELD_PREFIX.match(text)
        loc = found.group(1) if found else "points"
        return [("m" if loc == "alpha" else loc, text[found.end() :] if found else text)]
    return []


def validate_tile(value: Any) -> str | TileSpec:
    """A tile name (canonical spelling) or a TileSpec; default-only mappings become the name."""
    if isinstance(value, str):
        try:
            return standard_transform(value).name
        except ValueError as exc:
            raise ValueError(str(exc).removeprefix("tile: ")) from None
    if isinstance(value, TileSpec):
        spec = value
    elif isinstance(value, dict):
        try:
            spec = TileSpec.model_validate(value)
        except ValidationError as exc:
            raise_rules([(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()])
            raise  # unreachable: raise_rules raised
    else:
        raise ValueError("must be a name like F(4,3) or a mapping {m, r, points, ...}")
    if problems := tile_rules(spec):
        raise_rules(problems)
    return spec.name if spec.is_default() else spec


TILE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "description": "F(m,r), e.g. F(4,3)"},
        {**TileSpec.model_json_schema(), "title": "TileSpec"},
    ],
    "default": DEFAULT_TILE,
}


def serialize_tile(value: Any) -> Any:
    """The name, or the mapping without its default options (JSON-ready)."""
    if isinstance(value, TileSpec):
        return value.model_dump(mode="json")
    return value


Tile = Annotated[
    str | TileSpec,
    PlainValidator(validate_tile),
    PlainSerializer(serialize_tile),
    WithJsonSchema(TILE_SCHEMA),
]


def tile_transform(tile: str | TileSpec) -> WinogradTransform:
    """The WinogradTransform of a validated tile."""
    return standard_transform(tile) if isinstance(tile, str) else tile.transform()


def tile_summation(tile: str | TileSpec) -> Summation:
    """The layers' summation options of a validated tile (defaults for a plain name)."""
    return Summation() if isinstance(tile, str) else tile.summation()


def tile_name(tile: str | TileSpec) -> str:
    return tile if isinstance(tile, str) else tile.name


def tile_points_label(tile: str | TileSpec) -> str:
    """ "default", the set's name, or the points as written."""
    if isinstance(tile, str) or tile.points is None:
        return "default" if isinstance(tile, str) or tile.form != "original" else "default-original"
    return tile.points if isinstance(tile.points, str) else ",".join(str(p) for p in tile.points)


__all__ = ["DEFAULT_TILE", "Tile", "TileSpec", "tile_name", "tile_summation", "tile_transform"]
