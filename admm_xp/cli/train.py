"""``admm-xp train``: a network trained by ADMM, with run records, saved models, checkpoints, resumption
(``--resume DIR``) and orderly stops on SIGINT / SIGTERM."""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import ConfigError, DataError
from ..solver.config import CPU_BLOCK_SIZE, GPU_BLOCK_SIZE, ADMMConfig, default_block_size
from .options import (PROG, DefaultsHelpFormatter, add_data_options, add_device_options, add_network_options,
                      check_output_dir, check_output_path, parse_floats, parse_widths, setup_run, stop_words,
                      target_words, time_to_target)


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train a network with ADMM (Taylor et al. 2016)",
        description="Train a ReLU network with a hinge-loss output by ADMM, without gradients. With no options: "
                    "the embedded real HIGGS rows, one hidden layer of 300, the default preset (the paper's method "
                    "with gamma = beta = 1, a weight decay and multipliers on the linear constraints; --preset paper for the "
                    "paper's exact method).",
        formatter_class=DefaultsHelpFormatter,
    )
    add_data_options(p)
    add_network_options(p)
    g = p.add_argument_group("ADMM (unset options take the preset's value)")
    g.add_argument("--preset", choices=("default", "paper"), default="default",
                   help="default: the best configuration measured on validation rows (gamma = beta = 1, weight decay 1, "
                        "--lagrangian auto; results/sweep/, results/ablation/); "
                        "paper: Taylor et al.'s method exactly (gamma 10, beta 1, no bias, Gaussian init, output multiplier)")
    g.add_argument("--iters", type=int, default=100, help="iterations to run")
    g.add_argument("--warm-start", type=int, default=None, metavar="K",
                   help="first K iterations skip the Lagrange multiplier update (both presets: 10)")
    g.add_argument("--gamma", default=None, metavar="G[,G...]", help="activation penalty gamma_l (one, or one per hidden layer; 1e-12 to 1e12)")
    g.add_argument("--beta", default=None, metavar="B[,B...]", help="pre-activation penalty beta_l (one, or one per layer; 1e-12 to 1e12)")
    g.add_argument("--weight-decay", type=float, default=None, metavar="W",
                   help="Tikhonov term of the weight updates, relative to the layer's width/samples (0 = the paper's update)")
    g.add_argument("--penalty-growth", type=float, default=None, metavar="RHO",
                   help="multiply every gamma and beta by RHO each iteration (1 = fixed, as in the paper)")
    g.add_argument("--penalty-max", type=float, default=None, metavar="P", help="cap of the grown penalties (default 1e4)")
    g.add_argument("--bias", choices=("on", "off"), default=None, help="a constant input row, so every layer has a bias")
    g.add_argument("--init", choices=("gaussian", "forward"), default=None,
                   help="gaussian: a, z i.i.d. N(0,1) (the paper); forward: He-scaled random weights and one forward pass")
    g.add_argument("--multiplier", choices=("on", "off"), default=None, help="the output layer's Lagrange multiplier")
    g.add_argument("--lagrangian", choices=("paper", "augmented", "full", "linear", "auto"), default=None,
                   help="paper: the multiplier term <z_L, lambda> of Taylor et al., seen only by the z_L update; "
                        "augmented: <z_L - W_L a, lambda>, so the output weights and the last activations fit "
                        "z_L + lambda/(2 beta) and long runs do not decay; full: multipliers on every hidden "
                        "constraint too (z_l = W_l a_{l-1}, a_l = h(z_l)), so the ADMM variables cannot absorb the loss; "
                        "linear: multipliers on every linear constraint z_l = W_l a_{l-1}, the penalty alone on "
                        "a_l = h(z_l) (see --relu-multiplier-iters); auto (default preset): linear for one hidden layer (and each "
                        "stage of a --layerwise run), full for deeper networks trained whole")
    g.add_argument("--residual-balancing", choices=("on", "off"), default=None,
                   help="adapt every layer's penalties to balance its primal and dual residuals (Boyd et al. 2011, "
                        "3.4.1): x tau when primal > mu dual, / tau when dual > mu primal")
    g.add_argument("--rb-mu", type=float, default=None, metavar="MU", help="residual balancing: the ratio mu (default 10)")
    g.add_argument("--rb-tau", type=float, default=None, metavar="TAU", help="residual balancing: the factor tau (default 2)")
    g.add_argument("--rb-until", type=int, default=None, metavar="K",
                   help="residual balancing: adapt during the first K iterations only (default 50)")
    g.add_argument("--anderson", type=int, default=None, metavar="M",
                   help="Anderson acceleration with memory M (0 = off), safeguarded by restarts")
    g.add_argument("--anderson-on", choices=("weights", "state"), default=None,
                   help="what Anderson acceleration extrapolates: the weights (cheap) or the whole state (default weights)")
    g.add_argument("--dual-step", type=float, default=None, metavar="K",
                   help="step of the hidden multipliers under --lagrangian full or linear (1 = classical ADMM; "
                        "default 0.3)")
    g.add_argument("--dual-decay", type=int, default=None, metavar="K",
                   help="--lagrangian full or linear: the hidden multipliers' step decays as dual_step * K / k after "
                        "iteration K, so long runs settle (0 = constant; default 100, the paper preset 0)")
    g.add_argument("--relu-multiplier-iters", type=int, default=None, metavar="K",
                   help="--lagrangian linear: the first K iterations also keep the multipliers of a_l = h(z_l), "
                        "as --lagrangian full does, then drop them, so a run starts as full and goes on as linear "
                        "(0 = never; default 30, the paper preset 0)")
    g.add_argument("--loss", choices=("hinge", "cross-entropy"), default=None,
                   help="output loss: hinge (the paper's; one-vs-rest for C classes) or cross-entropy (logistic for two "
                        "classes, softmax for C; a per-sample Newton prox)")
    g.add_argument("--center-layers", choices=("on", "off"), default=None,
                   help="constrain every hidden layer after the first to zero-mean pre-activations over the training "
                        "set (W_l mean(a_{l-1}) = 0; keeps deep ReLU layers from turning all-active; default on, the "
                        "paper preset off; for networks trained whole (--layerwise 0): no effect with one hidden layer; "
                        "not applied with --bias on)")
    g.add_argument("--first-layer-penalty", type=float, default=None, metavar="F",
                   help="with two or more hidden layers, the first hidden layer's gamma and beta are F times the "
                        "others' (0.001 to 1000; default 3, the paper preset 1; for networks trained whole, "
                        "--layerwise 0)")
    g.add_argument("--forward-restart", type=_restart_every, default=None, metavar="K|auto",
                   help="every K iterations the hidden layers' per-sample variables restart from the network's "
                        "forward pass and their multipliers from zero (0 = never; default auto: every 10 "
                        "iterations with three or more hidden layers trained whole (--layerwise 0), never with fewer; "
                        "the paper preset 0)")
    g.add_argument("--layerwise", type=int, default=None, metavar="K",
                   help="with two or more hidden layers, train them one at a time: K iterations for hidden layer 1 "
                        "under a temporary output layer, then K for layer 2 on the fixed layer 1's features, ..., "
                        "the last hidden layer with the real output for the iterations left (each earlier stage "
                        "gets iters / layers where that is less than K; 0 = the whole network at once, as in the "
                        "paper; default 30, the paper preset 0; no effect with one hidden layer)")
    g.add_argument("--ridge", type=float, default=1e-10, help="relative ridge on Gram matrices before their Cholesky factor (numerical)")
    g.add_argument("--block-size", type=int, default=None, metavar="N",
                   help=f"samples per cache block of the fused passes (default {CPU_BLOCK_SIZE} on cpu, {GPU_BLOCK_SIZE} on cuda)")
    g.add_argument("--kernels", choices=("auto", "portable", "numba", "cupy"), default="auto",
                   help="elementwise kernels: auto picks numba on cpu and CuPy kernels on cuda; portable is the array-API reference")
    add_device_options(p)
    r = p.add_argument_group("run")
    r.add_argument("--target-acc", type=float, metavar="A", help="stop when the test accuracy reaches A (e.g. 0.64)")
    r.add_argument("--max-time", type=float, metavar="S", help="stop after S seconds of training")
    r.add_argument("--eval-every", type=int, default=1, metavar="K", help="measure train/test accuracy every K iterations")
    r.add_argument("--out", metavar="run.json", help="write the run record (JSON) here (missing folders are made)")
    r.add_argument("--save-model", metavar="model.npz",
                   help="save the trained network here, for `admm-xp predict` (missing folders are made)")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    c = p.add_argument_group("checkpoints")
    c.add_argument("--checkpoint", metavar="DIR",
                   help="save the whole solver state here every --checkpoint-every iterations and on SIGINT/SIGTERM "
                        "(atomically; the folder is made if missing)")
    c.add_argument("--checkpoint-every", type=int, default=10, metavar="K", help="iterations between checkpoints (default 10)")
    c.add_argument("--resume", metavar="DIR",
                   help="continue the run checkpointed in DIR with its options (data, solver settings, --iters, "
                        "outputs; any number of ranks): `--resume DIR` alone suffices. Options given with it must "
                        "agree on the data and solver settings; run options (--iters, --out, --max-time, ...) may change")
    p.set_defaults(func=cmd_train)


