"""`python -m gateway.sandbox --listen HOST:PORT`: the sandbox without the main CLI."""

import argparse
import sys

from gateway.sandbox.cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.sandbox", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
