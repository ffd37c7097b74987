"""Write a **synthetic** MNIST-shaped task made from scikit-learn's 8x8 digits: train.npz and test.npz.

Each image is one of the real digits (the 70% / 30% stratified split of ``--dataset digits``, so no
test digit is ever drawn for training), upscaled to 20 x 20, rotated by up to 12 degrees, placed at a
random offset on a 28 x 28 canvas with a constant border, and given some pixel noise: 784 features,
10 classes, constant pixels included (as in MNIST). It stands in for a real 784-feature, 10-class
benchmark that cannot be downloaded here. Needs scikit-learn and SciPy.

    python scripts/make_digits784.py --out DIR [--n-train 60000] [--n-test 10000] [--seed 0]
"""
from __future__ import annotations

import argparse
import os

import numpy as np


def make(images, labels, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    from scipy import ndimage

    out = np.zeros((n, 784), np.float32)
    lab = np.zeros(n, np.int64)
    for k, i in enumerate(rng.integers(0, len(labels), n)):
        img = ndimage.zoom(images[i].reshape(8, 8), 2.5, order=1)  # 20 x 20
        img = ndimage.rotate(img, rng.uniform(-12, 12), reshape=False, order=1)
        canvas = np.zeros((28, 28))
        dy, dx = rng.integers(1, 8, 2)
        canvas[dy:dy + 20, dx:dx + 20] = img
        canvas = np.clip(canvas * 16 + rng.normal(0, 8, canvas.shape) * (canvas > 1), 0, 255)
        out[k], lab[k] = canvas.ravel(), labels[i]
    return out, lab


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for train.npz and test.npz")
    p.add_argument("--n-train", type=int, default=60000, help="training rows (default 60000)")
    p.add_argument("--n-test", type=int, default=10000, help="test rows (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    args = p.parse_args()
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    a, b = make(Xtr, ytr, args.n_train, rng)
    c, d = make(Xte, yte, args.n_test, rng)
    np.savez(os.path.join(args.out, "train.npz"), X=a, y=b)
    np.savez(os.path.join(args.out, "test.npz"), X=c, y=d)
    print(f"{args.out}: train.npz {a.shape}, test.npz {c.shape}; {(a.std(0) == 0).sum()} constant pixels")


if __name__ == "__main__":
    main()