def config_from_args(args):
    dtype = args.dtype or ("float32" if str(args.device).startswith("cuda") else "float64")
    if args.block_size is not None and args.block_size < 1:
        raise ConfigError(f"--block-size must be an integer >= 1, got {args.block_size}")
    block = args.block_size or default_block_size(args.device)
    onoff = {"on": True, "off": False, None: None}
    return ADMMConfig.from_preset(
        args.preset,
        hidden=parse_widths(args.hidden),
        gamma=parse_floats(args.gamma, "--gamma") if args.gamma is not None else None,
        beta=parse_floats(args.beta, "--beta") if args.beta is not None else None,
        warm_start=args.warm_start, weight_decay=args.weight_decay, penalty_growth=args.penalty_growth,
        penalty_max=args.penalty_max, bias=onoff[args.bias], init=args.init, multiplier=onoff[args.multiplier],
        lagrangian=args.lagrangian, dual_step=args.dual_step, dual_decay=args.dual_decay,
        relu_multiplier_iters=args.relu_multiplier_iters, loss=args.loss,
        residual_balancing=onoff[args.residual_balancing], anderson=args.anderson, anderson_on=args.anderson_on, rb_mu=args.rb_mu, rb_tau=args.rb_tau, rb_until=args.rb_until,
        center_layers=onoff[args.center_layers], first_layer_penalty=args.first_layer_penalty,
        forward_restart=args.forward_restart, layerwise=args.layerwise, ridge=args.ridge, seed=args.seed, dtype=dtype, block_size=block,
    )


