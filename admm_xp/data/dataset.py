"""The :class:`Dataset`: one rank's rows of a train/test split, as every loader returns them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """One rank's rows of a train/test split (host arrays, samples as rows)."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray  # class indices 0..C-1
    X_test: np.ndarray
    y_test: np.ndarray
    n_train: int  # all ranks
    n_test: int
    train_offset: int  # global index of this rank's first training row
    n_classes: int  # 0 until _validate: then C, and y_train / y_test hold indices into ``classes``
    n_features: int
    synthetic: bool = False
    classes: np.ndarray | None = None  # the original label of each class index (set by _validate)
    source: str = ""
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    standardize: str = ""  # how mean and scale were chosen (see standardise)
    notes: list = field(default_factory=list)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "classes": None if self.classes is None else [int(c) for c in self.classes],
            "synthetic": self.synthetic,
            "source": self.source,
            "standardize": self.standardize,
        }
