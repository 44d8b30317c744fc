#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""./qemu-epc-bench run (device stage): start the endpoint QEMU (qemu-epc)
and the host QEMU (epf-bridge), program the endpoint as pci-epf-test does,
start the link, and show what the host sees.  Both QEMUs run the qtest
accelerator: a driver stands in for the guest kernels until those exist.
Every step has a timeout; the exit status is non-zero if any step fails."""
import os
import struct
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, 'tests', 'lib'))
from machines import EpcVm, BridgeVm, R, EPF_RAM, EPC_WINDOW, HOST_RAM  # noqa: E402

results = []


def step(name, fn):
    t0 = time.monotonic()
    try:
        detail = fn() or ''
        results.append(('ok', name, detail, time.monotonic() - t0))
    except Exception as e:  # noqa: BLE001 - every failure is reported
        results.append(('not ok', name, str(e).splitlines()[0], time.monotonic() - t0))


def main():
    run_dir = tempfile.mkdtemp(prefix='qemu-epc-run-')
    sock = os.path.join(run_dir, 'link.sock')
    epc = br = None
    try:
        epc = EpcVm(sock, run_dir)
        br = BridgeVm(sock, run_dir)
        st = {}

        def link_up():
            epc.wait_status(R.QEPC_STATUS_PEER, 'the bridge to connect', 10)
            st['sizes'] = epc.standard_function()
            epc.start()
            epc.wait_status(R.QEPC_STATUS_LINK_UP, 'link up', 10)
            br.wait_present(10)
            return 'function %08x visible in guest 2' % br.cfg(0)

        def bars():
            sizes = br.size_bars()
            st['placed'] = br.assign_bars(sizes)
            return ', '.join('BAR%d %s' % (n, hex(s)) for n, (s, _) in sorted(sizes.items()))

        def inbound():
            base = st['placed'][0]
            br.writel(base + 0x10, 0x12345678)
            got = epc.memread(EPF_RAM + 0x10, 4)
            assert got == struct.pack('<I', 0x12345678), got
            return 'guest-2 BAR0 write landed in guest-1 memory'

        def outbound():
            epc.map_window(0, 0, 0x10000, HOST_RAM)
            epc.memwrite(EPC_WINDOW, b'qemu-epc')
            assert br.memread(HOST_RAM, 8) == b'qemu-epc'
            return 'guest-1 window write landed in guest-2 memory'

        def msi():
            cap = br.find_cap(0x05)
            br.set_cfg(cap + 4, HOST_RAM + 0x100)
            br.set_cfg(cap + 12, 0x40, 2)
            br.set_cfg(cap + 2, 1 | 5 << 4, 2)
            epc.raise_irq(R.QEPC_RAISE_MSI, 3)
            v = br.readl(HOST_RAM + 0x100)
            assert v == 0x43, hex(v)
            return 'MSI vector 3 written by guest 1 arrived in guest 2'

        step('link up', link_up)
        step('BAR sizing', bars)
        step('inbound BAR access', inbound)
        step('outbound window', outbound)
        step('MSI', msi)
    except Exception as e:  # noqa: BLE001
        results.append(('not ok', 'start QEMUs', str(e).splitlines()[0], 0))
    finally:
        for vm in (epc, br):
            if vm:
                vm.quit()

    print('TAP version 13')
    print('1..%d' % len(results))
    for i, (st, name, detail, _) in enumerate(results, 1):
        print('%s %d - %s%s' % (st, i, name, ' # ' + detail if detail else ''))
    npass = sum(r[0] == 'ok' for r in results)
    print('\n%-22s %-7s %s' % ('step', 'result', 'time'))
    for st, name, _, t in results:
        print('%-22s %-7s %.2f s' % (name, 'PASS' if st == 'ok' else 'FAIL', t))
    print('\n%d passed, %d failed; QEMU logs in %s' % (npass, len(results) - npass, run_dir))
    return 0 if npass == len(results) and results else 1


sys.exit(main())
