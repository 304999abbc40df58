"""Every public function, method and class of the core, the config, the paths and the errors has a docstring.

The modules are found by walking ``baton.core``; a name is public when it does not start with ``_``. Members are
counted where they are defined: inherited ones, names imported from elsewhere, and the methods ``dataclass``
writes (``__init__``, ``__repr__``, ``__eq__``...) are skipped. The failure lists each name without a docstring.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from types import ModuleType

import baton.core

TOP_MODULES = ("baton.config", "baton.config_rules", "baton.paths", "baton.errors")


def _modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(baton.core.__path__, "baton.core.")]
    return [importlib.import_module(n) for n in sorted(["baton.core", *names, *TOP_MODULES])]


def _own_doc(obj: object) -> bool:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if isinstance(obj, type) and dataclasses.is_dataclass(obj) and doc and doc.startswith(obj.__name__ + "("):
        return False  # the signature ``dataclass`` writes when the class has no docstring
    return bool(doc and doc.strip())


def _function(value: object) -> object | None:
    """The function behind a class attribute (plain, static, class method or property getter), else None."""
    if isinstance(value, (staticmethod, classmethod)):
        return value.__func__
    if isinstance(value, property):
        return value.fget
    if inspect.isfunction(value):
        return value
    return None


def _missing_in_class(cls: type, qualname: str) -> list[str]:
    out = []
    generated = {"__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__getstate__",
                 "__setstate__", "__match_args__", "__replace__"}
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        fn = _function(value)
        if fn is None:
            if inspect.isclass(value) and value.__qualname__.startswith(cls.__qualname__ + "."):
                if not _own_doc(value):
                    out.append(f"{qualname}.{name}")
                out.extend(_missing_in_class(value, f"{qualname}.{name}"))
            continue
        qual = getattr(fn, "__qualname__", "")
        if not qual.startswith(cls.__qualname__ + ".") or qual.split(".")[-1] in generated:
            continue  # a function stored as a field default, an alias, or written by ``dataclass``
        if not (fn.__doc__ and fn.__doc__.strip()):
            out.append(f"{qualname}.{name}")
    return out


def undocumented() -> list[str]:
    """``module:qualname`` of every public function, method and class defined in the checked modules that has
    no docstring of its own."""
    out: list[str] = []
    for module in _modules():
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(value):
                if not _own_doc(value):
                    out.append(f"{module.__name__}:{name}")
                out.extend(f"{module.__name__}:{q}" for q in _missing_in_class(value, name))
            elif inspect.isfunction(value) and not (value.__doc__ and value.__doc__.strip()):
                out.append(f"{module.__name__}:{name}")
    return sorted(set(out))


def test_the_walk_sees_the_public_api() -> None:
    """The check would pass vacuously if the walk found nothing: it must reach the service and the router."""
    names = {m.__name__ for m in _modules()}
    assert {"baton.core.service", "baton.core.router.policy", "baton.core.telemetry.meter", "baton.config",
            "baton.paths", "baton.errors"} <= names


def test_every_public_function_method_and_class_has_a_docstring() -> None:
    missing = undocumented()
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)
