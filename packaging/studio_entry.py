"""The bundle's entry point (PyInstaller runs this file as __main__): the same `studio` command.

The window's engine runs in a *spawned* worker process; in a frozen app that child is this same
executable started with multiprocessing's arguments, and freeze_support() turns it into the worker
(and returns at once in the parent). It must run before anything else.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from studio.cli import main

    sys.exit(main())
