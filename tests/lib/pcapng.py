# SPDX-License-Identifier: GPL-2.0-or-later
"""A capture read with harness/capture.py, every message record decoded and
validated with proto/ (r.msg: a peer.Message)."""
import ctypes as C

import peer as P
from capture import read as read_raw  # noqa: E402  (harness/capture.py)


def read(path):
    shb, idb, recs = read_raw(path)
    for r in recs:
        r.msg = None
        if r.kind == P.W.QEP_CAP_MESSAGE:
            m = P.Msg()
            n = P.lib.qep_msg_decode(r.body, len(r.body), C.byref(m))
            if n != len(r.body):
                raise ValueError('%s: a captured message does not decode (%d of %d bytes)'
                                 % (path, n, len(r.body)))
            r.msg = P.Message(m, r.body)
    return shb, idb, recs
