# SPDX-License-Identifier: GPL-2.0-or-later
"""`./qemu-epc-bench run` side by side on one machine, as CI farms run
benches: four runs started together, each with its own run directory,
socket and guests.  Two pass.  The other two show that a verdict is never
softer than its results: a host side that prints "not ok ... # SKIP" fails
its run, and one that only skips fails it too, saying that nothing passed.
Nothing of a run lives at a fixed path.  The second passing run captures
its link (--capture --no-shmem): the captures decode in tshark with the
project's dissector, agree with each other and with what the run did.  The
first injects faults (--inject, docs/qemu-epc.md "Fault injection") while
pci_endpoint_test runs: each faulted case fails as the driver reports it,
and the same case passes right after (the drivers recover); then its script
asks the harness for a link down, a surprise removal and a dropped MSI when
it needs them (guest/lib.sh inject): the function is all-ones meanwhile and
back after a rescan; the dropped MSI leaves pcitest asleep for good, since
pci_endpoint_test waits for a transfer's interrupt without a timeout: an
expected failure of that driver, named as such."""
import os
import re
import shutil
import subprocess
import unittest

import artefacts
import capture
import e2e
import pcapng

# the guest kernels these tests boot (tests/run.py runs the tests that
# need only 6.12 first, while set-up may still build the others)
KERNELS = ('6.12',)

PASSING = r'''#!/bin/sh
# a few pcitest cases through this run's own link
. /usr/local/share/qemu-epc/lib.sh
load pci_endpoint_test
wait_for 10 test -c /dev/pci-endpoint-test.0
plan "pcitest -b 0" "pcitest -r -s 65536" "pcitest -w -s 65536"
for args in "-b 0" "-r -s 65536" "-w -s 65536"; do
	# shellcheck disable=SC2086
	if out=$(/usr/local/bin/pcitest $args 2>&1) && echo "$out" | grep -q OKAY; then
		ok "pcitest $args"
	else
		notok "pcitest $args" "$out"
	fi
done
'''
# the run whose link is captured, every access through messages
CAPTURED = 'pass-2'
# the faults run's expected failure
DROPPED = 'read with its MSI dropped: pcitest never returns (pci_endpoint_test has no timeout)'
# with epc:cpl-timeout:mem-read:1;cpl-ur:mem-read:1;cpl-delay:mem-read:1:50;
# msi-delay:1:500 and bridge0:cpl-ca:mem-read:1;cpl-poison:mem-read:1, every
# access through messages: the rules act on the first accesses they match, in
# this order (a BAR test stops at its first wrong read: one read each)
FAULTS = r'''#!/bin/sh
. /usr/local/share/qemu-epc/lib.sh
load pci_endpoint_test
wait_for 10 test -c /dev/pci-endpoint-test.0
plan "BAR0 test fails on a host read that times out" \
	"BAR0 test fails on a host read completed with UR" \
	"BAR0 test passes with a host read completed 50 ms late" "BAR0 test passes after it" \
	"read passes with its MSI late" \
	"write fails on endpoint reads with CA and poisoned data" "write passes after them" \
	"link down for 2 s: all-ones, BAR0 test fails, passes after a rescan" \
	"surprise removal: all-ones, BAR0 test fails, passes after return and rescan" \
	"read with its MSI dropped: pcitest never returns (pci_endpoint_test has no timeout)"
expect() {
	name=$1 want=$2
	shift 2
	out=$(/usr/local/bin/pcitest "$@" 2>&1)
	got=OKAY
	echo "$out" | grep -q "NOT OKAY" && got="NOT OKAY"
	echo "$out" | grep -q "OKAY" || got=none
	if [ "$got" = "$want" ]; then ok "$name"; else notok "$name" "$out"; fi
}
expect "BAR0 test fails on a host read that times out" "NOT OKAY" -b 0
expect "BAR0 test fails on a host read completed with UR" "NOT OKAY" -b 0
expect "BAR0 test passes with a host read completed 50 ms late" OKAY -b 0
expect "BAR0 test passes after it" OKAY -b 0
# (pcitest -r: the endpoint writes host memory, then an MSI; -w: it reads)
expect "read passes with its MSI late" OKAY -r -s 1024
expect "write fails on endpoint reads with CA and poisoned data" "NOT OKAY" -w -s 1024
expect "write passes after them" OKAY -w -s 1024

# the faults the script asks for when it needs them (guest/lib.sh inject)
fn=$QEPC_FUNCTION
dev=/sys/bus/pci/devices/$fn
# the function taken out of the PCI core and found again by rescans, with
# pci_endpoint_test bound to it
rescan() {
	[ ! -e "$dev" ] || echo 1 >"$dev/remove"
	t=0
	until [ -e "$dev" ] && present && [ -c /dev/pci-endpoint-test.0 ]; do
		[ $t -lt 30 ] || return 1
		echo 1 >/sys/bus/pci/rescan
		sleep 1
		t=$((t + 1))
	done
}
# down_case NAME LIFT SPEC: with the fault SPEC the function reads all-ones
# and the BAR test fails; once the bridge is connected again (LIFT "lift":
# after the script took the rules away; else by itself), a rescan finds it
# and the BAR test passes
down_case() {
	name=$1 lift=$2
	shift 2
	if ! inject bridge0 "$@"; then
		notok "$name" "the harness did not set the fault"
	elif ! wait_for 10 absent; then
		notok "$name" "config space still reads $(vendor) 10 s after the fault"
	elif out=$(/usr/local/bin/pcitest -b 0 2>&1) && ! echo "$out" | grep -q "NOT OKAY"; then
		notok "$name" "BAR0 test during the fault: $out"
	elif [ "$lift" = lift ] && ! inject bridge0; then
		notok "$name" "the harness did not lift the fault"
	elif ! rescan; then
		notok "$name" "no function after 30 s of rescans (config space reads $(vendor))"
	elif ! out=$(/usr/local/bin/pcitest -b 0 2>&1) || echo "$out" | grep -q "NOT OKAY"; then
		notok "$name" "BAR0 test after the rescan: $out"
	else
		ok "$name"
	fi
}
down_case "link down for 2 s: all-ones, BAR0 test fails, passes after a rescan" - link-down:2000
down_case "surprise removal: all-ones, BAR0 test fails, passes after return and rescan" \
	lift remove

# an MSI that never comes: pci_endpoint_test waits for the interrupt that
# ends a transfer without a timeout (wait_for_completion()), so pcitest
# never returns; its task sleeps uninterruptibly for good (the last case)
name="read with its MSI dropped: pcitest never returns (pci_endpoint_test has no timeout)"
if ! inject epc msi-drop:1; then
	notok "$name" "the harness did not set the fault"
else
	/usr/local/bin/pcitest -r -s 1024 >/tmp/dropped.log 2>&1 &
	pid=$!
	sleep 10
	if ! kill -0 $pid 2>/dev/null; then
		notok "$name" "pcitest returned: $(cat /tmp/dropped.log); the driver has a timeout now"
	else
		# where it sleeps: a look that lands in an interrupt taken on its
		# way to sleep (sysvec_apic_timer_interrupt) looks again
		i=0
		while :; do
			state=$(sed -n 's/^State:[[:space:]]*//p' /proc/$pid/status)
			wchan=$(cat /proc/$pid/wchan)
			case $wchan in
			*sysvec_* | *_interrupt | irq_*) ;;
			*) break ;;
			esac
			i=$((i + 1))
			[ $i -lt 20 ] || break
			sleep 0.5
		done
		xfail "$name" "pcitest still waiting 10 s later, state $state, in $wchan"
	fi
fi
'''
INJECT = ['epc:cpl-timeout:mem-read:1;cpl-ur:mem-read:1;cpl-delay:mem-read:1:50;'
          'msi-delay:1:500',
          'bridge:cpl-ca:mem-read:1;cpl-poison:mem-read:1']
