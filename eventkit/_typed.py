"""Typed events: attrs classes, dataclasses (and pydantic models) in and out of event data.

An application declares an event once, as a type::

    @eventkit.event("order_ready")
    @attrs.frozen
    class OrderReady:
        order_id: str = attrs.field(metadata=eventkit.key("OrderId"))
        amount: Decimal

and gets the same value back from every provider. Why a dedicated cattrs
``Converter`` (never the global one): the hooks here define eventkit's wire
forms (Decimal as a string, datetime as ISO 8601, enums by value) and must not
leak into, or be changed by, an application's own cattrs use.

Two converters: the *strict* one reads what JSON platforms carry (a string is
not an int there: it is a mismatch), the *lenient* one is used for providers
whose payload model is flat strings (AMI headers, dialplan ``UserEvent()``),
where ``"49.99"`` is how a number arrives, so strings are converted to the
declared int, float, Decimal, bool, datetime or enum.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import functools
import logging
import math
import types
import typing
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar, Union

import attrs

from ._capabilities import PayloadModel
from ._errors import ConfigurationError, ValidationError, Violation
from ._event import Event
from ._json import JSONObject
from ._stats import Counters

if TYPE_CHECKING:
    import cattrs

T = TypeVar("T")
T2 = TypeVar("T2")

log = logging.getLogger("eventkit.typed")

OnInvalid = Literal["skip", "raw", "dead_letter"]
"""What a typed listener does with a payload that does not fit its type."""
ON_INVALID: tuple[str, ...] = typing.get_args(OnInvalid)

METADATA_KEY = "eventkit"
"""The namespace eventkit reads in a field's metadata (``{"eventkit": {"key": "OrderId"}}``)."""


# What mypy accepts as a typed event instance (the decorator itself is checked at run time).


class DataclassInstance(Protocol):
    __dataclass_fields__: ClassVar[dict[str, Any]]


class PydanticModel(Protocol):
    """The two pydantic v2 methods eventkit uses; pydantic itself is never imported."""

    def model_dump(self, *, mode: str = ..., by_alias: bool = ...) -> dict[str, Any]: ...


TypedInstance = Union[attrs.AttrsInstance, DataclassInstance, PydanticModel]


# Declaring


_NAMES: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


def _is_pydantic(cls: Any) -> bool:
    return isinstance(cls, type) and callable(getattr(cls, "model_validate", None)) and hasattr(cls, "model_fields")


def _is_record(cls: Any) -> bool:
    """An attrs class or a dataclass (the types cattrs structures field by field)."""
    return isinstance(cls, type) and (attrs.has(cls) or dataclasses.is_dataclass(cls))


