/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-epc wire protocol: the messages exchanged between the qemu-epc
 * endpoint controller (guest 1) and the epf-bridge (guest 2) over a Unix
 * stream socket.  docs/protocol.md is the specification; this header is its
 * C form.  All fields are little-endian; every message is a 16-byte header
 * followed by `size` bytes of payload.
 *
 * This header depends only on the C library so that the QEMU modules, the
 * unit tests, the test peer and the fuzzers all share it.
 */
#ifndef QEMU_EPC_PROTO_H
#define QEMU_EPC_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define QEP_MAGIC           0x43504551u  /* "QEPC" in little-endian bytes */
#define QEP_VERSION_MAJOR   1
#define QEP_VERSION_MINOR   4

/* largest data payload of one memory/I/O request or completion */
#define QEP_MAX_DATA        4096u
/* largest payload of any message (memory write: request fields + data) */
#define QEP_MAX_PAYLOAD     (16u + QEP_MAX_DATA)

enum qep_msg_type {
	QEP_MSG_HELLO      = 1,
	QEP_MSG_CFG_READ   = 2,
	QEP_MSG_CFG_WRITE  = 3,
	QEP_MSG_MEM_READ   = 4,
	QEP_MSG_MEM_WRITE  = 5,
	QEP_MSG_IO_READ    = 6,
	QEP_MSG_IO_WRITE   = 7,
	QEP_MSG_COMPLETION = 8,
	QEP_MSG_INTX       = 9,
	QEP_MSG_LINK       = 10,
	QEP_MSG_FDS        = 11,
	QEP_MSG_MAP        = 12,
	QEP_MSG_RESET      = 13,
	QEP_MSG_TYPE_MAX   = QEP_MSG_RESET,
};

/* header flags */
#define QEP_F_NON_POSTED    0x0001u  /* MEM_WRITE, MAP: the sender wants a completion */
/* COMPLETION with data: the data is poisoned (PCIe's EP bit), with POISON */
#define QEP_F_POISONED      0x0002u
#define QEP_F_ALL           (QEP_F_NON_POSTED | QEP_F_POISONED)

/* roles announced in HELLO */
enum qep_role {
	QEP_ROLE_ENDPOINT = 1,   /* qemu-epc: holds the function's config space */
	QEP_ROLE_HOST     = 2,   /* epf-bridge: the root complex side */
};

/* feature bits announced in HELLO; the link uses the intersection */
#define QEP_FEAT_SHMEM      (1ull << 0)  /* QEP_MSG_FDS with guest RAM */
#define QEP_FEAT_RESET      (1ull << 1)  /* QEP_MSG_RESET understood */
/*
 * LINK up carries the function's configuration parameters (struct
 * qep_link_cfg): the host builds the same config space and answers config
 * reads itself (1.3)
 */
#define QEP_FEAT_CFG_STATE  (1ull << 2)
/* completions may carry QEP_F_POISONED (1.4) */
#define QEP_FEAT_POISON     (1ull << 3)
#define QEP_FEATURES_KNOWN  (QEP_FEAT_SHMEM | QEP_FEAT_RESET | \
			     QEP_FEAT_CFG_STATE | QEP_FEAT_POISON)

/* completion status, as in a PCIe completion */
enum qep_cpl_status {
	QEP_CPL_SC = 0,          /* successful completion */
	QEP_CPL_UR = 1,          /* unsupported request */
	QEP_CPL_CA = 4,          /* completer abort */
};

struct qep_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint32_t size;           /* payload bytes after this header */
	uint16_t tag;            /* request/completion tag; 0 for posted */
	uint16_t reserved;
};

struct qep_hello {
	uint16_t major;
	uint16_t minor;
	uint32_t role;
	uint64_t features;
};

struct qep_cfg_req {             /* CFG_READ and CFG_WRITE */
	uint16_t offset;         /* 0..4095, aligned to len */
	uint8_t  len;            /* 1, 2 or 4 */
	uint8_t  reserved;
	uint32_t data;           /* CFG_WRITE only; 0 in CFG_READ */
};

