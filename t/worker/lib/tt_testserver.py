"""What the notification tests' servers share (tt_smtp_server.py,
tt_webhook_receiver.py): the failure switch, numbered files written whole,
and the port file."""

import os
import threading

_lock = threading.Lock()
_counter = [0]


def take_failure(folder):
    """FOLDER/.fail holds "WHAT N": WHAT for the next N requests.  Returns
    WHAT and counts one down, or None."""
    path = os.path.join(folder, ".fail")
    with _lock:
        try:
            with open(path) as f:
                what, n = f.read().split()
        except (OSError, ValueError):
            return None
        n = int(n)
        if n <= 0:
            return None
        with open(path + ".tmp", "w") as f:
            f.write("%s %d\n" % (what, n - 1))
        os.replace(path + ".tmp", path)
        return what


def store(folder, ext, data):
    """data (bytes) as FOLDER/NNNNNN.EXT, renamed into place once whole"""
    with _lock:
        _counter[0] += 1
        name = "%06d.%s" % (_counter[0], ext)
    tmp = os.path.join(folder, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, os.path.join(folder, name))


def write_port(folder, port):
    tmp = os.path.join(folder, ".port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, os.path.join(folder, ".port"))