def event(name: str) -> Callable[[type[T]], type[T]]:
    """Declare an event type: ``@eventkit.event("order_ready")`` above ``@attrs.frozen`` or ``@dataclass``.

    The name is the event name on the wire; the class's fields are its data.
    Put the decorator outermost (attrs and dataclasses may build a new class).
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError("@eventkit.event needs the event name: @eventkit.event('order_ready')")

    def declare(cls: type[T]) -> type[T]:
        if not (_is_record(cls) or _is_pydantic(cls)):
            raise ConfigurationError(
                f"@eventkit.event({name!r}) goes on an attrs class, a dataclass or a pydantic model, "
                f"above @attrs.frozen / @dataclass; {getattr(cls, '__qualname__', cls)!r} is none of these"
            )
        _NAMES[cls] = name
        return cls

    return declare


def key(wire_name: str) -> dict[str, Any]:
    """Field metadata naming the field's key on the wire: ``attrs.field(metadata=eventkit.key("OrderId"))``.

    Works the same in ``dataclasses.field(metadata=...)``; merge it with other
    metadata as ``{**eventkit.key("OrderId"), ...}``. Pydantic models use their
    own ``Field(alias=...)``.
    """
    if not isinstance(wire_name, str) or not wire_name:
        raise ConfigurationError("eventkit.key() needs a non-empty key name")
    return {METADATA_KEY: {"key": wire_name}}


def event_name(cls: type) -> str:
    """The event name declared with :func:`event`; raises if the class was not declared."""
    try:
        return _NAMES[cls]
    except (KeyError, TypeError):
        raise ConfigurationError(
            f"{getattr(cls, '__qualname__', cls)!r} is not an event type: declare it with @eventkit.event('<name>')"
        ) from None


# Fields and the types eventkit supports


@attrs.frozen
class FieldInfo:
    """One field of an event type: its Python name, its key on the wire and its declared type."""

    name: str
    key: str
    type: Any


def _wire_key(metadata: Mapping[Any, Any], default: str) -> str:
    ours = metadata.get(METADATA_KEY)
    if isinstance(ours, Mapping) and isinstance(ours.get("key"), str) and ours["key"]:
        return str(ours["key"])
    return default


def record_fields(cls: type) -> list[FieldInfo]:
    """The fields of an attrs class, dataclass or pydantic model, with resolved types and wire keys."""
    if attrs.has(cls):
        attrs.resolve_types(cls)
        return [FieldInfo(a.name, _wire_key(a.metadata, a.name), a.type) for a in attrs.fields(cls)]
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return [
            FieldInfo(f.name, _wire_key(f.metadata, f.name), hints.get(f.name, Any))
            for f in dataclasses.fields(cls)
            if f.init
        ]
    model_fields: Mapping[str, Any] = getattr(cls, "model_fields", {})
    return [
        FieldInfo(name, getattr(info, "alias", None) or name, getattr(info, "annotation", Any))
        for name, info in model_fields.items()
    ]


_SCALARS: tuple[type, ...] = (str, int, float, bool, Decimal, _dt.datetime, _dt.date, type(None))
_SEQUENCES: set[Any] = {list, tuple, set, frozenset, Sequence}
_MAPPINGS: set[Any] = {dict, Mapping}
SUPPORTED = (
    "str, int, float, bool, Decimal, datetime, date, enums, Literal, Optional/unions of these, "
    "list/tuple/set of them, dict with str keys, nested attrs classes, dataclasses or pydantic models, Any"
)


def type_problems(tp: Any, path: str, seen: set[type] | None = None) -> list[str]:
    """Every field type under ``tp`` that eventkit cannot put on the wire and read back."""
    seen = set() if seen is None else seen
    if tp is Any or tp is object or tp in _SCALARS:
        return []
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return []
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return []
    if origin is Union or origin is types.UnionType:
        return [p for arg in args for p in type_problems(arg, path, seen)]
    if tp in _SEQUENCES or origin in _SEQUENCES:
        return [p for arg in args if arg is not Ellipsis for p in type_problems(arg, f"{path}[]", seen)]
    if tp in _MAPPINGS or origin in _MAPPINGS:
        if not args:
            return []
        key_type, value_type = args
        out = []
        if not (key_type is str or (isinstance(key_type, type) and issubclass(key_type, str))):
            out.append(f"{path}: dict keys must be str (JSON object keys), not {_type_name(key_type)}")
        return out + type_problems(value_type, f"{path}{{}}", seen)
    if _is_pydantic(tp):
        return []
    if _is_record(tp):
        if tp in seen:
            return []
        seen.add(tp)
        try:
            fields = record_fields(tp)
        except (NameError, TypeError) as exc:
            return [f"{path}: the types of {tp.__qualname__} cannot be resolved ({exc})"]
        out = []
        keys: dict[str, str] = {}
        for field in fields:
            if field.key in keys:
                out.append(f"{path}.{field.name}: key {field.key!r} is also the key of {keys[field.key]!r}")
            keys[field.key] = field.name
            out.extend(type_problems(field.type, f"{path}.{field.name}", seen))
        return out
    return [f"{path}: {_type_name(tp)} is not supported (supported: {SUPPORTED})"]


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__qualname__
    return str(tp).replace("typing.", "")


_CHECKED: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


def check_declaration(cls: type) -> str:
    """The event name, once the class's field types were checked (once per class)."""
    name = event_name(cls)
    if cls not in _CHECKED:
        problems = type_problems(cls, "$")
        if problems:
            raise ConfigurationError(f"event type {cls.__qualname__}: " + "; ".join(problems))
        _CHECKED[cls] = True
    return name


# The converters


def _enum_value(value: Any, cls: type[enum.Enum], lenient: bool) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        if lenient and isinstance(value, str):
            for member in cls:
                wire = member.value
                if not isinstance(wire, str) and str(wire).lower() == value.strip().lower():
                    return member
        raise ValueError(f"{value!r} is not a value of {cls.__qualname__}") from None


def _wrong(value: Any, expected: str) -> TypeError:
    return TypeError(f"expected {expected}, got {type(value).__name__}")


