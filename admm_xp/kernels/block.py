"""What a kernel set's fused ``hidden_block`` returns for one block of columns."""
from __future__ import annotations

from typing import Any, NamedTuple


class BlockResult(NamedTuple):
    """The updated block and its sums (float64): ``a`` the block of the new a_l (a view of the state);
    ``act``, ``pre`` sum (a - h(z))^2 and sum (z - W a_{l-1})^2; ``cross`` z_{l+1} a_l^T, or None
    when the pass must form it; ``z`` the new z block for the products that follow (asked for
    with ``keep_z``; a view or a contiguous copy), else None; ``gram`` a_l a_l^T (asked for with
    ``want_gram`` and formed by the kernel set from a copy it wrote anyway), else None;
    ``input_cross`` the new z_l a_{l-1}^T in float64 (from ``layer_block`` with
    ``with_input_cross``), else None."""

    a: Any
    act: Any
    pre: Any
    cross: Any = None
    z: Any = None
    gram: Any = None
    input_cross: Any = None
