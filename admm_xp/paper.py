"""The facts of the paper this project reproduces, in one table.

Taylor, Burmeister, Xu, Singh, Patel and Goldstein, *Training Neural Networks Without Gradients:
A Scalable ADMM Approach*, ICML 2016 (arXiv:1605.02026). Its experiments time ADMM against
gradient methods on two binary tasks (restated in docs/method.md):

* SVHN (Figure 1): digit 0 against digit 2, hidden layers 100 and 50, 120,290 training samples of
  3,072 pixels, target 95% test accuracy, ADMM on up to 2,496 cores;
* HIGGS (Figure 2): hidden layer 300, 10.5 million training samples of 28 features, target 64%,
  ADMM on up to 7,200 cores.

Panel a of each figure is ADMM's time to the target against the number of cores, panel b the test
accuracy against time. The paper ran its baselines on a GPU and reports their times to the target
(``gpu_times``; "never": the method did not reach it). Every module that needs one of these numbers
(the final line's default target, ``admm-xp scaling``'s model at the paper's sizes, ``admm-xp
reproduce``) takes it from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PaperProblem:
    """One of the paper's two tasks."""

    name: str  # "svhn" or "higgs"
    figure: str  # the figure's number ("1", "2"); panel a: time against cores, b: accuracy against time
    target: float  # the test accuracy the figure times
    widths: tuple  # the network, input width to output width
    n_train: int  # training samples
    cores: int  # the most cores of the figure's ADMM runs
    gpu_times: dict = field(default_factory=dict)  # baseline -> its time to the target on a GPU, as reported

    @property
    def hidden(self) -> tuple:
        """The hidden widths."""
        return tuple(self.widths[1:-1])

    @property
    def hidden_text(self) -> str:
        """The hidden widths as ``--hidden`` takes them ("100,50")."""
        return ",".join(str(w) for w in self.hidden)


PROBLEMS = {
    "svhn": PaperProblem("svhn", "1", 0.95, (3072, 100, 50, 1), 120_290, 2496,
                         {"lbfgs": "3.2 s", "cg": "9.3 s", "sgd": "8.2 s"}),
    "higgs": PaperProblem("higgs", "2", 0.64, (28, 300, 1), 10_500_000, 7200,
                          {"lbfgs": "181 s", "cg": "44 min", "sgd": "never"}),
}


def problem_for(dataset: str) -> PaperProblem | None:
    """The paper's task a data set stands for (its name contains "svhn" or "higgs"), else None."""
    low = str(dataset).lower()
    return next((p for name, p in PROBLEMS.items() if name in low), None)