struct qep_mem_req {             /* MEM/IO READ and WRITE; WRITE data follows */
	uint64_t addr;
	uint32_t len;            /* 1..QEP_MAX_DATA */
	uint32_t reserved;
};

struct qep_cpl {                 /* COMPLETION; read data follows */
	uint16_t status;         /* enum qep_cpl_status */
	uint16_t req_type;       /* type of the request it completes */
	uint32_t len;            /* bytes of data that follow */
};

struct qep_intx {
	uint8_t  pin;            /* 0..3 = INTA..INTD */
	uint8_t  assert;         /* 1 assert, 0 deassert */
	uint16_t reserved;
};

#define QEP_NUM_BARS        6

struct qep_bar_desc {
	uint64_t size;           /* 0: BAR not implemented */
	uint32_t flags;          /* PCI BAR low bits: I/O, 64-bit, prefetchable */
	uint32_t reserved;
};

struct qep_link {
	uint32_t up;             /* 1 link up, 0 link down */
	uint8_t  intx_pin;       /* the function's Interrupt Pin (0 none, 1..4) */
	uint8_t  reserved[3];
	struct qep_bar_desc bar[QEP_NUM_BARS];  /* meaningful when up */
};

/* after struct qep_link in a LINK up, with QEP_FEAT_CFG_STATE */
struct qep_link_cfg {
	uint16_t vendor_id;
	uint16_t device_id;
	uint8_t  revision;
	uint8_t  progif;
	uint8_t  subclass;
	uint8_t  baseclass;
	uint16_t subsys_vendor_id;
	uint16_t subsys_id;
	int8_t   msi_log2;       /* -1: no MSI; else log2 of the vectors, 0..5 */
	uint8_t  reserved;
	uint16_t msix_count;     /* 0: no MSI-X; else 1..2048 vectors */
	uint32_t msix_table;     /* BIR in bits 2:0, the offset 8-aligned */
	uint32_t msix_pba;
	uint32_t reserved2[2];
};

enum qep_fd_kind {
	QEP_FD_GUEST_RAM = 1,    /* a guest RAM region the sender's device reaches */
	QEP_FD_RAM_GONE  = 2,    /* that range is no longer one: unmap it */
};

struct qep_fds {
	uint32_t kind;           /* enum qep_fd_kind */
	uint32_t nfds;           /* descriptors in the SCM_RIGHTS data */
	uint64_t gpa;            /* guest physical address of the region */
	uint64_t size;
	uint64_t offset;         /* offset of the region in the fd */
};

_Static_assert(sizeof(struct qep_hdr) == 16, "qep_hdr");
_Static_assert(sizeof(struct qep_hello) == 16, "qep_hello");
_Static_assert(sizeof(struct qep_cfg_req) == 8, "qep_cfg_req");
_Static_assert(sizeof(struct qep_mem_req) == 16, "qep_mem_req");
_Static_assert(sizeof(struct qep_cpl) == 8, "qep_cpl");
_Static_assert(sizeof(struct qep_intx) == 4, "qep_intx");
_Static_assert(sizeof(struct qep_bar_desc) == 16, "qep_bar_desc");
_Static_assert(sizeof(struct qep_link) == 104, "qep_link");
_Static_assert(sizeof(struct qep_link_cfg) == 32, "qep_link_cfg");
/*
 * MAP: the parts of a function BAR that the host may access as the
 * endpoint's shared RAM, without messages (docs/protocol.md).
 */
#define QEP_MAP_ALL_BARS    0xff     /* with count 0: every BAR */
#define QEP_MAP_MAX         64       /* pieces in one MAP */

struct qep_map {
	uint8_t  bar;            /* 0..5, or QEP_MAP_ALL_BARS */
	uint8_t  count;          /* pieces that follow; 0: none */
	uint16_t reserved;
	uint32_t reserved2;
};

struct qep_map_piece {           /* count of these follow struct qep_map */
	uint64_t offset;         /* in the BAR */
	uint64_t size;
	uint64_t gpa;            /* endpoint guest-physical address */
};

