"""Data: the embedded HIGGS rows, loaders for full data sets and user files, downloads."""
from .datasets import NAMED, Dataset, load_dataset, read_labelled_file, to_class_indices

__all__ = ["Dataset", "load_dataset", "read_labelled_file", "to_class_indices", "NAMED"]
