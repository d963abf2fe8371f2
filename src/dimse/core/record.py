"""Value classes whose methods are written in advance: :class:`Record` gives equality and a
``repr`` from a class's ``__slots__``, :class:`FrozenRecord` adds immutability and a hash.

``dataclasses`` compiles an ``__init__``, ``__repr__`` and ``__eq__`` for each class when its
module is imported (~0.4 ms a class here): for the PDU, event and header types every tool
loads, that was ~12 ms of each start-up, a tenth of a one-file storescu call.  A record
writes its ``__init__`` out (typed, and as fast as the generated one on the per-message
path) and shares the rest.  ``__slots__`` lists the fields in order; a name in ``UNCOMPARED``
is left out of equality and ``repr`` (bytes kept for speed, not part of the value).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from typing import ClassVar, Self


class Record:
    """A mutable value: equal to a record of the same class with equal fields; not hashable
    (defining ``__eq__`` alone sets ``__hash__`` to None, as for a dataclass that is not frozen)."""

    __slots__: tuple[str, ...] = ()
    #: fields that are not part of the value (left out of ``==`` and ``repr``)
    UNCOMPARED: ClassVar[frozenset[str]] = frozenset()

    def field_values(self) -> tuple[object, ...]:
        """The fields that make the value, in ``__slots__`` order."""
        hidden = self.UNCOMPARED
        return tuple(getattr(self, name) for name in self.__slots__ if name not in hidden)

    def as_dict(self) -> dict[str, object]:
        """Every field by name (``UNCOMPARED`` ones too)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def replace(self, **changes: object) -> Self:
        """A copy with ``changes`` (a record's ``__init__`` takes its fields by name)."""
        return type(self)(**(self.as_dict() | changes))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self.field_values() == other.field_values()

    def __repr__(self) -> str:
        hidden = self.UNCOMPARED
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name not in hidden)
        return f"{type(self).__qualname__}({shown})"


class FrozenError(AttributeError):
    """Assigning to or deleting a field of a :class:`FrozenRecord`."""


class FrozenRecord(Record):
    """An immutable value: fields are set once, in ``__init__``, with ``object.__setattr__``."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenError(f"cannot assign to field {name!r} of {type(self).__qualname__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete field {name!r} of {type(self).__qualname__}")

    def __hash__(self) -> int:
        return hash(self.field_values())
