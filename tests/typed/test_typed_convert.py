"""Declaring event types and their wire forms: the converter's hooks, strict and lenient."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from typed_support import Address, Line, OrderReady, Priority, Refund, Status, full_order

import eventkit
from eventkit import ConfigurationError, Event, ValidationError
from eventkit._typed import converter, structure, to_data, to_event


def test_unstructure_uses_wire_keys_and_lossless_forms() -> None:
    data = to_data(full_order())
    assert data == {
        "OrderId": "ORD-1234",
        "amount": "49.99",
        "paid": True,
        "items": 3,
        "weight": 1.25,
        "at": "2024-05-06T07:08:09.123456+02:00",
        "due": "2024-05-07",
        "status": "paid",
        "priority": 2,
        "note": "leave at the door",
        "lines": [
            {"sku": "TEA", "qty": 2, "UnitPrice": "1.10"},
            {"sku": "CAKE", "qty": 1, "UnitPrice": "3.00"},
        ],
        "tags": {"loyalty": 7},
        "address": {"street": "1 Main St", "Zip": "12345"},
    }


def test_structure_gives_back_an_equal_value() -> None:
    order = full_order()
    assert structure(OrderReady, to_data(order)) == order
    assert structure(OrderReady, to_data(order), lenient=True) == order


def test_decimal_keeps_every_digit() -> None:
    amount = Decimal("12345678901234567890.123456789012345678901")
    order = full_order(amount=amount)
    back = structure(OrderReady, to_data(order))
    assert back.amount == amount and str(back.amount) == str(amount)


def test_a_json_number_for_a_decimal_is_read_through_its_shortest_repr() -> None:
    data = {**to_data(full_order()), "amount": 49.99}
    assert structure(OrderReady, data).amount == Decimal("49.99")


def test_to_event_names_the_event_and_carries_the_data() -> None:
    event = to_event(Refund("R-1", Decimal("5.00")))
    assert event.name == "Refund" and event.data == {"OrderId": "R-1", "amount": "5.00"}


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("amount", "49.99", Decimal("49.99")),
        ("paid", "true", True),
        ("paid", "FALSE", False),
        ("paid", "1", True),
        ("paid", "0", False),
        ("items", "7", 7),
        ("weight", "2.5", 2.5),
        ("at", "2024-05-06T07:08:09Z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)),
        ("at", "2024-05-06T07:08:09.123456789Z", datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)),
        ("due", "2024-05-07", date(2024, 5, 7)),
        ("status", "new", Status.NEW),
        ("priority", "1", Priority.LOW),
    ],
)
def test_lenient_reads_strings_as_the_declared_types(key: str, text: str, expected: Any) -> None:
    data = {**to_data(full_order()), key: text}
    assert getattr(structure(OrderReady, data, lenient=True), key) == expected


@pytest.mark.parametrize(("key", "text"), [("paid", "true"), ("items", "7"), ("weight", "2.5"), ("priority", "1")])
def test_strict_refuses_strings_where_json_has_other_types(key: str, text: str) -> None:
    data = {**to_data(full_order()), key: text}
    with pytest.raises(Exception) as caught:
        structure(OrderReady, data)
    assert key in str(eventkit._typed.structure_errors(caught.value))


@pytest.mark.parametrize(
    ("key", "value"),
    [("paid", "yes"), ("items", "seven"), ("items", 1.5), ("amount", "4x"), ("at", "yesterday"), ("status", "lost")],
)
def test_values_that_do_not_fit_are_refused_even_leniently(key: str, value: Any) -> None:
    data = {**to_data(full_order()), key: value}
    with pytest.raises(Exception) as caught:
        structure(OrderReady, data, lenient=True)
    errors = eventkit._typed.structure_errors(caught.value)
    assert len(errors) == 1 and errors[0].endswith(f"$.{key}")


def test_every_field_error_is_reported_together() -> None:
    data = {"OrderId": 5, "amount": "x", "paid": "maybe"}
    with pytest.raises(Exception) as caught:
        structure(OrderReady, data, lenient=True)
    errors = eventkit._typed.structure_errors(caught.value)
    paths = {e.rpartition(" @ ")[2] for e in errors}
    assert {"$.order_id", "$.amount", "$.paid", "$.items", "$.weight", "$.at", "$.due"} <= paths


def test_the_converters_are_eventkits_own() -> None:
    import cattrs

    assert converter(False) is not cattrs.global_converter and converter(True) is not cattrs.global_converter
    assert cattrs.unstructure(Decimal("1.5")) == Decimal("1.5")  # the global converter is untouched


def test_extra_keys_from_other_senders_are_ignored() -> None:
    data = {"OrderId": "R-1", "amount": "1", "added_by_someone": True}
    assert structure(Refund, data) == Refund("R-1", Decimal("1"))


def test_nested_classes_use_their_own_wire_keys() -> None:
    data = {"sku": "A", "qty": 1, "UnitPrice": "0.10"}
    assert structure(Line, data) == Line("A", 1, Decimal("0.10"))
    assert structure(Address, {"street": "s"}) == Address("s")


# Declaring


def test_the_decorator_goes_above_attrs_or_dataclass() -> None:
    with pytest.raises(ConfigurationError, match=r"above @attrs\.frozen"):

        @attrs.frozen
        @eventkit.event("x")
        class Wrong:
            a: int


def test_the_decorator_needs_a_name() -> None:
    with pytest.raises(ConfigurationError):
        eventkit.event("")


def test_unsupported_field_types_are_refused_with_every_problem() -> None:
    @eventkit.event("bad")
    @attrs.frozen
    class Bad:
        a: complex
        b: dict[int, str]
        c: list[bytes]

    with pytest.raises(ConfigurationError) as caught:
        to_data(Bad(1j, {}, []))
    message = str(caught.value)
    assert "$.a: complex" in message and "$.b: dict keys must be str" in message and "$.c[]: bytes" in message


def test_two_fields_with_one_key_are_refused() -> None:
    @eventkit.event("dup")
    @dataclasses.dataclass
    class Dup:
        a: str = dataclasses.field(metadata=eventkit.key("k"))
        b: str = dataclasses.field(metadata=eventkit.key("k"))

    with pytest.raises(ConfigurationError, match="key 'k'"):
        to_data(Dup("1", "2"))


def test_an_undeclared_class_is_not_an_event() -> None:
    @attrs.frozen
    class Plain:
        a: int

    with eventkit.connect("memory", environ={}) as kit, pytest.raises(ConfigurationError, match=r"@eventkit\.event"):
        kit.send(Plain(1), to="topic:t")
    with pytest.raises(ConfigurationError, match=r"@eventkit\.event"):
        eventkit.check(Plain)


# Sending: the typed value becomes the event's data, every validation still applies


def test_a_wrongly_typed_value_is_refused_before_sending() -> None:
    order = full_order(amount=49.99)  # attrs does not check types; eventkit does before sending
    with eventkit.connect("memory", environ={}) as kit, pytest.raises(ValidationError) as caught:
        kit.send(order, to="topic:t")
    assert caught.value.violations[0].field == "data"
    assert kit.stats["sent"] == 0


def test_data_beside_a_typed_event_is_refused() -> None:
    with eventkit.connect("memory", environ={}) as kit, pytest.raises(ValidationError):
        kit.send(Refund("R-1"), {"x": 1}, to="topic:t")  # type: ignore[call-overload]


def test_the_events_own_validation_applies() -> None:
    with eventkit.connect("memory", environ={}) as kit, pytest.raises(ValidationError):
        kit.send(full_order(weight=float("nan")), to="topic:t")


class Kind(str, enum.Enum):
    A = "a"


def test_provider_rules_apply_to_typed_events() -> None:
    @eventkit.event("clash")
    @attrs.frozen
    class Clash:
        type: Kind
        user: str | None = None

    with eventkit.connect("stream", api_key="k", api_secret="s", environ={}) as kit:
        violations = kit.validate(Clash(Kind.A), to="channel:messaging:general", sender="bot")
    assert {v.field for v in violations} == {"data.type", "data.user"}


def test_make_event_applies_target_sender_and_id() -> None:
    with eventkit.connect("memory", environ={}) as kit:
        event = kit.make_event(Refund("R-1"), to="topic:t", sender="till", id="fixed")
    assert isinstance(event, Event)
    assert (event.name, event.target, event.sender, event.id) == ("Refund", "topic:t", "till", "fixed")
    assert event.data == {"OrderId": "R-1", "amount": "0"}
