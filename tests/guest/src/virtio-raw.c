// SPDX-License-Identifier: Apache-2.0
// virtio-raw: a guest-side virtio driver of its own, for hostile-guest tests from inside a real
// guest.
//
//   virtio-raw pci BDF [packed]     a virtio-pci function (unbound from every kernel driver first):
//                                   capabilities from its config space in sysfs, BARs mapped
//                                   through the resource files
//   virtio-raw mmio ADDR [packed]   a virtio-mmio device (unbound first): its registers mapped
//                                   through /dev/mem
//
// It drives one queue of the device with a split ring (or, with "packed", a packed ring) in
// memory whose guest-physical addresses come from /proc/self/pagemap. Interrupts are not used: it
// polls the ring and the device status, and asks the device for no interrupts.
//
// The device type (read from the transport) picks the queue and a well-formed request that the
// device must complete: rng a writable buffer (queue 0), blk GET_ID with its status (queue 0),
// console a line on port 0's transmitq (queue 1), net a frame on transmitq 0 (queue 1), vsock an
// RST packet on its tx queue (queue 1), iommu an ATTACH of an endpoint that does not exist. Then each malformed case of the hostile-guest catalogue,
// each followed by a device reset and the well-formed request, which must succeed again. One line
// per case on stdout:
//   CASE NAME: needs_reset | used len=N | ignored ; recovered
// Exit status 0 when the device recovered after every case, 1 otherwise, 2 on set-up errors.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum {
    CAP_COMMON = 1,
    CAP_NOTIFY = 2,
    CAP_DEVICE = 4,
    S_ACK = 1,
    S_DRIVER = 2,
    S_DRIVER_OK = 4,
    S_FEATURES_OK = 8,
    S_NEEDS_RESET = 64,
    D_NEXT = 1,
    D_WRITE = 2,
    D_INDIRECT = 4,
    P_AVAIL = 1 << 7, // packed descriptor flags, virtio 1.2 §2.8.1
    P_USED = 1 << 15,
    F_INDIRECT_DESC = 28,
    F_RING_PACKED = 34,
    QSIZE = 8,
    PAGE = 4096,
    // How long a case gets before it counts as ignored, and a good request before it fails.
    CASE_MS = 500,
    REQUEST_MS = 2000,
};

// virtio 1.2 §4.1.4.3: struct virtio_pci_common_cfg offsets.
enum {
    C_DFSELECT = 0,
    C_DF = 4,
    C_GFSELECT = 8,
    C_GF = 12,
    C_STATUS = 20,
    C_QSELECT = 22,
    C_QSIZE = 24,
    C_QMSIX = 26,
    C_QENABLE = 28,
    C_QNOTIFYOFF = 30,
    C_QDESC = 32,
    C_QDRIVER = 40,
    C_QDEVICE = 48,
};

// virtio 1.2 §4.2.2: virtio-mmio register offsets.
enum {
    M_MAGIC = 0x000,
    M_VERSION = 0x004,
    M_DEVICE_ID = 0x008,
    M_DF = 0x010,
    M_DFSEL = 0x014,
    M_GF = 0x020,
    M_GFSEL = 0x024,
    M_QSEL = 0x030,
    M_QNUM_MAX = 0x034,
    M_QNUM = 0x038,
    M_QREADY = 0x044,
    M_QNOTIFY = 0x050,
    M_ISR = 0x060,
    M_ISR_ACK = 0x064,
    M_STATUS = 0x070,
    M_QDESC = 0x080,
    M_QDRIVER = 0x090,
    M_QDEVICE = 0x0a0,
    M_CONFIG = 0x100,
};