_Static_assert(sizeof(struct qep_fds) == 32, "qep_fds");
_Static_assert(sizeof(struct qep_map) == 8, "qep_map");
_Static_assert(sizeof(struct qep_map_piece) == 24, "qep_map_piece");
_Static_assert(sizeof(struct qep_map) + QEP_MAP_MAX *
	       sizeof(struct qep_map_piece) <= QEP_MAX_PAYLOAD, "map max");
_Static_assert(QEP_MAX_PAYLOAD >= sizeof(struct qep_link) +
	       sizeof(struct qep_link_cfg), "payload max");

/*
 * Capture (docs/protocol.md, "Capture format"): a device started with
 * capture=FILE writes a pcapng file, link type DLT_USER0 (147), whose every
 * packet is this record header followed by a whole message as it crossed
 * the socket (QEP_CAP_MESSAGE) or by a line of text (QEP_CAP_EVENT).
 */
#define QEP_CAP_LINKTYPE    147      /* LINKTYPE_USER0 */
#define QEP_CAP_VERSION     1

enum qep_cap_kind {
	QEP_CAP_MESSAGE = 0,     /* a wire message follows */
	QEP_CAP_EVENT   = 1,     /* UTF-8 text follows: what the device saw */
};

enum qep_cap_dir {
	QEP_CAP_SENT     = 0,    /* by the device that wrote the capture */
	QEP_CAP_RECEIVED = 1,
};

/* what the sender knows about a message that the wire does not say */
enum qep_cap_note {
	QEP_NOTE_NONE     = 0,
	QEP_NOTE_MSI      = 1,   /* a MWr that is an MSI */
	QEP_NOTE_MSIX     = 2,   /* a MWr that is an MSI-X message */
	QEP_NOTE_DMA      = 3,   /* issued by qemu-epc's DMA engine */
	QEP_NOTE_DOORBELL = 4,   /* event: the host rang the doorbell */
	QEP_NOTE_LINK     = 5,   /* event: connection, link state, errors */
	QEP_NOTE_FAULT    = 6,   /* an injected fault acted on this */
	QEP_NOTE_MAX      = QEP_NOTE_FAULT,
};

struct qep_cap_hdr {
	uint8_t  version;        /* QEP_CAP_VERSION */
	uint8_t  kind;           /* enum qep_cap_kind */
	uint8_t  dir;            /* enum qep_cap_dir */
	uint8_t  function;       /* the function's number, 0..7 */
	uint16_t note;           /* enum qep_cap_note */
	uint16_t reserved;
};

_Static_assert(sizeof(struct qep_cap_hdr) == 8, "qep_cap_hdr");

/*
 * A decoded message: header plus payload in host byte order.  `data` points
 * into the caller's buffer (read/write data of memory requests and
 * completions).
 */
struct qep_msg {
	struct qep_hdr hdr;
	union {
		struct qep_hello hello;
		struct qep_cfg_req cfg;
		struct qep_mem_req mem;
		struct qep_cpl cpl;
		struct qep_intx intx;
		struct qep_link link;
		struct qep_fds fds;
		struct qep_map map;
	} u;
	const uint8_t *data;
	uint32_t data_len;
	/* LINK up with QEP_FEAT_CFG_STATE: the configuration parameters */
	bool has_link_cfg;
	struct qep_link_cfg link_cfg;
};

/* Error codes returned (negated) by the validators; see qep_strerror(). */
enum qep_err {
	QEP_OK = 0,
	QEP_E_SHORT,             /* fewer bytes than a header or declared size */
	QEP_E_MAGIC,
	QEP_E_TYPE,
	QEP_E_FLAGS,
	QEP_E_RESERVED,          /* a reserved field is not zero */
	QEP_E_SIZE,              /* payload size wrong for the type */
	QEP_E_TOO_LONG,          /* payload size over QEP_MAX_PAYLOAD */
	QEP_E_TAG,               /* posted message with a tag, or missing tag */
	QEP_E_CFG,               /* config offset/length invalid */
	QEP_E_LEN,               /* memory/I/O length 0 or over QEP_MAX_DATA */
	QEP_E_ADDR,              /* address range wraps or misaligned I/O */
	QEP_E_STATUS,            /* unknown completion status */
	QEP_E_VALUE,             /* a field outside its range (pin, role, ...) */
	QEP_E_COUNT,
};

