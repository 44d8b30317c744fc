// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qemu-epc wire protocol: encoding, decoding and validation.
 * The rules implemented here are those of docs/protocol.md.
 */
#include "qemu-epc-proto.h"

#include <stdio.h>
#include <string.h>

/* ---- little-endian access ---------------------------------------------- */

static uint16_t ld16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static uint32_t ld32(const uint8_t *p) { return ld16(p) | (uint32_t)ld16(p + 2) << 16; }
static uint64_t ld64(const uint8_t *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static void st16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void st32(uint8_t *p, uint32_t v) { st16(p, v); st16(p + 2, v >> 16); }
static void st64(uint8_t *p, uint64_t v) { st32(p, v); st32(p + 4, v >> 32); }

static const char *const err_names[QEP_E_COUNT] = {
	[QEP_OK]         = "no error",
	[QEP_E_SHORT]    = "message truncated",
	[QEP_E_MAGIC]    = "bad magic",
	[QEP_E_TYPE]     = "unknown message type",
	[QEP_E_FLAGS]    = "unknown or misplaced flags",
	[QEP_E_RESERVED] = "reserved field not zero",
	[QEP_E_SIZE]     = "payload size wrong for the message type",
	[QEP_E_TOO_LONG] = "payload size over the maximum",
	[QEP_E_TAG]      = "tag wrong for the message type",
	[QEP_E_CFG]      = "config offset or length invalid",
	[QEP_E_LEN]      = "data length zero or over the maximum",
	[QEP_E_ADDR]     = "address range wraps around",
	[QEP_E_STATUS]   = "unknown completion status",
	[QEP_E_VALUE]    = "field value out of range",
};

const char *qep_strerror(int err)
{
	if (err < 0)
		err = -err;
	return err < QEP_E_COUNT ? err_names[err] : "unknown error";
}

static const char *const type_names[QEP_MSG_TYPE_MAX + 1] = {
	[QEP_MSG_HELLO]      = "HELLO",
	[QEP_MSG_CFG_READ]   = "CFG_READ",
	[QEP_MSG_CFG_WRITE]  = "CFG_WRITE",
	[QEP_MSG_MEM_READ]   = "MEM_READ",
	[QEP_MSG_MEM_WRITE]  = "MEM_WRITE",
	[QEP_MSG_IO_READ]    = "IO_READ",
	[QEP_MSG_IO_WRITE]   = "IO_WRITE",
	[QEP_MSG_COMPLETION] = "COMPLETION",
	[QEP_MSG_INTX]       = "INTX",
	[QEP_MSG_LINK]       = "LINK",
	[QEP_MSG_FDS]        = "FDS",
	[QEP_MSG_MAP]        = "MAP",
	[QEP_MSG_RESET]      = "RESET",
};

const char *qep_type_name(unsigned int type)
{
	return type && type <= QEP_MSG_TYPE_MAX ? type_names[type] : "?";
}

/* ---- header ------------------------------------------------------------- */

/* posted messages carry tag 0; non-posted requests and completions do not */
static bool type_tagged(uint16_t type, uint16_t flags)
{
	struct qep_hdr h = { .type = type, .flags = flags };

	return type == QEP_MSG_COMPLETION || qep_needs_completion(&h);
}

int qep_hdr_decode(const void *buf, size_t len, struct qep_hdr *h)
{
	const uint8_t *p = buf;

	if (len < sizeof(struct qep_hdr))
		return -QEP_E_SHORT;
	h->magic = ld32(p);
	h->type = ld16(p + 4);
	h->flags = ld16(p + 6);
	h->size = ld32(p + 8);
	h->tag = ld16(p + 12);
	h->reserved = ld16(p + 14);
	if (h->magic != QEP_MAGIC)
		return -QEP_E_MAGIC;
	if (h->type == 0 || h->type > QEP_MSG_TYPE_MAX)
		return -QEP_E_TYPE;
	if (h->flags & ~QEP_F_ALL ||
	    (h->flags & QEP_F_NON_POSTED && h->type != QEP_MSG_MEM_WRITE &&
	     h->type != QEP_MSG_MAP) ||
	    (h->flags & QEP_F_POISONED && h->type != QEP_MSG_COMPLETION))
		return -QEP_E_FLAGS;
	if (h->reserved)
		return -QEP_E_RESERVED;
	if (h->size > QEP_MAX_PAYLOAD)
		return -QEP_E_TOO_LONG;
	if (type_tagged(h->type, h->flags) != (h->tag != 0))
		return -QEP_E_TAG;
	return 0;
}

static void hdr_put(uint8_t *p, uint16_t type, uint16_t flags, uint16_t tag,
		    uint32_t size)
{
	st32(p, QEP_MAGIC);
	st16(p + 4, type);
	st16(p + 6, flags);
	st32(p + 8, size);
	st16(p + 12, tag);
	st16(p + 14, 0);
}

/* ---- payloads ----------------------------------------------------------- */

static int check_mem(struct qep_msg *m, const uint8_t *p, uint32_t size,
		     bool write)
{
	struct qep_mem_req *r = &m->u.mem;

	if (size < sizeof(*r))
		return -QEP_E_SIZE;
	r->addr = ld64(p);
	r->len = ld32(p + 8);
	r->reserved = ld32(p + 12);
	if (r->reserved)
		return -QEP_E_RESERVED;
	if (r->len == 0 || r->len > QEP_MAX_DATA)
		return -QEP_E_LEN;
	if (size != sizeof(*r) + (write ? r->len : 0))
		return -QEP_E_SIZE;
	if (r->addr + r->len - 1 < r->addr)
		return -QEP_E_ADDR;
	if (m->hdr.type == QEP_MSG_IO_READ || m->hdr.type == QEP_MSG_IO_WRITE) {
		/* I/O requests are at most a dword and do not cross one */
		if (r->len > 4 || r->addr > UINT32_MAX ||
		    (r->addr & 3) + r->len > 4)
			return -QEP_E_ADDR;
	}
	if (write) {
		m->data = p + sizeof(*r);
		m->data_len = r->len;
	}
	return 0;
}

static int check_cfg(struct qep_msg *m, const uint8_t *p, uint32_t size)
{
	struct qep_cfg_req *c = &m->u.cfg;

	if (size != sizeof(*c))
		return -QEP_E_SIZE;
	c->offset = ld16(p);
	c->len = p[2];
	c->reserved = p[3];
	c->data = ld32(p + 4);
	if (c->reserved)
		return -QEP_E_RESERVED;
	if (c->len != 1 && c->len != 2 && c->len != 4)
		return -QEP_E_CFG;
	if (c->offset > 4095 || c->offset & (c->len - 1))
		return -QEP_E_CFG;
	if (m->hdr.type == QEP_MSG_CFG_READ && c->data)
		return -QEP_E_RESERVED;
	if (m->hdr.type == QEP_MSG_CFG_WRITE && c->len < 4 &&
	    c->data >> (8 * c->len))
		return -QEP_E_VALUE;
	return 0;
}

static int check_cpl(struct qep_msg *m, const uint8_t *p, uint32_t size)
{
	struct qep_cpl *c = &m->u.cpl;

	if (size < sizeof(*c))
		return -QEP_E_SIZE;
	c->status = ld16(p);
	c->req_type = ld16(p + 2);
	c->len = ld32(p + 4);
	if (c->status != QEP_CPL_SC && c->status != QEP_CPL_UR &&
	    c->status != QEP_CPL_CA)
		return -QEP_E_STATUS;
	if (c->req_type == 0 || c->req_type > QEP_MSG_TYPE_MAX ||
	    !type_tagged(c->req_type, c->req_type == QEP_MSG_MEM_WRITE ||
			 c->req_type == QEP_MSG_MAP ? QEP_F_NON_POSTED : 0) ||
	    c->req_type == QEP_MSG_COMPLETION)
		return -QEP_E_VALUE;
	if (c->len > QEP_MAX_DATA)
		return -QEP_E_LEN;
	/* only a successful read completion carries data */
	if (c->len && (c->status != QEP_CPL_SC ||
		       (c->req_type != QEP_MSG_CFG_READ &&
			c->req_type != QEP_MSG_MEM_READ &&
			c->req_type != QEP_MSG_IO_READ)))
		return -QEP_E_LEN;
	if (size != sizeof(*c) + c->len)
		return -QEP_E_SIZE;
	/* only data can be poisoned */
	if (m->hdr.flags & QEP_F_POISONED && !c->len)
		return -QEP_E_FLAGS;
	m->data = p + sizeof(*c);
	m->data_len = c->len;
	return 0;
}

static int check_link_cfg(struct qep_msg *m, const uint8_t *p)
{
	struct qep_link_cfg *c = &m->link_cfg;

	c->vendor_id = ld16(p);
	c->device_id = ld16(p + 2);
	c->revision = p[4];
	c->progif = p[5];
	c->subclass = p[6];
	c->baseclass = p[7];
	c->subsys_vendor_id = ld16(p + 8);
	c->subsys_id = ld16(p + 10);
	c->msi_log2 = (int8_t)p[12];
	c->reserved = p[13];
	c->msix_count = ld16(p + 14);
	c->msix_table = ld32(p + 16);
	c->msix_pba = ld32(p + 20);
	c->reserved2[0] = ld32(p + 24);
	c->reserved2[1] = ld32(p + 28);
	if (c->reserved || c->reserved2[0] || c->reserved2[1])
		return -QEP_E_RESERVED;
	if (c->msi_log2 < -1 || c->msi_log2 > 5 || c->msix_count > 2048 ||
	    (c->msix_table & 7) > 5 || (c->msix_pba & 7) > 5)
		return -QEP_E_VALUE;
	m->has_link_cfg = true;
	return 0;
}

static int check_link(struct qep_msg *m, const uint8_t *p, uint32_t size)
{
	struct qep_link *l = &m->u.link;
	int i;

	if (size != sizeof(*l) && size != sizeof(*l) + sizeof(m->link_cfg))
		return -QEP_E_SIZE;
	l->up = ld32(p);
	l->intx_pin = p[4];
	memcpy(l->reserved, p + 5, 3);
	if (l->up > 1 || l->intx_pin > 4)
		return -QEP_E_VALUE;
	if (l->reserved[0] || l->reserved[1] || l->reserved[2])
		return -QEP_E_RESERVED;
	for (i = 0; i < QEP_NUM_BARS; i++) {
		const uint8_t *b = p + 8 + 16 * i;
		struct qep_bar_desc *d = &l->bar[i];

		d->size = ld64(b);
		d->flags = ld32(b + 8);
		d->reserved = ld32(b + 12);
		if (d->reserved)
			return -QEP_E_RESERVED;
		if (d->size & (d->size - 1))
			return -QEP_E_VALUE;           /* not a power of two */
		if (d->flags & ~0xfu || (d->flags & 1 && d->flags != 1))
			return -QEP_E_VALUE;           /* I/O BARs have no type bits */
		if (!l->up && (d->size || d->flags))
			return -QEP_E_VALUE;
	}
	if (size == sizeof(*l))
		return 0;
	if (!l->up)
		return -QEP_E_SIZE;              /* parameters only with up */
	return check_link_cfg(m, p + sizeof(*l));
}

static int check_fds(struct qep_msg *m, const uint8_t *p, uint32_t size)
{
	struct qep_fds *f = &m->u.fds;

	if (size != sizeof(*f))
		return -QEP_E_SIZE;
	f->kind = ld32(p);
	f->nfds = ld32(p + 4);
	f->gpa = ld64(p + 8);
	f->size = ld64(p + 16);
	f->offset = ld64(p + 24);
	if (f->size == 0 || f->gpa + f->size - 1 < f->gpa)
		return -QEP_E_ADDR;
	switch (f->kind) {
	case QEP_FD_GUEST_RAM:
		/* one descriptor, the region's */
		if (f->nfds != 1 || f->offset + f->size - 1 < f->offset)
			return -QEP_E_VALUE;
		return 0;
	case QEP_FD_RAM_GONE:
		if (f->nfds || f->offset)
			return -QEP_E_VALUE;
		return 0;
	}
	return -QEP_E_VALUE;
}

static int check_map(struct qep_msg *m, const uint8_t *p, uint32_t size)
{
	struct qep_map *h = &m->u.map;
	uint64_t end = 0;
	unsigned int i;

	if (size < sizeof(*h))
		return -QEP_E_SIZE;
	h->bar = p[0];
	h->count = p[1];
	h->reserved = ld16(p + 2);
	h->reserved2 = ld32(p + 4);
	if (h->reserved || h->reserved2)
		return -QEP_E_RESERVED;
	if (h->count > QEP_MAP_MAX ||
	    size != sizeof(*h) + h->count * sizeof(struct qep_map_piece))
		return -QEP_E_SIZE;
	if (h->bar >= QEP_NUM_BARS &&
	    (h->bar != QEP_MAP_ALL_BARS || h->count))
		return -QEP_E_VALUE;
	m->data = p + sizeof(*h);
	m->data_len = size - sizeof(*h);
	/* pieces in ascending BAR offsets, apart, not wrapping */
	for (i = 0; i < h->count; i++) {
		struct qep_map_piece e;

		qep_map_piece(m, i, &e);
		if (!e.size || e.offset < end ||
		    e.offset + e.size - 1 < e.offset ||
		    e.gpa + e.size - 1 < e.gpa)
			return -QEP_E_ADDR;
		end = e.offset + e.size;
	}
	return 0;
}

void qep_map_piece(const struct qep_msg *m, unsigned int i,
		   struct qep_map_piece *e)
{
	const uint8_t *q = m->data + i * sizeof(*e);

	e->offset = ld64(q);
	e->size = ld64(q + 8);
	e->gpa = ld64(q + 16);
}

int qep_msg_decode(const void *buf, size_t len, struct qep_msg *m)
{
	const uint8_t *p = (const uint8_t *)buf + sizeof(struct qep_hdr);
	uint32_t size;
	int r;

	memset(m, 0, sizeof(*m));
	r = qep_hdr_decode(buf, len, &m->hdr);
	if (r)
		return r;
	size = m->hdr.size;
	if (len < sizeof(struct qep_hdr) + size)
		return -QEP_E_SHORT;

	switch (m->hdr.type) {
	case QEP_MSG_HELLO:
		if (size != sizeof(struct qep_hello))
			return -QEP_E_SIZE;
		m->u.hello.major = ld16(p);
		m->u.hello.minor = ld16(p + 2);
		m->u.hello.role = ld32(p + 4);
		m->u.hello.features = ld64(p + 8);
		if (m->u.hello.role != QEP_ROLE_ENDPOINT &&
		    m->u.hello.role != QEP_ROLE_HOST)
			return -QEP_E_VALUE;
		break;
	case QEP_MSG_CFG_READ:
	case QEP_MSG_CFG_WRITE:
		r = check_cfg(m, p, size);
		break;
	case QEP_MSG_MEM_READ:
	case QEP_MSG_IO_READ:
		r = check_mem(m, p, size, false);
		break;
	case QEP_MSG_MEM_WRITE:
	case QEP_MSG_IO_WRITE:
		r = check_mem(m, p, size, true);
		break;
	case QEP_MSG_COMPLETION:
		r = check_cpl(m, p, size);
		break;
	case QEP_MSG_INTX:
		if (size != sizeof(struct qep_intx))
			return -QEP_E_SIZE;
		m->u.intx.pin = p[0];
		m->u.intx.assert = p[1];
		m->u.intx.reserved = ld16(p + 2);
		if (m->u.intx.reserved)
			return -QEP_E_RESERVED;
		if (m->u.intx.pin > 3 || m->u.intx.assert > 1)
			return -QEP_E_VALUE;
		break;
	case QEP_MSG_LINK:
		r = check_link(m, p, size);
		break;
	case QEP_MSG_FDS:
		r = check_fds(m, p, size);
		break;
	case QEP_MSG_MAP:
		r = check_map(m, p, size);
		break;
	case QEP_MSG_RESET:
		if (size)
			return -QEP_E_SIZE;
		break;
	}
	if (r)
		return r;
	return (int)(sizeof(struct qep_hdr) + size);
}

/* ---- encoders ----------------------------------------------------------- */

#define HDR sizeof(struct qep_hdr)

size_t qep_enc_hello(void *buf, enum qep_role role, uint64_t features)
{
	uint8_t *p = buf;

	hdr_put(p, QEP_MSG_HELLO, 0, 0, sizeof(struct qep_hello));
	st16(p + HDR, QEP_VERSION_MAJOR);
	st16(p + HDR + 2, QEP_VERSION_MINOR);
	st32(p + HDR + 4, role);
	st64(p + HDR + 8, features);
	return HDR + sizeof(struct qep_hello);
}

static size_t enc_cfg(void *buf, uint16_t type, uint16_t tag, uint16_t offset,
		      uint8_t len, uint32_t data)
{
	uint8_t *p = buf;

	hdr_put(p, type, 0, tag, sizeof(struct qep_cfg_req));
	st16(p + HDR, offset);
	p[HDR + 2] = len;
	p[HDR + 3] = 0;
	st32(p + HDR + 4, data);
	return HDR + sizeof(struct qep_cfg_req);
}

size_t qep_enc_cfg_read(void *buf, uint16_t tag, uint16_t offset, uint8_t len)
{
	return enc_cfg(buf, QEP_MSG_CFG_READ, tag, offset, len, 0);
}

size_t qep_enc_cfg_write(void *buf, uint16_t tag, uint16_t offset, uint8_t len,
			 uint32_t data)
{
	return enc_cfg(buf, QEP_MSG_CFG_WRITE, tag, offset, len, data);
}

static void mem_put(uint8_t *p, uint64_t addr, uint32_t len)
{
	st64(p, addr);
	st32(p + 8, len);
	st32(p + 12, 0);
}

size_t qep_enc_mem_read(void *buf, enum qep_msg_type type, uint16_t tag,
			uint64_t addr, uint32_t len)
{
	uint8_t *p = buf;

	hdr_put(p, type, 0, tag, sizeof(struct qep_mem_req));
	mem_put(p + HDR, addr, len);
	return HDR + sizeof(struct qep_mem_req);
}

size_t qep_enc_mem_write(void *buf, enum qep_msg_type type, uint16_t tag,
			 uint64_t addr, uint32_t len, const void *data)
{
	uint8_t *p = buf;
	uint16_t flags = type == QEP_MSG_MEM_WRITE && tag ? QEP_F_NON_POSTED : 0;

	hdr_put(p, type, flags, tag, sizeof(struct qep_mem_req) + len);
	mem_put(p + HDR, addr, len);
	memcpy(p + HDR + sizeof(struct qep_mem_req), data, len);
	return HDR + sizeof(struct qep_mem_req) + len;
}

size_t qep_enc_cpl(void *buf, uint16_t tag, uint16_t req_type,
		   enum qep_cpl_status status, const void *data, uint32_t len)
{
	uint8_t *p = buf;

	hdr_put(p, QEP_MSG_COMPLETION, 0, tag, sizeof(struct qep_cpl) + len);
	st16(p + HDR, status);
	st16(p + HDR + 2, req_type);
	st32(p + HDR + 4, len);
	if (len)
		memcpy(p + HDR + sizeof(struct qep_cpl), data, len);
	return HDR + sizeof(struct qep_cpl) + len;
}

size_t qep_enc_intx(void *buf, uint8_t pin, bool assert)
{
	uint8_t *p = buf;

	hdr_put(p, QEP_MSG_INTX, 0, 0, sizeof(struct qep_intx));
	p[HDR] = pin;
	p[HDR + 1] = assert;
	st16(p + HDR + 2, 0);
	return HDR + sizeof(struct qep_intx);
}

size_t qep_enc_link(void *buf, const struct qep_link *l)
{
	uint8_t *p = buf;
	int i;

	hdr_put(p, QEP_MSG_LINK, 0, 0, sizeof(*l));
	memset(p + HDR, 0, sizeof(*l));
	st32(p + HDR, l->up);
	p[HDR + 4] = l->intx_pin;
	for (i = 0; i < QEP_NUM_BARS; i++) {
		st64(p + HDR + 8 + 16 * i, l->bar[i].size);
		st32(p + HDR + 16 + 16 * i, l->bar[i].flags);
	}
	return HDR + sizeof(*l);
}

size_t qep_enc_link_cfg(void *buf, const struct qep_link *l,
			const struct qep_link_cfg *c)
{
	uint8_t *p = buf;
	uint8_t *q = p + HDR + sizeof(*l);

	qep_enc_link(buf, l);
	hdr_put(p, QEP_MSG_LINK, 0, 0, sizeof(*l) + sizeof(*c));
	memset(q, 0, sizeof(*c));
	st16(q, c->vendor_id);
	st16(q + 2, c->device_id);
	q[4] = c->revision;
	q[5] = c->progif;
	q[6] = c->subclass;
	q[7] = c->baseclass;
	st16(q + 8, c->subsys_vendor_id);
	st16(q + 10, c->subsys_id);
	q[12] = (uint8_t)c->msi_log2;
	st16(q + 14, c->msix_count);
	st32(q + 16, c->msix_table);
	st32(q + 20, c->msix_pba);
	return HDR + sizeof(*l) + sizeof(*c);
}

size_t qep_enc_fds(void *buf, const struct qep_fds *f)
{
	uint8_t *p = buf;

	hdr_put(p, QEP_MSG_FDS, 0, 0, sizeof(*f));
	st32(p + HDR, f->kind);
	st32(p + HDR + 4, f->nfds);
	st64(p + HDR + 8, f->gpa);
	st64(p + HDR + 16, f->size);
	st64(p + HDR + 24, f->offset);
	return HDR + sizeof(*f);
}

size_t qep_enc_reset(void *buf)
{
	hdr_put(buf, QEP_MSG_RESET, 0, 0, 0);
	return HDR;
}

size_t qep_enc_map(void *buf, uint16_t tag, uint8_t bar, uint8_t count,
		   const struct qep_map_piece *pieces)
{
	uint8_t *p = buf;
	size_t size = sizeof(struct qep_map) + count * sizeof(*pieces);
	unsigned int i;

	hdr_put(p, QEP_MSG_MAP, tag ? QEP_F_NON_POSTED : 0, tag, size);
	memset(p + HDR, 0, sizeof(struct qep_map));
	p[HDR] = bar;
	p[HDR + 1] = count;
	for (i = 0; i < count; i++) {
		uint8_t *q = p + HDR + sizeof(struct qep_map) + i * sizeof(*pieces);

		st64(q, pieces[i].offset);
		st64(q + 8, pieces[i].size);
		st64(q + 16, pieces[i].gpa);
	}
	return HDR + size;
}

void qep_set_tag(void *buf, uint16_t tag)
{
	st16((uint8_t *)buf + 12, tag);
}

void qep_set_flags(void *buf, uint16_t flags)
{
	uint8_t *p = buf;

	st16(p + 6, ld16(p + 6) | flags);
}

/* ---- hello -------------------------------------------------------------- */

int qep_hello_check(const struct qep_hello *peer, enum qep_role role,
		    char *why, size_t why_len)
{
	enum qep_role want = role == QEP_ROLE_ENDPOINT ? QEP_ROLE_HOST
						       : QEP_ROLE_ENDPOINT;

	if (peer->major != QEP_VERSION_MAJOR) {
		snprintf(why, why_len,
			 "peer speaks protocol %u.%u, this side %u.%u (major versions differ)",
			 peer->major, peer->minor, QEP_VERSION_MAJOR,
			 QEP_VERSION_MINOR);
		return -QEP_E_VALUE;
	}
	if (peer->role != want) {
		snprintf(why, why_len,
			 "peer announces role %s, expected %s",
			 peer->role == QEP_ROLE_ENDPOINT ? "endpoint (qemu-epc)"
							 : "host (epf-bridge)",
			 want == QEP_ROLE_ENDPOINT ? "endpoint (qemu-epc)"
						   : "host (epf-bridge)");
		return -QEP_E_VALUE;
	}
	snprintf(why, why_len, "peer speaks protocol %u.%u, features 0x%llx",
		 peer->major, peer->minor,
		 (unsigned long long)peer->features);
	return 0;
}