def _parse_datetime(text: str) -> _dt.datetime:
    """ISO 8601 / RFC 3339: ``Z`` and fractions past microseconds (Stream sends nanoseconds) included."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        return _dt.datetime.fromisoformat(value)
    except ValueError:
        pass
    head, dot, tail = value.partition(".")
    if dot:
        digits = len(tail) - len(tail.lstrip("0123456789"))
        try:
            return _dt.datetime.fromisoformat(f"{head}.{tail[: min(digits, 6)]}{tail[digits:]}")
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not an ISO 8601 time")


@functools.cache
def converter(lenient: bool) -> cattrs.Converter:
    """The strict (JSON platforms) or lenient (flat-string platforms) converter, built on first use.

    Built lazily so that ``import eventkit`` does not pay for cattrs until typed events are used.
    """
    import cattrs
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    conv = cattrs.Converter()

    def as_enum(cls: Any) -> type[enum.Enum] | None:
        return cls if isinstance(cls, type) and issubclass(cls, enum.Enum) else None

    # cattrs dispatches str/int/float by the MRO first, so an IntEnum or a str enum reaches
    # these hooks too: each hands enums to the enum rule before its own.

    def structure_str(value: Any, cls: Any) -> Any:
        if (e := as_enum(cls)) is not None:
            return _enum_value(value, e, lenient)
        if not isinstance(value, str):
            raise _wrong(value, "a string")
        return value

    def structure_int(value: Any, cls: Any) -> Any:
        if (e := as_enum(cls)) is not None:
            return _enum_value(value, e, lenient)
        if isinstance(value, bool):
            raise _wrong(value, "an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if lenient and isinstance(value, str):
            return int(value.strip())
        raise _wrong(value, "an integer")

    def structure_float(value: Any, cls: Any) -> Any:
        if (e := as_enum(cls)) is not None:
            return _enum_value(value, e, lenient)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            result = float(value)
        elif lenient and isinstance(value, str):
            result = float(value.strip())
        else:
            raise _wrong(value, "a number")
        if not math.isfinite(result):
            raise ValueError(f"{value!r} is not a finite number")
        return result

    def structure_bool(value: Any, cls: Any) -> bool:
        if isinstance(value, bool):
            return value
        if lenient and isinstance(value, str):
            word = value.strip().lower()
            if word in ("true", "1"):
                return True
            if word in ("false", "0"):
                return False
            raise ValueError(f"{value!r} is not a boolean (true, false, 1 or 0)")
        if lenient and type(value) is int and value in (0, 1):
            return bool(value)
        raise _wrong(value, "a boolean")

    def structure_decimal(value: Any, cls: Any) -> Decimal:
        # A string is Decimal's wire form everywhere; a JSON number (another sender's) is read
        # through its shortest repr, so 49.99 becomes Decimal("49.99"), not the binary float.
        if isinstance(value, bool):
            raise _wrong(value, "a decimal string or number")
        if isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{value!r} is not a finite number")
            return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if isinstance(value, str):
            try:
                return Decimal(value.strip())
            except InvalidOperation:
                raise ValueError(f"{value!r} is not a decimal number") from None
        raise _wrong(value, "a decimal string or number")

    def structure_datetime(value: Any, cls: Any) -> _dt.datetime:
        if isinstance(value, str):
            return _parse_datetime(value)
        raise _wrong(value, "an ISO 8601 string")

    def structure_date(value: Any, cls: Any) -> _dt.date:
        if isinstance(value, str):
            return _dt.date.fromisoformat(value.strip())
        raise _wrong(value, "an ISO 8601 date string")

    conv.register_structure_hook(str, structure_str)
    conv.register_structure_hook(int, structure_int)
    conv.register_structure_hook(float, structure_float)
    conv.register_structure_hook(bool, structure_bool)
    conv.register_structure_hook(Decimal, structure_decimal)
    conv.register_structure_hook(_dt.datetime, structure_datetime)
    conv.register_structure_hook(_dt.date, structure_date)
    conv.register_structure_hook_func(
        lambda cls: as_enum(cls) is not None, lambda value, cls: _enum_value(value, cls, lenient)
    )

    def unstructure_decimal(value: Any) -> str:
        if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
            return str(value)
        raise _wrong(value, "a Decimal")

    def unstructure_datetime(value: Any) -> str:
        if isinstance(value, _dt.date):
            return value.isoformat()
        raise _wrong(value, "a datetime")

    conv.register_unstructure_hook(Decimal, unstructure_decimal)
    conv.register_unstructure_hook(_dt.datetime, unstructure_datetime)
    conv.register_unstructure_hook(_dt.date, unstructure_datetime)
    conv.register_unstructure_hook_factory(
        lambda cls: as_enum(cls) is not None, lambda cls: lambda value: cls(value).value
    )

    def renames(cls: type) -> dict[str, Any]:
        return {f.name: override(rename=f.key) for f in record_fields(cls) if f.key != f.name}

    conv.register_unstructure_hook_factory(_is_record, lambda cls: make_dict_unstructure_fn(cls, conv, **renames(cls)))
    conv.register_structure_hook_factory(_is_record, lambda cls: make_dict_structure_fn(cls, conv, **renames(cls)))
    conv.register_unstructure_hook_func(_is_pydantic, lambda value: value.model_dump(mode="json", by_alias=True))
    conv.register_structure_hook_func(_is_pydantic, lambda value, cls: cls.model_validate(value))
    return conv


# Sending


def to_data(instance: object) -> JSONObject:
    """The event data of a typed instance (its wire keys and JSON values)."""
    cls = type(instance)
    check_declaration(cls)
    try:
        data = converter(lenient=False).unstructure(instance, cls)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(
            violations=[Violation("data", "type", f"{cls.__qualname__} cannot be sent as data: {exc}")]
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(violations=[Violation("data", "object", f"{cls.__qualname__} did not give an object")])
    return data


def to_event(instance: object, data: object = None) -> Event:
    """An untargeted :class:`Event` for a typed instance; the Event's own validation applies."""
    if data is not None:
        raise ValidationError("a typed event carries its own data: give no data beside it")
    return Event(event_name(type(instance)), to_data(instance))