struct desc { // split, §2.7.5
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct pdesc { // packed, §2.8.13
    uint64_t addr;
    uint32_t len;
    uint16_t id;
    uint16_t flags;
};

struct buf {
    uint64_t addr;
    uint32_t len;
    uint16_t flags; // D_WRITE, D_INDIRECT (D_NEXT is added between the buffers of a chain)
};

// --- transport -----------------------------------------------------------------------------
static int mmio;                  // 0: virtio-pci
static volatile uint8_t* regs;    // mmio registers, or the pci common configuration
static volatile uint8_t* notify_base;
static uint32_t notify_mult;
static volatile uint8_t* devcfg;  // device configuration
static uint32_t device_id;

static void set_status(uint8_t s);
static int live; // the device has been given this process's pages

static void die(const char* what)
{
    fprintf(stderr, "virtio-raw: %s: %s\n", what, strerror(errno));
    if (live) {
        set_status(0); // the pages go when the process does: the device must forget them first
    }
    exit(2);
}

static void w8(volatile uint8_t* b, int o, uint8_t v) { *(volatile uint8_t*)(b + o) = v; }
static void w16(volatile uint8_t* b, int o, uint16_t v) { *(volatile uint16_t*)(b + o) = v; }
static void w32(volatile uint8_t* b, int o, uint32_t v) { *(volatile uint32_t*)(b + o) = v; }
static void w64(volatile uint8_t* b, int o, uint64_t v)
{
    w32(b, o, (uint32_t)v);
    w32(b, o + 4, (uint32_t)(v >> 32));
}
static uint8_t r8(volatile uint8_t* b, int o) { return *(volatile uint8_t*)(b + o); }
static uint16_t r16(volatile uint8_t* b, int o) { return *(volatile uint16_t*)(b + o); }
static uint32_t r32(volatile uint8_t* b, int o) { return *(volatile uint32_t*)(b + o); }

// virtio-mmio registers take 32-bit accesses only (§4.2.2.1).
static uint8_t get_status(void) { return mmio ? (uint8_t)r32(regs, M_STATUS) : r8(regs, C_STATUS); }
static void set_status(uint8_t s)
{
    if (mmio) {
        w32(regs, M_STATUS, s);
    } else {
        w8(regs, C_STATUS, s);
    }
}

static void set_driver_features(uint64_t f)
{
    for (uint32_t word = 0; word < 2; ++word) {
        if (mmio) {
            w32(regs, M_GFSEL, word);
            w32(regs, M_GF, (uint32_t)(f >> (32 * word)));
        } else {
            w32(regs, C_GFSELECT, word);
            w32(regs, C_GF, (uint32_t)(f >> (32 * word)));
        }
    }
}

static uint64_t device_features(void)
{
    uint64_t f = 0;
    for (uint32_t word = 0; word < 2; ++word) {
        if (mmio) {
            w32(regs, M_DFSEL, word);
            f |= (uint64_t)r32(regs, M_DF) << (32 * word);
        } else {
            w32(regs, C_DFSELECT, word);
            f |= (uint64_t)r32(regs, C_DF) << (32 * word);
        }
    }
    return f;
}

static void setup_queue(uint16_t q, uint64_t desc, uint64_t driver, uint64_t device)
{
    if (mmio) {
        w32(regs, M_QSEL, q);
        w32(regs, M_QNUM, QSIZE);
        w32(regs, M_QDESC, (uint32_t)desc);
        w32(regs, M_QDESC + 4, (uint32_t)(desc >> 32));
        w32(regs, M_QDRIVER, (uint32_t)driver);
        w32(regs, M_QDRIVER + 4, (uint32_t)(driver >> 32));
        w32(regs, M_QDEVICE, (uint32_t)device);
        w32(regs, M_QDEVICE + 4, (uint32_t)(device >> 32));
        w32(regs, M_QREADY, 1);
    } else {
        w16(regs, C_QSELECT, q);
        w16(regs, C_QSIZE, QSIZE);
        w16(regs, C_QMSIX, 0xffff); // no vector: this driver polls
        w64(regs, C_QDESC, desc);
        w64(regs, C_QDRIVER, driver);
        w64(regs, C_QDEVICE, device);
        w16(regs, C_QENABLE, 1);
    }
}

static void notify(uint16_t q)
{
    if (mmio) {
        w32(regs, M_QNOTIFY, q);
    } else {
        w16(regs, C_QSELECT, q);
        w16(notify_base, (int)(r16(regs, C_QNOTIFYOFF) * notify_mult), q);
    }
}

static volatile uint8_t* map_phys(int fd, uint64_t addr, size_t len)
{
    const uint64_t base = addr & ~(uint64_t)(PAGE - 1);
    const size_t span = (size_t)(addr - base) + len;
    void* m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
    if (m == MAP_FAILED) {
        die("mmap");
    }
    return (volatile uint8_t*)m + (addr - base);
}

static void open_pci(const char* bdf)
{
    char path[256];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", bdf);
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        die(path);
    }
    uint8_t cfg[256];
    if (pread(fd, cfg, sizeof cfg, 0) != (ssize_t)sizeof cfg) {
        die("read config space");
    }
    // Bus mastering on: the kernel driver's unbind turned it off.
    uint16_t command = (uint16_t)(cfg[4] | cfg[5] << 8) | 0x6;
    if (pwrite(fd, &command, 2, 4) != 2) {
        die("write PCI command");
    }
    close(fd);
    const uint16_t pci_device = (uint16_t)(cfg[2] | cfg[3] << 8);
    if (pci_device < 0x1040) {
        errno = ENODEV;
        die("not a modern virtio-pci device");
    }
    device_id = pci_device - 0x1040u;
    int bar_fd[6] = { -1, -1, -1, -1, -1, -1 };
    for (uint8_t at = cfg[0x34]; at != 0 && at < 0xf0; at = cfg[at + 1]) {
        if (cfg[at] != 0x09) {
            continue; // not a vendor capability
        }
        uint8_t type = cfg[at + 3], bar = cfg[at + 4];
        uint32_t offset = (uint32_t)cfg[at + 8] | (uint32_t)cfg[at + 9] << 8 | (uint32_t)cfg[at + 10] << 16 | (uint32_t)cfg[at + 11] << 24;
        uint32_t length = (uint32_t)cfg[at + 12] | (uint32_t)cfg[at + 13] << 8 | (uint32_t)cfg[at + 14] << 16 | (uint32_t)cfg[at + 15] << 24;
        if (bar > 5 || (type != CAP_COMMON && type != CAP_NOTIFY && type != CAP_DEVICE)) {
            continue;
        }
        if (bar_fd[bar] < 0) {
            snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%u", bdf, bar);
            bar_fd[bar] = open(path, O_RDWR | O_SYNC);
            if (bar_fd[bar] < 0) {
                die(path);
            }
        }
        volatile uint8_t* p = map_phys(bar_fd[bar], offset, length);
        if (type == CAP_COMMON) {
            regs = p;
        } else if (type == CAP_DEVICE) {
            devcfg = p;
        } else {
            notify_base = p;
            notify_mult = (uint32_t)cfg[at + 16] | (uint32_t)cfg[at + 17] << 8 | (uint32_t)cfg[at + 18] << 16 | (uint32_t)cfg[at + 19] << 24;
        }
    }
    if (regs == NULL || notify_base == NULL) {
        errno = ENODEV;
        die("no common or notify capability");
    }
}