DATA_OPTIONS = ("dataset", "test_path", "n_train", "n_test", "label_col", "test_fraction", "standardize")


NOT_SAVED = ("func", "relaunch_under_mpi", "given_options", "resume", "checkpoint", "ranks", "quiet")


def _restart_every(text: str):
    """``--forward-restart``: ``auto`` or an integer >= 0."""
    if text == "auto":
        return text
    try:
        k = int(text)
    except ValueError:
        k = -1
    if k < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 (0 = never) or auto, got {text!r}")
    return k


def _option(dest: str) -> str:
    return {"test_path": "--test"}.get(dest, "--" + dest.replace("_", "-"))


def run_options(args) -> dict:
    """The options of this run as the checkpoint keeps them (every value, given or default)."""
    return {k: v for k, v in vars(args).items()
            if k not in NOT_SAVED and (v is None or isinstance(v, (str, int, float, bool)))}


def resume_options(args, comm):
    """``--resume DIR``: take the checkpointed run's options that this command does not give, and check
    those it gives against them. Returns the checkpoint's solver configuration (a dict)."""
    from .. import checkpoint

    if not os.path.isdir(args.resume):
        raise ConfigError(f"--resume {args.resume}: no such folder; give the --checkpoint folder of an earlier run")
    meta = checkpoint.saved_run(args.resume)  # every rank reads it: the same verdict on all
    given = set(getattr(args, "given_options", ()))
    saved = meta.get("options") or {}
    for dest, value in saved.items():
        if dest in NOT_SAVED or not hasattr(args, dest):
            continue
        if dest not in given:
            setattr(args, dest, value)
        elif dest in DATA_OPTIONS and not _same_value(dest, getattr(args, dest), value):
            opt = _option(dest)
            raise DataError(f"--resume {args.resume}: the checkpoint was made on other data ({opt} {value}, here "
                            f"{opt} {getattr(args, dest)}); drop {opt} to continue on the checkpoint's data, or start a "
                            "new run")
    return meta["config"]


def _same_value(dest: str, now, then) -> bool:
    if now == then:
        return True
    if dest in ("dataset", "test_path") and isinstance(now, str) and isinstance(then, str):
        try:
            return os.path.samefile(now, then)  # the same file by another path
        except OSError:
            return False
    return False


def _check_solver_settings(folder: str, cfg, saved: dict) -> None:
    from ..checkpoint import SOLVER_KEYS, comparable

    now = cfg.to_dict()
    diff = [k for k in SOLVER_KEYS if k in saved and comparable(saved.get(k)) != comparable(now.get(k))]
    if diff:
        def show(v):
            return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) if isinstance(v, list) else str(v)

        changes = "; ".join(f"{_option(k)} {show(saved[k])} in the checkpoint, {show(now.get(k))} here" for k in diff)
        raise ConfigError(f"--resume {folder}: the checkpoint was made with other solver settings ({changes}); "
                          "resume with the checkpoint's settings (leave out or correct those options), or start a new run")


