"""python -m loyaltysim"""

import sys


def main() -> None:
    """Run the command line; Ctrl-C while it starts up prints one line too, never a traceback."""
    try:
        from loyaltysim.cli import app
        app(prog_name="loyaltysim")
    except KeyboardInterrupt:  # before a command runs (each command handles its own)
        print("interrupted: nothing was written", file=sys.stderr, flush=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
