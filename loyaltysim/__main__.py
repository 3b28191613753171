"""python -m loyaltysim"""

import os
import sys


def _interrupted(err: BaseException | None) -> bool:
    """Whether ``err`` is Ctrl-C, or an error a library raised because Ctrl-C stopped it (an extension
    module interrupted while it initialises reports an error of its own)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def main() -> None:
    """Run the command line; Ctrl-C while it starts up prints one line too, never a traceback."""
    try:
        from loyaltysim.cli import app
        app(prog_name="loyaltysim")
    except (KeyboardInterrupt, ImportError, SystemError) as err:  # before a command runs (each handles its own)
        if not _interrupted(err):
            raise
        print("interrupted: nothing was written", file=sys.stderr, flush=True)
        sys.stdout.flush()
        # Exit now, with 130. Python ends itself by SIGINT at shutdown, whatever code we exit with, once an
        # interrupt has passed through code run by exec or eval, and importing scipy runs some that way.
        os._exit(130)


if __name__ == "__main__":
    main()
