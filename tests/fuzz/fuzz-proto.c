// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the wire protocol codec (proto/).
 *
 * Every input goes through each decoding and validating entry point of
 * qemu-epc-proto.h: the header decoder, the message decoder (once on the
 * input, then as a stream the way the devices' receive loop consumes it),
 * the HELLO check for both roles and the name lookups.  A message that
 * decodes is encoded again with the matching encoder; the result must be
 * the same bytes and decode to the same fields.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined (tests/fuzz/meson.build).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu-epc-proto.h"

#define MSG_MAX (sizeof(struct qep_hdr) + QEP_MAX_PAYLOAD)

static void fail(const char *what, const uint8_t *a, const uint8_t *b, size_t n)
{
	fprintf(stderr, "fuzz-proto: %s\n", what);
	for (size_t i = 0; a && b && i < n; i++) {
		if (a[i] != b[i]) {
			fprintf(stderr, "  first difference at byte %zu: 0x%02x, re-encoded 0x%02x\n",
				i, a[i], b[i]);
			break;
		}
	}
	abort();
}

/* Encode @m again; returns the length, 0 if the type has no encoder. */
static size_t reencode(const struct qep_msg *m, uint8_t *out)
{
	switch (m->hdr.type) {
	case QEP_MSG_HELLO: {
		size_t n = qep_enc_hello(out, m->u.hello.role, m->u.hello.features);

		/* the encoder writes this side's version: put the peer's back */
		out[16] = m->u.hello.major;
		out[17] = m->u.hello.major >> 8;
		out[18] = m->u.hello.minor;
		out[19] = m->u.hello.minor >> 8;
		return n;
	}
	case QEP_MSG_CFG_READ:
		return qep_enc_cfg_read(out, m->hdr.tag, m->u.cfg.offset, m->u.cfg.len);
	case QEP_MSG_CFG_WRITE:
		return qep_enc_cfg_write(out, m->hdr.tag, m->u.cfg.offset,
					 m->u.cfg.len, m->u.cfg.data);
	case QEP_MSG_MEM_READ:
	case QEP_MSG_IO_READ:
		return qep_enc_mem_read(out, m->hdr.type, m->hdr.tag,
					m->u.mem.addr, m->u.mem.len);
	case QEP_MSG_MEM_WRITE:
	case QEP_MSG_IO_WRITE:
		return qep_enc_mem_write(out, m->hdr.type, m->hdr.tag,
					 m->u.mem.addr, m->u.mem.len, m->data);
	case QEP_MSG_COMPLETION: {
		size_t n = qep_enc_cpl(out, m->hdr.tag, m->u.cpl.req_type,
				       m->u.cpl.status, m->data, m->u.cpl.len);

		if (m->hdr.flags & QEP_F_POISONED)
			qep_set_flags(out, QEP_F_POISONED);
		return n;
	}
	case QEP_MSG_INTX:
		return qep_enc_intx(out, m->u.intx.pin, m->u.intx.assert);
	case QEP_MSG_LINK:
		return m->has_link_cfg ? qep_enc_link_cfg(out, &m->u.link, &m->link_cfg)
				       : qep_enc_link(out, &m->u.link);
	case QEP_MSG_FDS:
		return qep_enc_fds(out, &m->u.fds);
	case QEP_MSG_MAP: {
		struct qep_map_piece p[QEP_MAP_MAX];

		for (unsigned int i = 0; i < m->u.map.count; i++)
			qep_map_piece(m, i, &p[i]);
		return qep_enc_map(out, m->hdr.tag, m->u.map.bar, m->u.map.count, p);
	}
	case QEP_MSG_RESET:
		return qep_enc_reset(out);
	}
	return 0;
}

static void same_fields(const struct qep_msg *a, const struct qep_msg *b)
{
	if (memcmp(&a->hdr, &b->hdr, sizeof(a->hdr)) ||
	    memcmp(&a->u, &b->u, sizeof(a->u)) || a->data_len != b->data_len ||
	    a->has_link_cfg != b->has_link_cfg ||
	    memcmp(&a->link_cfg, &b->link_cfg, sizeof(a->link_cfg)) ||
	    (a->data_len && memcmp(a->data, b->data, a->data_len)))
		fail("re-encoded message decodes to different fields", NULL, NULL, 0);
}

static void one_message(const uint8_t *buf, size_t len, int n,
			const struct qep_msg *m)
{
	static uint8_t out[MSG_MAX];
	struct qep_msg m2;
	size_t en;
	char why[160];

	if ((size_t)n != sizeof(struct qep_hdr) + m->hdr.size || (size_t)n > len)
		fail("decoded length differs from header size", NULL, NULL, 0);
	if (m->data_len && (m->data < buf || m->data + m->data_len > buf + n))
		fail("data pointer outside the message", NULL, NULL, 0);
	qep_type_name(m->hdr.type);
	qep_needs_completion(&m->hdr);
	if (m->hdr.type == QEP_MSG_HELLO) {
		qep_hello_check(&m->u.hello, QEP_ROLE_ENDPOINT, why, sizeof(why));
		qep_hello_check(&m->u.hello, QEP_ROLE_HOST, why, sizeof(why));
	}
	memset(out, 0xa5, sizeof(out));
	en = reencode(m, out);
	if (en == 0)
		fail("decoded a message type without an encoder", NULL, NULL, 0);
	if (m->hdr.type == QEP_MSG_MEM_WRITE && m->hdr.tag && !(m->hdr.flags & QEP_F_NON_POSTED))
		fail("tagged posted write accepted", NULL, NULL, 0);
	if (en != (size_t)n || memcmp(out, buf, n))
		fail("re-encoded message differs from the input", buf, out, en < (size_t)n ? en : (size_t)n);
	if (qep_msg_decode(out, en, &m2) != n)
		fail("re-encoded message does not decode", NULL, NULL, 0);
	same_fields(m, &m2);
	/* the encoders' tag setter on a tagged message round-trips too */
	if (m->hdr.tag) {
		qep_set_tag(out, m->hdr.tag);
		if (memcmp(out, buf, n))
			fail("qep_set_tag changed more than the tag", buf, out, n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qep_hdr h;
	struct qep_msg m;
	uint8_t *buf;
	size_t off = 0;
	int r, n;

	/* a heap copy of exactly the input: reads past its end are caught */
	buf = malloc(size ? size : 1);
	memcpy(buf, data, size);

	r = qep_hdr_decode(buf, size, &h);
	qep_strerror(r);
	n = qep_msg_decode(buf, size, &m);
	qep_strerror(n);
	if (n > 0) {
		if (r != 0)
			fail("message decodes but its header does not", NULL, NULL, 0);
		one_message(buf, size, n, &m);
	} else if (r == 0 && n != -QEP_E_SHORT && size >= sizeof(h) + h.size &&
		   memcmp(&m.hdr, &h, sizeof(h))) {
		fail("header decoded differently by the two decoders", NULL, NULL, 0);
	}

	/* the receive loop of the devices: message after message */
	while (off < size) {
		n = qep_msg_decode(buf + off, size - off, &m);
		if (n <= 0)
			break;
		one_message(buf + off, size - off, n, &m);
		off += n;
	}
	free(buf);
	return 0;
}