const char *qep_strerror(int err);
const char *qep_type_name(unsigned int type);

/*
 * Validate a header read off the wire (16 bytes at @buf) into @hdr.  Returns
 * 0 or a negative enum qep_err; on success hdr->size is the payload size.
 */
int qep_hdr_decode(const void *buf, size_t len, struct qep_hdr *hdr);

/*
 * Decode and validate one whole message (header and payload, @len bytes).
 * Returns the number of bytes consumed, or a negative enum qep_err.  A
 * return of -QEP_E_SHORT means more bytes are needed.
 */
int qep_msg_decode(const void *buf, size_t len, struct qep_msg *msg);

/*
 * Encoders: write one complete message into @buf (at least
 * sizeof(struct qep_hdr) + QEP_MAX_PAYLOAD bytes) and return its length.
 */
size_t qep_enc_hello(void *buf, enum qep_role role, uint64_t features);
size_t qep_enc_cfg_read(void *buf, uint16_t tag, uint16_t offset, uint8_t len);
size_t qep_enc_cfg_write(void *buf, uint16_t tag, uint16_t offset, uint8_t len,
			 uint32_t data);
size_t qep_enc_mem_read(void *buf, enum qep_msg_type type, uint16_t tag,
			uint64_t addr, uint32_t len);
size_t qep_enc_mem_write(void *buf, enum qep_msg_type type, uint16_t tag,
			 uint64_t addr, uint32_t len, const void *data);
size_t qep_enc_cpl(void *buf, uint16_t tag, uint16_t req_type,
		   enum qep_cpl_status status, const void *data, uint32_t len);
size_t qep_enc_intx(void *buf, uint8_t pin, bool assert);
size_t qep_enc_link(void *buf, const struct qep_link *link);
/* LINK up with the configuration parameters (QEP_FEAT_CFG_STATE) */
size_t qep_enc_link_cfg(void *buf, const struct qep_link *link,
			const struct qep_link_cfg *cfg);
size_t qep_enc_fds(void *buf, const struct qep_fds *fds);
size_t qep_enc_reset(void *buf);
/* MAP with @count pieces; @tag non-zero makes it non-posted */
size_t qep_enc_map(void *buf, uint16_t tag, uint8_t bar, uint8_t count,
		   const struct qep_map_piece *pieces);

/* Piece @i of a decoded MAP message (i < msg->u.map.count). */
void qep_map_piece(const struct qep_msg *msg, unsigned int i,
		   struct qep_map_piece *piece);

/* Set the tag of an encoded message (for a sender that allocates tags late). */
void qep_set_tag(void *buf, uint16_t tag);

/* Add header @flags to an encoded message (QEP_F_POISONED). */
void qep_set_flags(void *buf, uint16_t flags);

/* Is this a request that the receiver must complete? */
static inline bool qep_needs_completion(const struct qep_hdr *h)
{
	switch (h->type) {
	case QEP_MSG_CFG_READ:
	case QEP_MSG_CFG_WRITE:
	case QEP_MSG_MEM_READ:
	case QEP_MSG_IO_READ:
	case QEP_MSG_IO_WRITE:
		return true;
	case QEP_MSG_MEM_WRITE:
	case QEP_MSG_MAP:
		return h->flags & QEP_F_NON_POSTED;
	default:
		return false;
	}
}

/*
 * HELLO compatibility: 0 if a peer announcing @peer may talk to us as @role,
 * else a negative enum qep_err (QEP_E_VALUE for a major version or role
 * mismatch).  A message for the log is written to @why.
 */
int qep_hello_check(const struct qep_hello *peer, enum qep_role role,
		    char *why, size_t why_len);

#endif /* QEMU_EPC_PROTO_H */
