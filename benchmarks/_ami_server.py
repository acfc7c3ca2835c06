"""The AMI emulator in its own process on the other core, so the client is measured alone."""

from __future__ import annotations

import os
import sys
import time

from eventkit_asterisk.testing.emulator import AmiEmulator, AmiUser

if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    server = AmiEmulator({"bench": AmiUser("bench-secret", read=("user",), write=("user",))}, port=int(sys.argv[1]))
    server.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)
