"""Search spaces: the base class and the registry (the built-in spaces live in ``search_spaces/``)."""

from __future__ import annotations

from nasbox.spaces.base import SearchSpace, param_index
from nasbox.spaces.registry import get_space, list_spaces, load_space, parse_space_args, register_space, study_space

__all__ = ["SearchSpace", "get_space", "list_spaces", "load_space", "param_index", "parse_space_args", "register_space",
           "study_space"]