def cmd_train(args, comm) -> int:
    from ..runtime.gpu import allow_tf32
    from ..model import Network
    from ..progress import Progress
    from ..runrecord import base_record, write_json_atomic
    from ..data.device import to_device
    from ..train import RunOptions, train_admm

    saved_config = resume_options(args, comm) if args.resume else None
    cfg = config_from_args(args)
    opts = RunOptions(iters=args.iters, target_acc=args.target_acc, eval_every=args.eval_every, max_time=args.max_time,
                      kernels=args.kernels)
    check_output_path(args.out, "--out")
    check_output_path(args.save_model, "--save-model")
    ckpt_dir = args.checkpoint or args.resume
    if args.checkpoint_every < 1:
        raise ConfigError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    if args.checkpoint:
        check_output_dir(args.checkpoint, "--checkpoint")
    backend, ds = setup_run(args, comm)
    cfg = cfg.resolved()  # the default preset's Lagrangian depends on the depth
    if saved_config is not None:
        _check_solver_settings(args.resume, cfg, saved_config)
    tf32 = allow_tf32(backend) if args.allow_tf32 else False
    dd = to_device(ds, backend, cfg.dtype, hidden=cfg.hidden, block=cfg.block_size,
                   multipliers=cfg.multiplier_arrays)
    lead = comm.rank == 0
    progress = Progress(opts.iters, "admm", enabled=lead and not args.quiet)
    if lead and not args.quiet:
        progress.message(
            f"ADMM ({cfg.preset} preset) on {ds.name}: {ds.n_train:,} train / {ds.n_test:,} test samples, "
            f"{ds.n_classes} classes, layers {[ds.n_features, *cfg.hidden, dd.n_outputs]}, {backend.label} {cfg.dtype}, "
            f"{comm.size} rank(s)"
        )
    from .. import checkpoint
    from ..runtime.signals import StopOnSignal

    fingerprint = checkpoint.data_fingerprint(ds)
    options = run_options(args)
    if ckpt_dir:
        checkpoint.remove_strays(ckpt_dir, comm)  # what a killed run left half-written
    stopper = StopOnSignal()

    def resumed(man):
        if lead and not args.quiet:
            progress.message(f"resumed at iteration {man['iteration']} from {args.resume} ({man['ranks']} rank(s) then, {comm.size} now)")

    def on_iteration(state, prob, history, elapsed):
        stop = comm.allreduce_max(1.0 if stopper.signum else 0.0) > 0  # one rank's signal stops every rank
        if ckpt_dir and (stop or state.run_iteration % args.checkpoint_every == 0 or state.run_iteration == opts.iters):
            checkpoint.save(ckpt_dir, state, prob, cfg, fingerprint, history, elapsed, comm, options=options)
        return "stop" if stop else None

    with stopper:
        result = train_admm(dd, cfg, backend, comm, opts, progress=progress, on_iteration=on_iteration,
                            restore=checkpoint.Resume(args.resume, cfg, fingerprint, backend.xp, backend.device, comm,
                                                      on_load=resumed) if args.resume else None)
    progress.close()
    fin = result.final
    time_to_target(fin, result.history, opts.target_acc, ds.name)
    if lead:
        if args.out:
            rec = base_record(method="admm", dataset=ds.describe(), layers=result.widths, backend=backend,
                              dtype=cfg.dtype, ranks=comm.size, config=cfg.to_dict())
            rec["config"]["run"] = {"iters": opts.iters, "target_acc": opts.target_acc, "eval_every": opts.eval_every,
                                    "kernels": opts.kernels, "max_time": opts.max_time, "allow_tf32": tf32,
                                    "cuda_aware_mpi": bool(args.cuda_aware_mpi)}
            rec["history"] = result.history
            rec["final"] = fin
            write_json_atomic(args.out, rec)
        if args.save_model:
            from ..runtime.hostio import to_host

            net = Network(weights=[to_host(w) for w in result.state.W], bias=cfg.bias, mean=ds.mean, scale=ds.scale,
                          classes=ds.classes, meta={"method": "admm", "dataset": ds.name, "config": cfg.to_dict()})
            net.save(args.save_model)
        print(
            f"test accuracy {fin['test_acc']:.4f} (train {fin['train_acc']:.4f}, best test {fin['best_test_acc']:.4f}) "
            f"after {fin['iters']} iterations, {fin['train_s']:.2f} s training ({stop_words(fin['stop_reason'])})"
            + target_words(result.history, opts.target_acc, ds.name)
        )
    if result.stop_reason == "stopped":
        code, name = stopper.exit_code(comm), stopper.name(comm)  # collectives: every rank calls them
        if lead:
            where = f"; checkpoint in {ckpt_dir} (continue with --resume {ckpt_dir})" if ckpt_dir else ""
            print(f"{PROG}: stopped by {name} after iteration {fin['iters']}{where}", file=sys.stderr)
        return code
    return 0
