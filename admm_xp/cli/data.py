"""``admm-xp data fetch``: download the full data sets (with progress, resume and checksums)."""
from __future__ import annotations

from ..errors import ConfigError
from .options import check_output_dir


def register(sub) -> None:
    p = sub.add_parser("data", help="download the full data sets")
    dsub = p.add_subparsers(dest="data_cmd", metavar="fetch")
    f = dsub.add_parser("fetch", help="download HIGGS, SVHN, MNIST or Fashion-MNIST with progress, resume and checksum "
                                      "verification",
                        description="Download a full data set. HIGGS.csv.gz (about 2.6 GB) is converted once to "
                                    "HIGGS.npy for fast, sharded loads; SVHN's train, test and extra .mat files and "
                                    "the four gzip IDX files of MNIST or Fashion-MNIST are stored as they are (MNIST "
                                    "and Fashion-MNIST use the same file names: give each its own --data-dir). An "
                                    "interrupted download resumes when run again.")
    f.add_argument("name", choices=("higgs", "svhn", "mnist", "fashion-mnist"), help="data set")
    f.add_argument("--data-dir", required=True, metavar="DIR", help="where to store the files")
    f.add_argument("--base-url", metavar="URL", help="a mirror holding the same file names (default: the official sources)")
    f.add_argument("--no-convert", action="store_true", help="HIGGS: keep only the .csv.gz (no HIGGS.npy)")
    f.add_argument("--quiet", action="store_true", help="no progress output")
    f.set_defaults(func=cmd_data_fetch)
    p.set_defaults(func=lambda args, comm: _need_sub(p))


def _need_sub(p) -> int:
    raise ConfigError(f"{p.prog}: give a subcommand (fetch); see {p.prog} --help")


def cmd_data_fetch(args, comm) -> int:
    from ..data.fetch import fetch

    if args.base_url and not args.base_url.startswith(("http://", "https://", "file://")):
        raise ConfigError(f"--base-url {args.base_url}: not a URL; give one starting with http://, https:// or file://")
    check_output_dir(args.data_dir, "--data-dir")
    if comm.rank == 0:
        paths = fetch(args.name, args.data_dir, base_url=args.base_url, quiet=args.quiet, convert=not args.no_convert)
        for path in paths:
            print(path)
    comm.barrier()
    return 0
