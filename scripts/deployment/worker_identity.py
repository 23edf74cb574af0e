"""``[core] hostname_callable`` for the deployment's Celery workers: each worker's own name.

Both workers run on this one machine, so the default (the machine's FQDN) would be the same for every
task instance; with this, a task instance's ``hostname`` tells which worker ran it.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``BRAZE_DEPLOYMENT_WORKER`` and the machine's name, e.g. ``worker1@host``."""
    return f"{os.environ.get('BRAZE_DEPLOYMENT_WORKER', 'worker')}@{socket.getfqdn()}"
