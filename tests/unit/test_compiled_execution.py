"""The executor's compiled and attribute fast paths (server/schema/compiled.py, execution.py) must
give exactly graphql-core's answer: the same data, the same errors at the same paths, the same
null propagation. Each query here runs through both executors and the results are compared; the
tests also check that the compiled path really ran, so a silent fallback cannot pass for it."""

from __future__ import annotations

import datetime as dt
import json
import math
from enum import Enum
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import strawberry
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from server.schema.execution import TrialExecutionContext


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Leaf(Named):
    name: str
    score: float | None
    count: int
    when: dt.datetime | None
    day: dt.date | None
    colour: Colour
    tags: list[str]
    maybe_tags: list[str | None] | None

    @strawberry.field
    def doubled(self) -> int:
        return self.count * 2

    @strawberry.field
    def boom(self) -> int:
        raise ValueError("boom")

    @strawberry.field
    async def later(self) -> int:
        return self.count + 1

    @strawberry.field
    def plus(self, x: int) -> int:
        return self.count + x


@strawberry.type
class Plain:
    """No interface: no is_type_of, any object with the attributes will do (as in graphql-core)."""

    value: int


@strawberry.type
class Box:
    label: str
    leaf: Leaf | None
    strict_leaf: Leaf
    leaves: list[Leaf]
    maybe_leaves: list[Leaf | None] | None
    plain: Plain | None


def leaf(name: str = "a", **overrides: Any) -> Leaf:
    values: dict[str, Any] = {
        "name": name,
        "score": 1.5,
        "count": 3,
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
        "day": dt.date(2026, 1, 2),
        "colour": Colour.RED,
        "tags": ["x", "y"],
        "maybe_tags": ["z", None],
    }
    values.update(overrides)
    return Leaf(**values)


def box(label: str = "b", **overrides: Any) -> Box:
    values: dict[str, Any] = {
        "label": label,
        "leaf": leaf("l"),
        "strict_leaf": leaf("s"),
        "leaves": [leaf("1"), leaf("2", colour=Colour.BLUE, when=None)],
        "maybe_leaves": [leaf("m"), None],
        "plain": Plain(value=7),
    }
    values.update(overrides)
    return Box(**values)


class Duck:
    value = 9


BOXES: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box]:
        return BOXES

    @strawberry.field
    def maybe_boxes(self) -> list[Box | None]:
        return BOXES


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    fast = strawberry.Schema(query=Query, execution_context_class=TrialExecutionContext)
    plain = strawberry.Schema(query=Query, execution_context_class=StrawberryGraphQLCoreExecutionContext)
    return fast, plain


FULL = """
fragment L on Leaf { name score count when day colour tags maybeTags doubled __typename }
query Q($skip: Boolean = false) {
  boxes {
    label
    leaf { ...L }
    strictLeaf { ...L nick: name }
    leaves { ...L name @skip(if: $skip) }
    maybeLeaves { name count }
    plain { value }
  }
}
"""


def normalise(result: Any) -> tuple[Any, Any]:
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


async def both(query: str, variables: dict[str, Any] | None = None, field: str = "boxes") -> tuple[Any, Any]:
    fast, plain = schemas()
    fast_result = await fast.execute(query, variable_values=variables)
    plain_result = await plain.execute(query, variable_values=variables)
    assert normalise(fast_result) == normalise(plain_result)
    compilers = fast._schema.__dict__.get("_plan_compilers", {})
    return normalise(fast_result), {spec: f for c in compilers.values() for spec, f in c.functions.items()}


@pytest.fixture(autouse=True)
def _reset_boxes() -> Any:
    BOXES.clear()
    yield
    BOXES.clear()


async def test_plain_selection_is_compiled_and_matches_graphql_core() -> None:
    BOXES.extend([box("one"), box("two")])
    (data, errors), functions = await both(FULL)
    assert errors == []
    assert functions, "the compiled path did not run"
    first = data["boxes"][0]
    assert first["leaf"]["when"] == "2026-01-02T03:04:05.000006+00:00"
    assert first["leaf"]["doubled"] == 6  # a self-only resolver is compiled too
    assert first["leaves"][1]["colour"] == "BLUE"
    assert first["strictLeaf"]["nick"] == "s"
    assert first["maybeLeaves"] == [{"name": "m", "count": 3}, None]


async def test_skip_variable_changes_the_selection() -> None:
    BOXES.append(box())
    (data, _), _ = await both(FULL, {"skip": True})
    assert "name" in data["boxes"][0]["leaves"][0]  # still selected by the fragment


