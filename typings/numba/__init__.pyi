# The two names of numba the engine uses, typed so that a jitted function keeps its annotated
# signature for mypy (numba ships no type information; it ignores annotations when it compiles).
from collections.abc import Callable
from typing import Any, TypeVar, overload

_F = TypeVar("_F", bound=Callable[..., Any])

@overload
def njit(func: _F, /) -> _F: ...
@overload
def njit(*, cache: bool = ..., fastmath: bool | set[str] = ..., inline: str = ..., parallel: bool = ...,
         nogil: bool = ..., boundscheck: bool = ..., error_model: str = ...) -> Callable[[_F], _F]: ...
def prange(start: int, stop: int = ..., step: int = ..., /) -> range: ...
