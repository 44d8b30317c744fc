/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bar-writer.bin: the firmware (-bios) of the guest-2 QEMU in the vCPU
 * remap test (tests/device/test_remap.py).  From the reset vector it enters
 * flat 32-bit protected mode and then stores an incrementing counter at
 * physical address BAR_WORD forever, where the test places the function's
 * BAR0: a vCPU writing a BAR in a tight loop, without a kernel.
 *
 * Linked at the top of the 4 GiB space (-Ttext 0xffff0000), 64 KiB.
 */
#define BAR_WORD 0xd0000100

	.code16
	.text
image:
	.org 0xff00
start16:
	cli
	lgdtl %cs:(gdt_desc - image)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $start32

	.code32
start32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %ecx, %ecx
1:
	incl %ecx
	movl %ecx, BAR_WORD
	jmp 1b

	.balign 8
gdt:
	.quad 0                         /* null */
	.quad 0x00cf9a000000ffff        /* 0x08: code, flat 4 GiB */
	.quad 0x00cf92000000ffff        /* 0x10: data, flat 4 GiB */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt

	.org 0xfff0
	.code16
reset:
	jmp start16
	.org 0x10000
