# SPDX-License-Identifier: GPL-2.0-or-later
"""`run` with a user's own kernel, modules, EPF script and host script:
the flags reach the guests and the host script's KTAP lines become cases;
and the verdict of a host script's results is never softer than they are:
"not ok ... # SKIP" fails the run, and a run whose host side only skipped
fails saying that nothing passed."""
import os
import shutil
import subprocess
import sys
import unittest

import artefacts
import e2e
import initramfs

HOST_SCRIPT = r'''#!/bin/sh
# reads the function's config space the way a user's host test would
cfg=/sys/bus/pci/devices/$QEPC_FUNCTION
if [ "$(cat $cfg/vendor):$(cat $cfg/device)" = 0x104c:0xb500 ]; then
	echo "ok 1 function ID is what the EPF script wrote"
else
	echo "not ok 1 function ID $(cat $cfg/vendor):$(cat $cfg/device)"
fi
if [ -e $cfg/resource0 ] && [ -n "$(ls /lib/modules/extra-marker.ko 2>/dev/null)" ]; then
	echo "ok 2 BAR0 assigned, --modules content present"
else
	echo "not ok 2 BAR0 or --modules content missing"
fi
'''


def own_modules(kdir, mods, marker=False):
    """A user's --modules directory: the drivers built for kdir's kernel."""
    os.makedirs(os.path.join(mods, 'sub'))
    for path in initramfs.find_modules(os.path.join(kdir, 'modules'),
                                       {'pci-epf-test', 'pci_endpoint_test'}).values():
        shutil.copy(path, os.path.join(mods, 'sub'))
    shutil.copy(artefacts.kmod_path(), mods)
    if marker:
        # a file only --modules can have brought into the image
        shutil.copy(artefacts.kmod_path(), os.path.join(mods, 'extra-marker.ko'))


class OwnKernelAndScripts(unittest.TestCase):
    def test_flags_reach_the_guests(self):
        kdir = artefacts.kernel_dir()
        tmp = e2e.test_rundir('flags')
        mods = os.path.join(tmp, 'mods')
        own_modules(kdir, mods, marker=True)
        epf = os.path.join(tmp, 'my-epf.sh')
        shutil.copy(os.path.join(artefacts.GUEST_DIR, 'epf-test.sh'), epf)
        host = os.path.join(tmp, 'my-host.sh')
        with open(host, 'w') as f:
            f.write(HOST_SCRIPT)
        r = e2e.bench_run(self, ['--kernel', os.path.join(kdir, 'bzImage'), '--modules', mods,
                                 '--epf-script', epf, '--host-script', host,
                                 '--host-smp', '2'], os.path.join(tmp, 'run'), minutes=15)
        e2e.check_run(self, r, ['function ID is what the EPF script wrote',
                                'BAR0 assigned, --modules content present'])

    def test_kernel_without_modules_is_refused(self):
        r = subprocess.run([sys.executable, e2e.RUN, '--kernel', '/nonexistent/bzImage'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=300)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('--kernel needs --modules', r.stdout)


class Verdicts(unittest.TestCase):
    """Two runs side by side, each with a host script that prints one line."""

    def test_skip_directives_do_not_soften_a_verdict(self):
        kdir = artefacts.kernel_dir()
        tmp = e2e.test_rundir('verdicts')
        mods = os.path.join(tmp, 'mods')
        own_modules(kdir, mods)
        procs = {}
        for what, line in (('not-ok-skip', 'not ok 1 x # SKIP y'),
                           ('only-skip', 'ok 1 x # SKIP y')):
            host = os.path.join(tmp, what + '.sh')
            with open(host, 'w') as f:
                f.write('#!/bin/sh\necho "%s"\n' % line)
            procs[what] = e2e.guests.spawn(
                [sys.executable, e2e.RUN, '--kernel', os.path.join(kdir, 'bzImage'),
                 '--modules', mods, '--host-script', host, '--host-smp', '1',
                 '--rundir', os.path.join(tmp, what)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        outs = {}
        try:
            for what, p in procs.items():
                outs[what] = p.communicate(timeout=15 * 60)[0]
        except subprocess.TimeoutExpired:
            self.fail('a run did not end within 15 min; logs in %s' % tmp)
        finally:
            for p in procs.values():
                e2e.guests.stop_group(p, 5)
        out = outs['not-ok-skip']
        self.assertNotEqual(procs['not-ok-skip'].returncode, 0, out)
        self.assertRegex(out, r'(?m)^not ok 1 x # SKIP y; a "not ok" is a failure')
        self.assertRegex(out, r'(?m)^# Totals: pass:2 fail:1 xfail:0 xpass:0 skip:0 error:0$')
        self.assertRegex(out.rstrip().splitlines()[-1],
                         r'^qemu-epc-bench: FAIL: 2 passed, 1 failed, 0 skipped \(failed: x\)$')
        out = outs['only-skip']
        self.assertNotEqual(procs['only-skip'].returncode, 0, out)
        self.assertRegex(out, r'(?m)^ok 1 x # SKIP y$')
        self.assertRegex(out, r'(?m)^not ok 2 host side passed at least one case # nothing '
                         r'passed: 1 skipped$')
        self.assertRegex(out.rstrip().splitlines()[-1],
                         r'^qemu-epc-bench: FAIL: 2 passed, 1 failed, 1 skipped \(failed: '
                         r'host side passed at least one case\)$')


if __name__ == '__main__':
    unittest.main()
