"""python -m grafana_as_code [--out DIR] [--rules-out DIR]"""

import argparse
from pathlib import Path

from grafana_as_code.render import PROVISIONING_DIR, RULES_DIR, write


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m grafana_as_code", description="Write Grafana provisioning.")
    parser.add_argument("--out", type=Path, default=PROVISIONING_DIR, help="provisioning folder to write")
    parser.add_argument("--rules-out", type=Path, default=RULES_DIR, help="Prometheus rules folder to write")
    args = parser.parse_args()
    for path in write(args.out, args.rules_out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
