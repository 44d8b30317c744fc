// SPDX-License-Identifier: GPL-2.0
/*
 * Two deliberate bugs, loaded only by tests/e2e/test_e2e_debug_kernel.py to
 * prove that the debug guest kernel's instruments see what they are there
 * for: an allocation whose only reference is dropped (kmemleak must report
 * it, naming qepc_planted_leak) and a read past the end of an allocation
 * (KASAN must report a slab-out-of-bounds read in qepc_planted_oob).
 */
#include <linux/module.h>
#include <linux/slab.h>

static void *qepc_planted_ptr;

static noinline void qepc_planted_leak(void)
{
	WRITE_ONCE(qepc_planted_ptr, kmalloc(128, GFP_KERNEL));
	WRITE_ONCE(qepc_planted_ptr, NULL);
}

static noinline int qepc_planted_oob(void)
{
	char *buf = kmalloc(100, GFP_KERNEL);
	int i = 110;	/* 10 bytes past the end, hidden from the compiler */
	int c;

	if (!buf)
		return -ENOMEM;
	OPTIMIZER_HIDE_VAR(i);
	c = READ_ONCE(buf[i]);
	kfree(buf);
	return c;
}

static int __init qepc_planted_init(void)
{
	qepc_planted_leak();
	pr_info("qepc_planted: read %d past the end of an allocation\n",
		qepc_planted_oob());
	return 0;
}

static void __exit qepc_planted_exit(void)
{
}

module_init(qepc_planted_init);
module_exit(qepc_planted_exit);
MODULE_DESCRIPTION("qemu-epc test: a planted leak and out-of-bounds read");
MODULE_LICENSE("GPL");