static void open_mmio(const char* addr_text)
{
    char* end = NULL;
    errno = 0;
    uint64_t addr = strtoull(addr_text, &end, 0);
    if (errno != 0 || end == addr_text || *end != '\0' || addr % 4 != 0) {
        fprintf(stderr, "virtio-raw: bad address '%s'\n", addr_text);
        exit(2);
    }
    int fd = open("/dev/mem", O_RDWR | O_SYNC);
    if (fd < 0) {
        die("/dev/mem");
    }
    mmio = 1;
    regs = map_phys(fd, addr, 0x200);
    if (r32(regs, M_MAGIC) != 0x74726976 || r32(regs, M_VERSION) != 2) {
        errno = ENODEV;
        die("no virtio-mmio version 2 device there");
    }
    device_id = r32(regs, M_DEVICE_ID);
    devcfg = regs + M_CONFIG;
}

// --- memory --------------------------------------------------------------------------------
static volatile uint8_t* ring;   // one page: descriptors at 0, driver area at 512, device area at 1024
static volatile uint8_t* buffer; // one page of data
static uint64_t ring_phys, buffer_phys;
// The device's other queues, enabled with empty rings: a device may need them all (net its
// first receiveq and transmitq, vsock all three).
enum { MAX_QUEUES = 3 };
static volatile uint8_t* idle_ring[MAX_QUEUES];
static uint64_t idle_phys[MAX_QUEUES];

static uint64_t phys_of(volatile void* p)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0) {
        die("open /proc/self/pagemap");
    }
    uint64_t entry = 0;
    off_t off = (off_t)((uintptr_t)p / PAGE * 8);
    if (pread(fd, &entry, 8, off) != 8) {
        die("read pagemap");
    }
    close(fd);
    if (!(entry >> 63) || (entry & ((1ULL << 55) - 1)) == 0) {
        errno = EFAULT;
        die("page not present or no PFN (root needed)");
    }
    return (entry & ((1ULL << 55) - 1)) * PAGE;
}

// Every page whose physical address a device is given: the ring, the buffer, the idle rings.
static struct {
    volatile uint8_t* va;
    uint64_t phys;
} held[2 + MAX_QUEUES];
static int nheld;

static volatile uint8_t* locked_page(uint64_t* phys)
{
    void* p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED || nheld == (int)(sizeof held / sizeof held[0])) {
        die("mmap");
    }
    memset(p, 0, PAGE);
    *phys = phys_of(p);
    held[nheld].va = p;
    held[nheld].phys = *phys;
    ++nheld;
    return p;
}

// The device type being driven: its queue and its well-formed request (below).
struct kind {
    uint32_t id;
    const char* name;
    uint16_t queue;
    uint16_t queues; // how many the device needs enabled (the others stay empty)
    uint16_t first_flags; // the direction of the request's first buffer
    uint16_t (*build)(struct buf* b); // fills buffer and b[], returns the count
    int (*check)(uint32_t used_len);  // the completed request is right
};
static const struct kind* kind;