@pytest.mark.parametrize(
    "broken",
    [
        {"leaf": leaf(score=math.nan)},  # Float cannot represent NaN
        {"leaf": leaf(count=2**40)},  # beyond GraphQL's 32-bit Int
        {"leaf": leaf(count=None)},  # null in a non-null field
        {"leaf": leaf(colour="green")},  # not an enum value
        {"leaf": leaf(name=12)},  # String coerces an int
        {"leaf": leaf(score=2)},  # Float coerces an int
        {"leaf": leaf(when="not a datetime")},
        {"strict_leaf": None},  # null object in a non-null field propagates to the box
        {"leaves": [leaf(), None]},  # null item in a list of non-null
        {"leaves": (leaf(), leaf())},  # a tuple is a list too
        {"leaf": Plain(value=1)},  # not a Leaf: is_type_of refuses it
        {"plain": Duck()},  # no is_type_of: duck typing is accepted
        {"maybe_leaves": None},
        {"leaf": leaf(tags=None)},
        {"leaf": leaf(maybe_tags=[None, None])},
    ],
)
async def test_bad_values_give_graphql_cores_answer(broken: dict[str, Any]) -> None:
    BOXES.extend([box("ok"), box("broken", **broken)])
    await both(FULL)
    await both(FULL.replace("boxes {", "maybeBoxes {", 1))


async def test_fields_that_cannot_be_compiled_take_the_normal_path() -> None:
    BOXES.append(box())
    query = "{ boxes { label leaf { name boom later plus(x: 2) } strictLeaf { later } } }"
    (data, errors), _ = await both(query)
    assert data["boxes"][0]["leaf"] is None  # boom nulls the nullable leaf
    assert errors == [("boom", ("boxes", 0, "leaf", "boom"))]
    assert data["boxes"][0]["strictLeaf"] == {"later": 4}


async def test_introspection_fields_are_left_to_graphql_core() -> None:
    BOXES.append(box())
    (data, _), _ = await both("{ boxes { leaf { __typename name } } __typename }")
    assert data["boxes"][0]["leaf"]["__typename"] == "Leaf"


async def test_native_datetimes_encode_exactly_as_isoformat() -> None:
    """Over HTTP the executor leaves UTC datetimes to orjson (Context.native_datetimes); the
    encoded answer must be the one graphql-core's isoformat strings give."""
    other_zone = dt.timezone(dt.timedelta(hours=5, minutes=30))
    BOXES.extend(
        [
            box("utc"),
            box("offset", leaf=leaf(when=dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=other_zone))),
            box("naive", leaf=leaf(when=dt.datetime(2026, 5, 6, 7, 8, 9))),
        ]
    )
    fast, plain = schemas()
    native = await fast.execute(FULL, context_value=SimpleNamespace(native_datetimes=True))
    reference = await plain.execute(FULL)
    assert native.errors is None and reference.errors is None
    assert isinstance(native.data["boxes"][0]["leaf"]["when"], dt.datetime)  # really left to the encoder
    assert isinstance(native.data["boxes"][1]["leaf"]["when"], str)  # only UTC ones are
    assert orjson.loads(orjson.dumps(native.data)) == json.loads(json.dumps(reference.data))


@settings(max_examples=300)
@given(moment=st.datetimes(timezones=st.just(dt.timezone.utc)))
def test_orjson_writes_a_utc_datetime_as_isoformat_does(moment: dt.datetime) -> None:
    assert orjson.dumps(moment) == json.dumps(moment.isoformat()).encode()


class Refuse(strawberry.BasePermission):
    message = "refused"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Guarded:
    open_value: int
    secret: int = strawberry.field(permission_classes=[Refuse])


@strawberry.type
class GuardedQuery:
    @strawberry.field
    def guarded(self) -> list[Guarded]:
        return [Guarded(open_value=1, secret=2)]


async def test_a_field_with_permission_classes_is_never_read_around_them() -> None:
    fast = strawberry.Schema(query=GuardedQuery, execution_context_class=TrialExecutionContext)
    plain = strawberry.Schema(query=GuardedQuery, execution_context_class=StrawberryGraphQLCoreExecutionContext)
    query = "{ guarded { openValue secret } }"
    fast_result, plain_result = await fast.execute(query), await plain.execute(query)
    assert normalise(fast_result) == normalise(plain_result)
    assert fast_result.data is None and [e.message for e in fast_result.errors] == ["refused"]
