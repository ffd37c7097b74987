"""``admm-xp predict``: a saved model applied to the rows of a file."""
from __future__ import annotations

import sys

from ..errors import DataError, UserError
from .options import PROG, check_output_path


def register(sub) -> None:
    p = sub.add_parser("predict", help="apply a saved model to a data file",
                       description="Predict classes for the rows of a CSV or NPZ file with a model saved by "
                                   "`admm-xp train --save-model` (or a baseline). If the file has labels, the "
                                   "accuracy is printed too.")
    p.add_argument("--model", required=True, metavar="model.npz", help="a saved model")
    p.add_argument("--dataset", required=True, metavar="FILE", help=".csv or .npz rows to predict")
    p.add_argument("--label-col", type=int, default=0, metavar="I",
                   help="label column of a CSV (default 0); use --no-labels for a file of features only")
    p.add_argument("--no-labels", action="store_true",
                   help="the file holds features only (for an .npz: ignore its y and print no accuracy)")
    p.add_argument("--out", metavar="FILE", help="write one predicted label per line here (default: stdout)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args, comm) -> int:
    import numpy as np

    from ..runtime.backend import resolve_device
    from ..runtime.comm import LocalComm
    from ..data import read_labelled_file
    from ..data.datasets import label_values
    from ..model import Network

    check_output_path(args.out, "--out")
    net = Network.load(args.model)
    backend = resolve_device(args.device)
    if args.dataset.lower().endswith(".npz"):
        X, y, _, _ = read_labelled_file(args.dataset, LocalComm(), need_labels=False)
        if args.no_labels:
            y = None  # labels in the file are ignored, as asked
    elif args.no_labels:
        X, _, _, _ = read_labelled_file(args.dataset, LocalComm(), need_labels=False)
        y = None
    else:
        X, y, _, _ = read_labelled_file(args.dataset, LocalComm(), label_col=args.label_col)
    if X.shape[0] == 0:
        raise UserError(f"{args.dataset}: no rows to predict")
    if y is not None:
        values = label_values(y, args.dataset)  # whole numbers, one per row (before any output)
        if np.asarray(y).shape[0] != X.shape[0]:
            raise DataError(f"{args.dataset}: {X.shape[0]} feature rows but {np.asarray(y).shape[0]} labels; give one "
                            "label per row, or --no-labels")
    pred = net.predict(X, backend=backend)
    text = "\n".join(_label_text(v) for v in pred) + "\n"
    if args.out:
        from ..runrecord import write_text_atomic

        write_text_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    if y is not None:
        known = [_label_text(c) for c in net.classes]
        unknown = [v for v in values.tolist() if str(v) not in known]
        if unknown:
            print(f"{PROG}: warning: {args.dataset}: label(s) {unknown[:5]} are not among the model's classes "
                  f"{known[:10]}; their rows count as errors (wrong --label-col, or a model for other labels?)",
                  file=sys.stderr)
        acc = float(np.mean(np.array([_label_text(v) for v in pred]) == np.array([_label_text(v) for v in y])))
        print(f"accuracy {acc:.4f} on {X.shape[0]} rows", file=sys.stderr)
    return 0


def _label_text(value) -> str:
    """A label as printed: whole numbers without a decimal point (labels read from a CSV are floats)."""
    import numpy as np

    if isinstance(value, (float, np.floating)) and float(value).is_integer() or isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)
