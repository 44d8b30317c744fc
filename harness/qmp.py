# SPDX-License-Identifier: GPL-2.0-or-later
"""One QMP command to a QEMU on its QMP socket (-qmp unix:PATH,server=on,
wait=off): `run --inject` sets the devices' inject property with it, the
tests drive their QEMUs with it."""
import json
import socket


class QmpTimeout(Exception):
    pass


def qmp(path, command, args=None, who='QEMU', timeout=20):
    """Run @command on a fresh connection: its 'return' value, or
    RuntimeError with QEMU's error description."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as q:
        q.settimeout(timeout)
        q.connect(path)
        f = q.makefile('rw')

        def call(cmd, arguments=None):
            msg = {'execute': cmd}
            if arguments:
                msg['arguments'] = arguments
            f.write(json.dumps(msg) + '\n')
            f.flush()
            while True:
                try:
                    line = f.readline()
                except socket.timeout:
                    raise QmpTimeout('%s: no QMP answer to %s in %d s' % (who, cmd, timeout))
                if not line:
                    raise QmpTimeout('%s: QEMU closed QMP during %s' % (who, cmd))
                r = json.loads(line)
                if 'error' in r:
                    raise RuntimeError(r['error'].get('desc', str(r['error'])))
                if 'return' in r:
                    return r['return']

        f.readline()                    # the greeting
        call('qmp_capabilities')
        return call(command, args)