SCRIPTS = {
    'faults': FAULTS,
    'pass-2': PASSING,
    'not-ok-skip': '#!/bin/sh\necho "not ok 1 x # SKIP y"\n',
    'only-skip': '#!/bin/sh\necho "ok 1 x # SKIP y"\n',
}


class SideBySide(unittest.TestCase):
    def test_four_runs_at_once_each_with_its_verdict(self):
        tmp = e2e.test_rundir('parallel')
        procs = {}
        for what, text in SCRIPTS.items():
            host = os.path.join(tmp, what + '.sh')
            with open(host, 'w') as f:
                f.write(text)
            # all started together, with the default run directory
            procs[what] = e2e.guests.spawn(
                [os.path.join(artefacts.TOP, 'qemu-epc-bench'), 'run', '--series', '6.12',
                 '--host-script', host, '--host-smp', '1'] +
                (['--capture', '--no-shmem'] if what == CAPTURED else []) +
                (['--no-shmem'] + [x for i in INJECT for x in ('--inject', i)]
                 if what == 'faults' else []),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        outs = {}
        try:
            for what, p in procs.items():
                outs[what] = p.communicate(timeout=1200)[0]
        except subprocess.TimeoutExpired:
            self.fail('a run did not end within 20 min')
        finally:
            for p in procs.values():
                e2e.guests.stop_group(p, 5)
        dirs = []
        out = outs['pass-2']
        e2e.check_run(self, e2e.Run(out, procs['pass-2'].returncode, ''),
                      ['pcitest -b 0', 'pcitest -r -s 65536', 'pcitest -w -s 65536'])
        self.check_faults(outs['faults'], procs['faults'].returncode)
        self.check_captures(outs[CAPTURED])
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
        for out in outs.values():
            m = re.search(r'(?m)^logs: (\S+)$', out)
            self.assertTrue(m, out)
            dirs.append(m.group(1))
        self.assertEqual(len(set(dirs)), 4, 'runs shared a run directory: %s' % dirs)
        for d in dirs + [tmp]:
            shutil.rmtree(d, ignore_errors=True)

    def check_faults(self, out, rc):
        """Each rule acted once, on the case planned for it; the drivers
        reported the error and the next case passed; the dropped MSI is
        pci_endpoint_test's expected failure, its task asleep for good."""
        m = re.search(r'(?m)^ok \d+ (%s) # XFAIL (.*)$' % re.escape(DROPPED), out)
        self.assertTrue(m, 'no expected failure "%s":\n%s' % (DROPPED, out[-3000:]))
        self.assertRegex(m.group(2), r'^pcitest still waiting 10 s later, state D '
                         r'\(disk sleep\), in (pci_endpoint_test_\S+|\S*wait_for_completion\S*)$')
        e2e.check_run(self, e2e.Run(out, rc, ''), [
            'BAR0 test fails on a host read that times out',
            'BAR0 test fails on a host read completed with UR',
            'BAR0 test passes with a host read completed 50 ms late', 'BAR0 test passes after it',
            'read passes with its MSI late',
            'write fails on endpoint reads with CA and poisoned data', 'write passes after them',
            'link down for 2 s: all-ones, BAR0 test fails, passes after a rescan',
            'surprise removal: all-ones, BAR0 test fails, passes after return and rescan'],
            xfails=[(DROPPED, m.group(2))])
        logs = {}
        for device, n, kinds in (
                ('epc', 5, 'cpl-delay 1, cpl-timeout 1, cpl-ur 1, msi-delay 1, msi-drop 1'),
                ('bridge0', 4, 'cpl-ca 1, cpl-poison 1, link-down 1, remove 1')):
            m = re.search(r'(?m)^# inject %s: %d faults acted, %s \((\S+)\)$'
                          % (device, n, kinds), out)
            self.assertTrue(m, out)
            with open(m.group(1)) as f:
                logs[device] = f.read()
        epf, host = logs['epc'], logs['bridge0']
        self.assertRegex(epf, r'injected cpl-timeout: completion of MEM_READ tag \d+ withheld')
        self.assertRegex(epf, r'injected cpl-ur: MEM_READ tag \d+ completed with UR')
        self.assertRegex(epf, r'injected cpl-delay: completion of MEM_READ tag \d+ delayed 50 ms')
        self.assertRegex(epf, r'injected msi-delay: MSI to 0x[0-9a-f]+ delayed 500 ms')
        self.assertRegex(host, r'injected cpl-ca: MEM_READ tag \d+ completed with CA')
        self.assertRegex(host, r'injected cpl-poison: data of MEM_READ tag \d+ poisoned')
        self.assertRegex(epf, r'injected msi-drop: MSI to 0x[0-9a-f]+ dropped')
        self.assertIn('injected link-down: link down for 2000 ms', host)
        self.assertIn('injected remove: the link is gone until the rules change', host)
        # the script asked for those when it needed them, and got them
        for device, spec in (('bridge0', 'link-down:2000'), ('bridge0', 'remove'),
                             ('bridge0', '""'), ('epc', 'msi-drop:1')):
            self.assertIn('# inject %s: %s, asked by guest 2\n' % (device, spec), out)
        # the requesters: guest 2's bridge timed out, guest 1's controller
        # dropped the poisoned data
        self.assertIn('did not complete MEM_READ', host)
        self.assertIn("the completion's data is poisoned", epf)

    def check_captures(self, out):
        paths = {name: path for path, name in re.findall(
            r'(?m)^# capture: (\S+/(epc|bridge0)\.pcapng): ', out)}
        self.assertEqual(set(paths), {'epc', 'bridge0'}, out)
        recs = {}
        for name, path in paths.items():
            shb, _, recs[name] = capture.read(path)
            self.assertIn('shared memory off', shb[1][0].decode())
            # tshark with the project's dissector: every record, none malformed
            rows = pcapng.tshark(path, 'qepc.type', 'qepc.note', 'qepc.len', 'qepc.dir',
                                 '_ws.malformed')
            self.assertEqual(len(rows), len(recs[name]), path)
            self.assertEqual([r for r in rows if r[4]], [], '%s: malformed packets' % path)
            if name != 'epc':
                continue
            # what the run did: pci-epf-test read and wrote 64 KiB of host
            # memory through the outbound window (pcitest -r, -w; no -d),
            # and each transfer's end was an interrupt
            total = lambda t: sum(int(r[2]) for r in rows if r[0] == t and r[3] == '0'
                                  and r[1] not in ('MSI', 'MSIX'))
            self.assertEqual((total('MRd'), total('MWr')), (65536, 65536))
            msi = len([r for r in rows if r[0] == 'MWr' and r[1] == 'MSI' and r[3] == '0'])
            self.assertGreaterEqual(msi, 2)
            self.assertIn('sent MWr(MSI) %d' % msi, out)
        # one side's sent messages are the other's received ones
        for a, b in (('epc', 'bridge0'), ('bridge0', 'epc')):
            sent = [r.body for r in recs[a] if r.kind == capture.MESSAGE and r.dir == 0]
            got = [r.body for r in recs[b] if r.kind == capture.MESSAGE and r.dir == 1]
            # (what a side sent as the other was stopping may not have
            # been read)
            self.assertLessEqual(len(sent) - len(got), 8, '%s sent, %s received' % (a, b))
            self.assertEqual(got, sent[:len(got)], '%s sent is not what %s received' % (a, b))


if __name__ == '__main__':
    unittest.main()