# Receiving


@attrs.frozen
class Typed(Generic[T]):
    """A received typed event: the structured ``value`` and the envelope ``event`` it came in."""

    value: T
    event: Event
    """The untyped event: id, time, provider, source, sender, meta and the raw wire value."""

    @property
    def name(self) -> str:
        return self.event.name

    @property
    def id(self) -> str:
        return self.event.id

    @property
    def time(self) -> _dt.datetime:
        return self.event.time

    @property
    def provider(self) -> str | None:
        return self.event.provider

    @property
    def source(self) -> str | None:
        return self.event.source

    @property
    def sender(self) -> str | None:
        return self.event.sender

    @property
    def meta(self) -> JSONObject:
        return self.event.meta


class InvalidPayloadError(ValidationError):
    """A received event's data does not fit its declared type; ``violations`` has every field error.

    Raised per event only with ``on_invalid="dead_letter"``, so that a store-backed
    consumer can catch it and move ``event`` to the dead letters.
    """

    def __init__(self, event: Event, type_: type, errors: Sequence[str], *, provider: str | None = None) -> None:
        self.event = event
        self.type = type_
        self.errors = tuple(errors)
        violations = [Violation(_error_path(e), "type", e, provider) for e in self.errors]
        super().__init__(
            f"{event.name!r} does not fit {type_.__qualname__}: " + "; ".join(self.errors),
            violations=violations,
            provider=provider,
        )


def _error_path(message: str) -> str:
    _, at, path = message.rpartition(" @ ")
    return path if at else "data"