// --- rings ---------------------------------------------------------------------------------
static int packed;
static uint16_t queue; // the one queue driven
// Split: the driver's avail index and the used index seen. Packed: the next slot to fill and
// the next to look at for a used descriptor, with their wrap counters, and how many slots the
// outstanding chain took.
static uint16_t avail_idx, used_seen;
static uint16_t next_slot, used_slot, chain_slots;
static int avail_wrap, used_wrap;

static volatile struct desc* descs(void) { return (volatile struct desc*)ring; }
static volatile struct pdesc* pdescs(void) { return (volatile struct pdesc*)ring; }
static volatile uint16_t* avail(void) { return (volatile uint16_t*)(ring + 512); } // flags, idx, ring[]
static volatile uint8_t* used(void) { return ring + 1024; }                        // flags, idx, {id, len}[]

static void fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// What the tool is about to do, into the kernel log at error level (shown on the console even
// with "quiet"): the CASE lines reach the console only after the tool exits, so a guest that
// dies meanwhile would otherwise not say which step it died in.
static void progress(const char* what, const char* name)
{
    char line[160];
    const int n = snprintf(line, sizeof line, "<3>virtio-raw: %s %s %s\n", kind ? kind->name : "?", what, name);
    const int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    if (fd >= 0 && n > 0) {
        (void)!write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    if (fd >= 0) {
        close(fd);
    }
}

static void publish_split(uint16_t head, uint16_t new_idx)
{
    avail()[2 + avail_idx % QSIZE] = head;
    fence();
    avail_idx = new_idx;
    avail()[1] = avail_idx;
    fence();
    notify(queue);
}

static uint16_t packed_flags(uint16_t flags, int wrap) { return (uint16_t)(flags | (wrap ? P_AVAIL : P_USED)); }

// Writes descriptors into consecutive packed slots, the head's flags last (§2.8.21.1).
static void publish_packed(const struct buf* b, uint16_t n, uint16_t id)
{
    uint16_t head_flags = 0;
    int wrap = avail_wrap;
    uint16_t slot = next_slot;
    for (uint16_t i = 0; i < n; ++i) {
        const uint16_t flags = packed_flags((uint16_t)(b[i].flags | (i + 1 < n ? D_NEXT : 0)), wrap);
        pdescs()[slot].addr = b[i].addr;
        pdescs()[slot].len = b[i].len;
        pdescs()[slot].id = id;
        if (i == 0) {
            head_flags = flags;
        } else {
            fence();
            pdescs()[slot].flags = flags;
        }
        if (++slot == QSIZE) {
            slot = 0;
            wrap = !wrap;
        }
    }
    fence();
    pdescs()[next_slot].flags = head_flags;
    fence();
    next_slot = slot;
    avail_wrap = wrap;
    chain_slots = n;
    notify(queue);
}

static void submit(const struct buf* b, uint16_t n)
{
    if (packed) {
        publish_packed(b, n, 0);
        return;
    }
    for (uint16_t i = 0; i < n; ++i) {
        descs()[i] = (struct desc) { b[i].addr, b[i].len, (uint16_t)(b[i].flags | (i + 1 < n ? D_NEXT : 0)), (uint16_t)(i + 1) };
    }
    publish_split(0, (uint16_t)(avail_idx + 1));
}

static int needs_reset(void) { return (get_status() & S_NEEDS_RESET) != 0; }

static int used_ready(void)
{
    if (mmio) {
        // No handler took the interrupt line: acknowledge whatever was raised.
        uint32_t isr = r32(regs, M_ISR);
        if (isr != 0) {
            w32(regs, M_ISR_ACK, isr);
        }
    }
    if (packed) {
        const uint16_t flags = pdescs()[used_slot].flags;
        const int a = (flags & P_AVAIL) != 0, u = (flags & P_USED) != 0;
        return a == u && a == used_wrap;
    }
    return r16(used(), 2) != used_seen;
}

// The length of the used buffer found by used_ready(), and the ring moved past it.
static uint32_t take_used(void)
{
    uint32_t len;
    if (packed) {
        len = pdescs()[used_slot].len;
        used_slot = (uint16_t)(used_slot + chain_slots);
        if (used_slot >= QSIZE) {
            used_slot -= QSIZE;
            used_wrap = !used_wrap;
        }
    } else {
        len = r32(used(), 4 + 8 * (used_seen % QSIZE) + 4);
        ++used_seen;
    }
    return len;
}

static int used_or_reset(void) { return used_ready() || needs_reset(); }
static int status_zero(void) { return get_status() == 0; }

static int wait_for(int (*done)(void), int ms)
{
    struct timespec step = { 0, 1000000 };
    for (int i = 0; i < ms; ++i) {
        if (done()) {
            return 1;
        }
        nanosleep(&step, NULL);
    }
    return done();
}

// The device holds the pages' physical addresses: a page the kernel moved (compaction may move
// locked pages; the test turns that off) would have the device write into memory the kernel has
// given to something else. Checked while the device is reset, so nothing can be lost.
static void check_not_moved(void)
{
    for (int i = 0; i < nheld; ++i) {
        if (phys_of(held[i].va) != held[i].phys) {
            errno = EFAULT;
            die("a locked page moved (vm.compact_unevictable_allowed must be 0)");
        }
    }
}

// Reset and bring the device up with the driven queue on the ring page, with
// VIRTIO_F_INDIRECT_DESC when `indirect`; 0 on success.
static int bring_up_with(int indirect)
{
    set_status(0);
    if (!wait_for(status_zero, 1000)) {
        return -1;
    }
    check_not_moved();
    memset((void*)ring, 0, PAGE);
    avail_idx = used_seen = next_slot = used_slot = chain_slots = 0;
    avail_wrap = used_wrap = 1;
    set_status(S_ACK);
    set_status(S_ACK | S_DRIVER);
    uint64_t wanted = 1ULL << 32; // VIRTIO_F_VERSION_1
    if (indirect) {
        if (!(device_features() & (1ULL << F_INDIRECT_DESC))) {
            return -5;
        }
        wanted |= 1ULL << F_INDIRECT_DESC;
    }
    if (packed) {
        if (!(device_features() & (1ULL << F_RING_PACKED))) {
            return -4;
        }
        wanted |= 1ULL << F_RING_PACKED;
    }
    set_driver_features(wanted);
    live = 1;
    set_status(S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(get_status() & S_FEATURES_OK)) {
        return -2;
    }
    // No interrupts wanted: split avail flags NO_INTERRUPT (§2.7.7), packed driver event
    // suppression DISABLE (§2.8.10).
    if (packed) {
        w16(ring, 512 + 2, 1);
    } else {
        avail()[0] = 1;
    }
    for (uint16_t q = 0; q < kind->queues; ++q) {
        if (q == queue) {
            setup_queue(q, ring_phys, ring_phys + 512, ring_phys + 1024);
        } else {
            memset((void*)idle_ring[q], 0, PAGE);
            setup_queue(q, idle_phys[q], idle_phys[q] + 512, idle_phys[q] + 1024);
        }
    }
    set_status(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return needs_reset() ? -3 : 0;
}

static int bring_up(void) { return bring_up_with(0); }

// --- the device's own well-formed request --------------------------------------------------

static uint16_t rng_build(struct buf* b)
{
    b[0] = (struct buf) { buffer_phys, 64, D_WRITE };
    return 1;
}
static int rng_check(uint32_t len) { return len > 0 && len <= 64; }

// virtio 1.2 §5.2.6: GET_ID (8) with a 20-byte id and the status byte.
static uint16_t blk_build(struct buf* b)
{
    memset((void*)buffer, 0, 256);
    w32(buffer, 0, 8);
    w8(buffer, 128, 0xff);
    b[0] = (struct buf) { buffer_phys, 16, 0 };
    b[1] = (struct buf) { buffer_phys + 64, 20, D_WRITE };
    b[2] = (struct buf) { buffer_phys + 128, 1, D_WRITE };
    return 3;
}
static int blk_check(uint32_t len) { return len >= 1 && len <= 21 && r8(buffer, 128) == 0; }

static uint16_t console_build(struct buf* b)
{
    memcpy((void*)buffer, "virtio-raw\n", 11);
    b[0] = (struct buf) { buffer_phys, 11, 0 };
    return 1;
}
static int read_only_check(uint32_t len) { return len == 0; }

// virtio 1.2 §5.1.6: a 12-byte virtio_net_hdr (no offloads) and a broadcast frame of a local
// experimental ethertype, which nothing answers.
static uint16_t net_build(struct buf* b)
{
    memset((void*)buffer, 0, 12 + 60);
    for (int i = 0; i < 6; ++i) {
        w8(buffer, 12 + i, 0xff);
    }
    static const uint8_t src[6] = { 0x52, 0x54, 0x00, 0x72, 0x61, 0x77 };
    for (int i = 0; i < 6; ++i) {
        w8(buffer, 18 + i, src[i]);
    }
    w8(buffer, 24, 0x88);
    w8(buffer, 25, 0xb5);
    b[0] = (struct buf) { buffer_phys, 12 + 60, 0 };
    return 1;
}

// virtio 1.2 §5.10.6: an RST for a connection that does not exist, from the guest's own CID.
static uint16_t vsock_build(struct buf* b)
{
    memset((void*)buffer, 0, 44);
    const uint64_t cid = (uint64_t)r32(devcfg, 0) | (uint64_t)r32(devcfg, 4) << 32;
    w64(buffer, 0, cid);  // src_cid
    w64(buffer, 8, 2);    // dst_cid: the host
    w32(buffer, 16, 4321); // src_port
    w32(buffer, 20, 1234); // dst_port
    w16(buffer, 28, 1);   // type: stream
    w16(buffer, 30, 3);   // op: RST
    b[0] = (struct buf) { buffer_phys, 44, 0 };
    return 1;
}

// virtio 1.2 §5.13.6.3: ATTACH of an endpoint that does not exist, answered NOENT in the tail.
static uint16_t iommu_build(struct buf* b)
{
    memset((void*)buffer, 0, 64);
    w8(buffer, 0, 1);           // VIRTIO_IOMMU_T_ATTACH
    w32(buffer, 4, 1);          // domain
    w32(buffer, 8, 0xfffff0);   // endpoint: none has this ID
    w8(buffer, 32, 0xff);       // the tail's status, until the device writes it
    b[0] = (struct buf) { buffer_phys, 20, 0 };
    b[1] = (struct buf) { buffer_phys + 32, 4, D_WRITE };
    return 2;
}
static int iommu_check(uint32_t len) { return len == 4 && r8(buffer, 32) == 6; } // VIRTIO_IOMMU_S_NOENT

static const struct kind KINDS[] = {
    { 1, "net", 1, 2, 0, net_build, read_only_check },
    { 2, "blk", 0, 1, 0, blk_build, blk_check },
    { 3, "console", 1, 2, 0, console_build, read_only_check },
    { 4, "rng", 0, 1, D_WRITE, rng_build, rng_check },
    { 19, "vsock", 1, 3, 0, vsock_build, read_only_check },
    { 23, "iommu", 0, 2, 0, iommu_build, iommu_check },
};

static int good_request(uint32_t* len)
{
    struct buf b[4];
    submit(b, kind->build(b));
    if (!wait_for(used_or_reset, REQUEST_MS) || needs_reset() || !used_ready()) {
        return 0;
    }
    *len = take_used();
    return kind->check(*len);
}

// --- the hostile cases ---------------------------------------------------------------------
static void one(uint64_t addr, uint32_t len, uint16_t flags)
{
    struct buf b = { addr, len, flags };
    submit(&b, 1);
}
static void out_of_ram(void) { one(0xfffffffff000ULL, 64, kind->first_flags); }
static void huge_length(void) { one(buffer_phys, 0x80000000U, kind->first_flags); }
static void wrapping_address(void) { one(0xffffffffffffff00ULL, 0x200, kind->first_flags); }
static void zero_length(void) { one(buffer_phys, 0, kind->first_flags); }
// Not RAM: the PCI hole, where device BARs and virtio-mmio registers live.
static void buffer_in_mmio(void) { one(0xd0000000ULL, 64, kind->first_flags); }
static void readable_after_writable(void)
{
    const struct buf b[2] = { { buffer_phys, 16, D_WRITE }, { buffer_phys + 16, 16, 0 } };
    submit(b, 2);
}
static void indirect_not_negotiated(void)
{
    memset((void*)buffer + 512, 0, 16);
    one(buffer_phys + 512, 16, D_INDIRECT);
}

// With VIRTIO_F_INDIRECT_DESC negotiated: malformed indirect tables (§2.7.5.3.1, §2.8.7). The
// table sits at buffer + 1024; its entries have the layout of the ring's descriptors.
static void table_entry(int i, uint64_t addr, uint32_t len, uint16_t flags)
{
    volatile uint8_t* e = buffer + 1024 + 16 * i;
    w64(e, 0, addr);
    w32(e, 8, len);
    if (packed) {
        w16(e, 12, 0);     // id: ignored in a table
        w16(e, 14, flags);
    } else {
        w16(e, 12, flags); // next: unused, the table is walked in order without NEXT
        w16(e, 14, 0);
    }
}
static void indirect_bad_length(void)
{
    table_entry(0, buffer_phys, 64, kind->first_flags);
    one(buffer_phys + 1024, 20, D_INDIRECT); // not a multiple of 16
}
static void indirect_empty(void) { one(buffer_phys + 1024, 0, D_INDIRECT); }
static void indirect_nested(void)
{
    table_entry(0, buffer_phys + 1024, 16, D_INDIRECT);
    one(buffer_phys + 1024, 16, D_INDIRECT);
}
static void indirect_too_long(void)
{
    // More entries than the queue has descriptors.
    for (int i = 0; i < 2 * QSIZE; ++i) {
        table_entry(i, buffer_phys + 16 * (uint64_t)i, 16, kind->first_flags);
    }
    one(buffer_phys + 1024, 16 * 2 * QSIZE, D_INDIRECT);
}
static void indirect_out_of_ram(void) { one(0xfffffffff000ULL, 16, D_INDIRECT); }
static void indirect_with_next(void)
{
    // Split: INDIRECT together with NEXT on the same descriptor.
    table_entry(0, buffer_phys, 64, kind->first_flags);
    descs()[0] = (struct desc) { buffer_phys + 1024, 16, D_INDIRECT | D_NEXT, 1 };
    descs()[1] = (struct desc) { buffer_phys + 512, 16, kind->first_flags, 0 };
    publish_split(0, (uint16_t)(avail_idx + 1));
}

// Split only.
static void chain_loop(void)
{
    descs()[0] = (struct desc) { buffer_phys, 16, D_WRITE | D_NEXT, 1 };
    descs()[1] = (struct desc) { buffer_phys + 16, 16, D_WRITE | D_NEXT, 0 };
    publish_split(0, (uint16_t)(avail_idx + 1));
}
static void next_out_of_range(void)
{
    descs()[0] = (struct desc) { buffer_phys, 16, D_WRITE | D_NEXT, 200 };
    publish_split(0, (uint16_t)(avail_idx + 1));
}
static void head_out_of_range(void) { publish_split(QSIZE + 3, (uint16_t)(avail_idx + 1)); }
static void avail_jump(void)
{
    descs()[0] = (struct desc) { buffer_phys, 64, D_WRITE, 0 };
    publish_split(0, (uint16_t)(avail_idx + QSIZE + 5));
}

// Packed only.
static void chain_unterminated(void)
{
    // Every slot of the ring chained to the next: the chain has no end within the queue size.
    struct buf b[QSIZE];
    for (int i = 0; i < QSIZE; ++i) {
        b[i] = (struct buf) { buffer_phys + 16 * (uint64_t)i, 16, D_WRITE | D_NEXT };
    }
    publish_packed(b, QSIZE, 0);
}
static void stale_wrap_counter(void)
{
    // Flags of the wrong lap: not available, so the device must not take it (§2.8.1).
    pdescs()[0].addr = buffer_phys;
    pdescs()[0].len = 64;
    pdescs()[0].id = 0;
    fence();
    pdescs()[0].flags = (uint16_t)(kind->first_flags | P_USED);
    fence();
    notify(queue);
}

struct hostile {
    const char* name;
    void (*make)(void); // fills the descriptors and publishes
    int layouts;        // 1 split, 2 packed, 3 both
    int indirect;       // needs VIRTIO_F_INDIRECT_DESC; runs only when named (wanted_case)
};

static const struct hostile CASES[] = {
    { "out_of_ram", out_of_ram, 3, 0 },
    { "huge_length", huge_length, 3, 0 },
    { "wrapping_address", wrapping_address, 3, 0 },
    { "zero_length", zero_length, 3, 0 },
    { "buffer_in_mmio", buffer_in_mmio, 3, 0 },
    { "readable_after_writable", readable_after_writable, 3, 0 },
    { "indirect_not_negotiated", indirect_not_negotiated, 3, 0 },
    { "indirect_bad_length", indirect_bad_length, 3, 1 },
    { "indirect_empty", indirect_empty, 3, 1 },
    { "indirect_nested", indirect_nested, 3, 1 },
    { "indirect_too_long", indirect_too_long, 3, 1 },
    { "indirect_out_of_ram", indirect_out_of_ram, 3, 1 },
    { "indirect_with_next", indirect_with_next, 1, 1 },
    { "chain_loop", chain_loop, 1, 0 },
    { "next_out_of_range", next_out_of_range, 1, 0 },
    { "head_out_of_range", head_out_of_range, 1, 0 },
    { "avail_jump", avail_jump, 1, 0 },
    { "chain_unterminated", chain_unterminated, 2, 0 },
    { "stale_wrap_counter", stale_wrap_counter, 2, 0 },
};

// VIREO_RAW_CASES=NAME,NAME,... runs only those cases (to narrow a failure down). Without it,
// every case runs but the indirect-table ones (opt_in): with those, a guest triple-faulted right
// after virtio-raw exited in 7 of 11 boots, with no device write to its pages seen after the
// reset, and a 300 ms wait before exiting made it 0 of 12; the cause is not known yet.
static int wanted_case(const char* name, int opt_in)
{
    const char* only = getenv("VIREO_RAW_CASES");
    if (only == NULL || *only == '\0') {
        return !opt_in;
    }
    const size_t n = strlen(name);
    for (const char* p = only; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) {
            return 1;
        }
    }
    return 0;
}

int main(int argc, char** argv)
{
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "packed") != 0) ||
        (strcmp(argv[1], "pci") != 0 && strcmp(argv[1], "mmio") != 0)) {
        fprintf(stderr, "usage: virtio-raw pci BDF [packed] | virtio-raw mmio ADDRESS [packed]\n"
                        "  (the device unbound from its kernel driver first)\n");
        return 2;
    }
    packed = argc == 4;
    if (strcmp(argv[1], "pci") == 0) {
        open_pci(argv[2]);
    } else {
        open_mmio(argv[2]);
    }
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; ++i) {
        if (KINDS[i].id == device_id) {
            kind = &KINDS[i];
        }
    }
    if (kind == NULL) {
        fprintf(stderr, "virtio-raw: device type %u has no well-formed request here\n", device_id);
        return 2;
    }
    if (kind->id == 19 && devcfg == NULL) {
        fprintf(stderr, "virtio-raw: vsock needs its configuration (the guest CID)\n");
        return 2;
    }
    queue = kind->queue;
    ring = locked_page(&ring_phys);
    buffer = locked_page(&buffer_phys);
    for (uint16_t q = 0; q < kind->queues && q < MAX_QUEUES; ++q) {
        if (q != queue) {
            idle_ring[q] = locked_page(&idle_phys[q]);
        }
    }
    uint32_t len = 0;
    progress("start:", packed ? "packed" : "split");
    int up = bring_up();
    if (up != 0 || !good_request(&len)) {
        set_status(0);
        fprintf(stderr, "virtio-raw: the well-formed %s request failed (bring-up %d, status %#x, used len %u)\n",
            kind->name, up, get_status(), len);
        return 2;
    }
    printf("DEVICE %s: %s %s queue %u\n", kind->name, argv[1], packed ? "packed" : "split", queue);
    printf("CASE well_formed: used len=%u\n", len);
    int failed = 0;
    const int layout = packed ? 2 : 1;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; ++i) {
        const struct hostile* c = &CASES[i];
        if (!(c->layouts & layout) || !wanted_case(c->name, c->indirect)) {
            continue;
        }
        progress("case", c->name);
        const int up_case = bring_up_with(c->indirect);
        if (up_case == -5) {
            printf("CASE %s: skipped (no VIRTIO_F_INDIRECT_DESC); recovered\n", c->name);
            continue;
        }
        if (up_case != 0) {
            printf("CASE %s: bring-up failed before the case\n", c->name);
            failed = 1;
            continue;
        }
        c->make();
        wait_for(used_or_reset, CASE_MS);
        if (needs_reset()) {
            printf("CASE %s: needs_reset", c->name);
        } else if (used_ready()) {
            printf("CASE %s: used len=%u", c->name, take_used());
        } else {
            printf("CASE %s: ignored", c->name);
        }
        const int ok = bring_up() == 0 && good_request(&len);
        printf("; %s\n", ok ? "recovered" : "NOT RECOVERED");
        failed |= !ok;
    }
    progress("done:", "reset and after-reset check");
    set_status(0);
    if (!wait_for(status_zero, 1000)) {
        fprintf(stderr, "virtio-raw: the device did not finish its reset\n");
        return 2;
    }
    // §2.4: after the reset the device must not touch the queues' memory any more. The pages
    // are filled with a pattern first, so that a late write of the same bytes the device wrote
    // before (a used element written twice) shows too.
    for (int i = 0; i < nheld; ++i) {
        memset((void*)held[i].va, 0xa5, PAGE);
    }
    // VIREO_RAW_SETTLE_MS (from vireo.raw_settle_ms): how long to watch, 300 ms by default.
    const char* settle_env = getenv("VIREO_RAW_SETTLE_MS");
    const long settle_ms = settle_env != NULL && atol(settle_env) > 0 ? atol(settle_env) : 300;
    struct timespec settle = { settle_ms / 1000, (settle_ms % 1000) * 1000000L };
    nanosleep(&settle, NULL);
    for (int i = 0; i < nheld; ++i) {
        for (int b = 0; b < PAGE; ++b) {
            if (held[i].va[b] != 0xa5) {
                printf("CASE after_reset: the device wrote to page %d of the queues' memory (byte %d) after its reset; NOT RECOVERED\n", i, b);
                return 1;
            }
        }
    }
    return failed;
}
