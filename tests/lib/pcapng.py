# SPDX-License-Identifier: GPL-2.0-or-later
"""A capture read with harness/capture.py, every message record decoded and
validated with proto/ (r.msg: a peer.Message); and read by tshark with the
project's dissector."""
import ctypes as C
import os
import subprocess

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


DISSECTOR = os.path.join(P.BUILD, 'qemu-epc.lua')


def tshark(path, *fields, filt=None, timeout=300):
    """tshark's rows for `fields` of every packet (two passes, so requests
    know their completions), with the project's dissector."""
    cmd = ['tshark', '-n', '-2', '-X', 'lua_script:' + DISSECTOR, '-r', path,
           '-T', 'fields', '-E', 'separator=|']
    if filt:
        cmd += ['-Y', filt]
    for f in fields:
        cmd += ['-e', f]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    # a dissector that does not load is only a message: tshark exits 0
    if p.returncode != 0 or 'Lua: Error' in p.stderr:
        raise AssertionError('tshark failed (%d): %s' % (p.returncode, p.stderr[-2000:]))
    return [line.split('|') for line in p.stdout.splitlines()]