def structure_errors(exc: BaseException) -> list[str]:
    """Every field error of a failed structuring, without the values (they may be personal data)."""
    errors_method = getattr(exc, "errors", None)
    if callable(errors_method):  # pydantic's ValidationError
        try:
            out = []
            for error in errors_method():
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.get("loc", ()))
                out.append(f"{error.get('msg', 'invalid')} @ ${loc}")
            return out
        except Exception:
            pass
    import cattrs

    if isinstance(exc, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
        return cattrs.transform_error(exc)
    return [f"{type(exc).__name__}: {exc} @ $"]


def structure(cls: type[T], data: Any, *, lenient: bool = False) -> T:
    """``data`` as ``cls``; raises the structuring error (see :func:`structure_errors`)."""
    value: T = converter(lenient).structure(data, cls)
    return value


class TypedListen:
    """Turns one listener's events into :class:`Typed` values for the types it was asked for.

    ``convert`` is the per-event step (also for a store-backed consumer): a
    :class:`Typed`, the raw :class:`Event` (``on_invalid="raw"``), ``None`` (skip)
    or :class:`InvalidPayloadError` (``on_invalid="dead_letter"``).
    """

    MAX_LOGGED = 1024
    """Distinct (type, key set) shapes logged per listener; past that, failures are only counted."""

    def __init__(
        self,
        types_: Sequence[type],
        *,
        on_invalid: str = "skip",
        lenient: bool = False,
        stats: Counters | None = None,
        provider: str | None = None,
    ) -> None:
        if on_invalid not in ON_INVALID:
            raise ConfigurationError(f"on_invalid must be one of {', '.join(ON_INVALID)}, not {on_invalid!r}")
        by_name: dict[str, type] = {}
        for cls in types_:
            name = check_declaration(cls)
            if name in by_name and by_name[name] is not cls:
                raise ConfigurationError(
                    f"{by_name[name].__qualname__} and {cls.__qualname__} both declare the event {name!r}"
                )
            by_name[name] = cls
        self.by_name = by_name
        self.on_invalid = on_invalid
        self.lenient = lenient
        self.stats = stats if stats is not None else Counters()
        self.provider = provider
        self._logged: set[tuple[type, frozenset[str]]] = set()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.by_name)

    def convert(self, event: Event) -> Typed[Any] | Event | None:
        cls = self.by_name.get(event.name)
        if cls is None:
            return None
        try:
            return Typed(structure(cls, event.data, lenient=self.lenient), event)
        except Exception as exc:  # any structuring failure is bad peer input, never a crash
            errors = structure_errors(exc)
        self.stats.incr("invalid_events")
        shape = (cls, frozenset(event.data))
        if shape not in self._logged and len(self._logged) < self.MAX_LOGGED:
            self._logged.add(shape)
            log.warning(
                "%r from %s does not fit %s (keys: %s); %s: %s",
                event.name,
                event.provider or self.provider or "?",
                cls.__qualname__,
                ", ".join(repr(k) for k in sorted(event.data)[:20]) or "none",  # repr: no forged log lines
                {"skip": "skipped", "raw": "yielded untyped", "dead_letter": "to dead letters"}[self.on_invalid],
                "; ".join(errors),
            )
        if self.on_invalid == "raw":
            return event
        if self.on_invalid == "dead_letter":
            raise InvalidPayloadError(event, cls, errors, provider=event.provider or self.provider)
        return None

    async def wrap(self, source: AsyncIterator[Event]) -> AsyncIterator[Typed[Any] | Event]:
        try:
            async for event in source:
                try:
                    converted = self.convert(event)
                except InvalidPayloadError as exc:
                    if event.delivery is None or event.delivery.give_back is None:
                        raise
                    # From a store: give it back with every field error; past the group's
                    # max_attempts the store moves it to the dead letters.
                    await event.delivery.release(exc.message[:500])
                    continue
                if converted is not None:
                    yield converted
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()


def _typed_names(names: object) -> list[type] | None:
    """The types in ``listen``'s first argument, or None when it is names (or nothing)."""
    if isinstance(names, type):
        return [names]
    if isinstance(names, (list, tuple, set, frozenset)) and any(isinstance(n, type) for n in names):
        if not all(isinstance(n, type) for n in names):
            raise ConfigurationError("listen() takes event names or event types, not a mix of both")
        return list(names)
    return None


def typed_listen(
    names: object, options: dict[str, Any], *, payload: PayloadModel, stats: Counters, provider: str
) -> tuple[Iterable[str] | str | None, TypedListen | None]:
    """Split ``listen``'s arguments: the names to filter on, and the typed step if types were given.

    Takes ``on_invalid`` and ``lenient`` out of ``options`` (they are not the
    provider's). ``lenient`` defaults to the provider's payload model.
    """
    on_invalid = options.pop("on_invalid", None)
    lenient = options.pop("lenient", None)
    classes = _typed_names(names)
    if classes is None:
        if on_invalid is not None or lenient is not None:
            raise ConfigurationError("on_invalid and lenient apply when listening for event types")
        return names, None  # type: ignore[return-value]
    if lenient is None:
        lenient = payload is PayloadModel.FLAT_STRINGS
    spec = TypedListen(classes, on_invalid=on_invalid or "skip", lenient=bool(lenient), stats=stats, provider=provider)
    return spec.names, spec
