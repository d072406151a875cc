"""Local server: `python -m trellis2_service [--port 8787] [--backend relief] [--no-auth] ...`.

From the repository root: `npm run service -- --port 8787`.
"""

from __future__ import annotations

import argparse
import os
import sys

from .config import BACKEND_NAMES, DEFAULT_HOST, DEFAULT_PORT, ConfigError, Settings
from .logs import configure_logging


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trellis2_service", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="relief")
    parser.add_argument("--no-auth", action="store_true",
                        help="serve without checking Modal-Key/Modal-Secret (otherwise both env vars are required)")
    parser.add_argument("--store-dir", help="where states and jobs are kept (default: env TRELLIS2_STORE_DIR, "
                                            "else gpu-modal/.store)")
    parser.add_argument("--latency-profile", type=float, metavar="SCALE", default=None,
                        help="make the relief or wait backend take SCALE x the A100's timings (0 = as fast as it can)")
    parser.add_argument("--gpu-workers", type=int, metavar="N", default=1,
                        help="GPU containers to imitate: jobs run N at a time, like Modal's max_containers (default 1)")
    parser.add_argument("--faults", metavar="SPEC", default=None,
                        help="inject faults, e.g. '503=0.2,reset=0.05,hang=0.02,lost=0.1,latency_ms=50,"
                             "revoke_after=40' (default: env TRELLIS2_FAULTS; see trellis2_service/faults.py)")
    parser.add_argument("--fault-seed", type=int, metavar="N", default=None,
                        help="seed of the fault sequence (default: env TRELLIS2_FAULT_SEED, else 0)")
    args = parser.parse_args(argv)
    if args.gpu_workers < 1:
        parser.error("--gpu-workers must be 1 or more")
    if args.latency_profile is not None and args.latency_profile < 0:
        parser.error("--latency-profile must be 0 or more")
    if not 0 < args.port < 65536:
        parser.error("--port must be between 1 and 65535")
    from .faults import FaultSpec, FaultSpecError

    if args.faults is not None:
        try:
            FaultSpec.parse(args.faults)
        except FaultSpecError as exc:
            parser.error(f"--faults: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    try:
        settings = Settings.from_env(auth_mode="none" if args.no_auth else "local",
                                     store_dir=args.store_dir, backend=args.backend)
    except ConfigError as exc:
        print(f"trellis2_service: {exc}", file=sys.stderr)
        return 2
    from .faults import FaultSpecError, spec_from_env

    try:
        fault_spec, fault_seed = spec_from_env(os.environ)
    except FaultSpecError as exc:
        print(f"trellis2_service: {exc}", file=sys.stderr)
        return 2
    fault_spec = args.faults if args.faults is not None else fault_spec
    fault_seed = args.fault_seed if args.fault_seed is not None else fault_seed

    import uvicorn

    from .backends import create_backend
    from .local import build_local_app, uvicorn_config

    backend = create_backend(args.backend, latency_scale=args.latency_profile)
    app = build_local_app(settings, backend, gpu_workers=args.gpu_workers, fault_spec=fault_spec,
                          fault_seed=fault_seed)
    if settings.state_secret_is_ephemeral:
        print("note: TRELLIS2_STATE_SECRET is unset; inline states from this run will not be accepted after a restart",
              file=sys.stderr)
    if args.no_auth:
        print("note: authentication is OFF (--no-auth)", file=sys.stderr)
    if fault_spec:
        print(f"note: injecting faults {app.state.faults.describe()}", file=sys.stderr)
    print(f"TRELLIS.2 service ({args.backend} backend) on http://{args.host}:{args.port}  store: {settings.store_dir}",
          flush=True)
    uvicorn.Server(uvicorn_config(app, args.host, args.port)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
