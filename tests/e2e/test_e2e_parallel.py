# SPDX-License-Identifier: GPL-2.0-or-later
"""Two `./qemu-epc-bench run` side by side on one machine, as CI farms run
benches: each has its own run directory, socket and guests, and both pass.
Nothing of a run lives at a fixed path."""
import os
import re
import shutil
import subprocess
import unittest

import artefacts
import e2e

HOST_SCRIPT = r'''#!/bin/sh
# a few pcitest cases through this run's own link
. /usr/local/share/qemu-epc/lib.sh
load pci_endpoint_test
wait_for 10 test -c /dev/pci-endpoint-test.0
plan "pcitest -b 0" "pcitest -r -s 65536" "pcitest -w -s 65536"
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
        cmd = [os.path.join(artefacts.TOP, 'qemu-epc-bench'), 'run', '--series', '6.12',
               '--host-script', host, '--host-smp', '2']
        # both started together, with the default run directory
        procs = [e2e.guests.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True) for _ in range(2)]
        outs = []
        try:
            for p in procs:
                outs.append(p.communicate(timeout=1200)[0])
        except subprocess.TimeoutExpired:
            self.fail('a run did not end within 20 min')
        finally:
            for p in procs:
                e2e.guests.stop_group(p, 5)
        dirs = []
        for n, (p, out) in enumerate(zip(procs, outs)):
            e2e.check_run(self, e2e.Run(out, p.returncode, ''),
                          ['pcitest -b 0', 'pcitest -r -s 65536', 'pcitest -w -s 65536'])
            m = re.search(r'(?m)^logs: (\S+)$', out)
            self.assertTrue(m, out)
            dirs.append(m.group(1))
        self.assertNotEqual(dirs[0], dirs[1], 'both runs used one run directory')
        for d in dirs + [tmp]:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    unittest.main()
