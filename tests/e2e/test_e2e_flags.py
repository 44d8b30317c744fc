# SPDX-License-Identifier: GPL-2.0-or-later
"""`run` with a user's own kernel, modules, EPF script and host script:
the flags reach the guests and the host script's KTAP lines become cases
(the verdicts of such lines: test_e2e_parallel)."""
import os
import shutil
import subprocess
import sys
import unittest

import artefacts
import e2e
import initramfs

# the guest kernels these tests boot (tests/run.py runs the tests that
# need only 6.12 first, while set-up may still build the others)
KERNELS = ('6.12',)

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


if __name__ == '__main__':
    unittest.main()
