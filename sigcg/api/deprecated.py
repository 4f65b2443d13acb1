"""Signatory names kept for code written against it, deprecated as they were there."""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional

_value: list[Any] = [8]


def max_parallelism(value: Optional[Any] = None) -> Any:
    """Deprecated (as in Signatory 1.2, where it does nothing): returns, and with ``value`` sets,
    a number no computation reads.  sigcg's CPU kernels use ``sigcg.set_num_threads`` (default:
    torch's thread count)."""
    warnings.warn(
        "max_parallelism is deprecated and does nothing; use sigcg.set_num_threads (or "
        "torch.set_num_threads) to control the CPU kernels' threads",
        DeprecationWarning,
        stacklevel=2,
    )
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"value must be an int, -1 or math.inf, got {type(value).__name__}")
        if value != -1 and value != math.inf and (value < 1 or value != int(value)):
            raise ValueError(f"value must be a positive integer, -1 or math.inf, got {value!r}")
        _value[0] = math.inf if value == -1 else value
    return _value[0]
