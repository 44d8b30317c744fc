# SPDX-License-Identifier: GPL-2.0-or-later
"""Two `./qemu-epc-bench run` side by side on one machine, as CI farms run
benches: each has its own run directory, socket and guests, and both pass.
Nothing of a run lives at a fixed path."""
import os
import re
import shutil
import subprocess
import unittest

import e2e
import guests

HOST_SCRIPT = r'''#!/bin/sh
# a few pcitest cases through this run's own link
insmod "$(find /lib/modules -name pci_endpoint_test.ko | head -1)"
t=0
while ! [ -c /dev/pci-endpoint-test.0 ] && [ $t -lt 100 ]; do
	sleep 0.1
	t=$((t + 1))
done
n=0
for args in "-b 0" "-r -s 65536" "-w -s 65536"; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	if out=$(/usr/local/bin/pcitest $args 2>&1) && echo "$out" | grep -q OKAY; then
		echo "ok $n pcitest $args"
	else
		echo "not ok $n pcitest $args: $out"
	fi
done
'''


class SideBySide(unittest.TestCase):
    def test_two_runs_at_once(self):
        tmp = e2e.test_rundir('parallel')
        host = os.path.join(tmp, 'host.sh')
        with open(host, 'w') as f:
            f.write(HOST_SCRIPT)
        cmd = [os.path.join(guests.TOP, 'qemu-epc-bench'), 'run', '--series', '6.12',
               '--host-script', host, '--host-smp', '2']
        # both started together, with the default run directory
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True) for _ in range(2)]
        outs = []
        for p in procs:
            try:
                outs.append(p.communicate(timeout=1200)[0])
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                self.fail('a run did not end within 20 min')
        dirs = []
        for n, (p, out) in enumerate(zip(procs, outs)):
            self.assertEqual(len(re.findall(r'(?m)^ok \d+ pcitest ', out)), 3,
                             'run %d:\n%s' % (n, out))
            self.assertRegex(out, r'# Totals: pass:\d+ fail:0 ', 'run %d:\n%s' % (n, out))
            self.assertEqual(p.returncode, 0, 'run %d:\n%s' % (n, out))
            m = re.search(r'(?m)^logs: (\S+)$', out)
            self.assertTrue(m, out)
            dirs.append(m.group(1))
        self.assertNotEqual(dirs[0], dirs[1], 'both runs used one run directory')
        for d in dirs + [tmp]:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    unittest.main()
