"""Search spaces: the base class and the registry (the built-in spaces live in ``search_spaces/``)."""

from __future__ import annotations

from nasbox.spaces.base import SearchSpace, check_cell_bounds, format_ops, param_index, parse_ops
from nasbox.spaces.registry import get_space, list_spaces, load_space, parse_space_args, register_space, study_space

__all__ = ["SearchSpace", "check_cell_bounds", "format_ops", "get_space", "list_spaces", "load_space", "param_index",
           "parse_ops", "parse_space_args", "register_space", "study_space"]
