// SPDX-License-Identifier: Apache-2.0
// virtio-raw BDF: a guest-side virtio-pci driver of its own, for hostile-guest tests from inside
// a real guest. It takes the PCI function BDF (unbound from every kernel driver first), finds the
// virtio capabilities in its config space (sysfs), maps BAR memory through the resource files,
// and drives queue 0 with a split ring in memory whose guest-physical addresses come from
// /proc/self/pagemap. Interrupts are not used: it polls the used ring and the device status.
//
// It runs a well-formed request (one device-writable buffer: what virtio-rng takes), then each
// malformed case of the hostile-guest catalogue, each followed by a device reset and a
// well-formed request that must succeed again. One line per case on stdout:
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
    CAP_ISR = 3,
    CAP_DEVICE = 4,
    S_ACK = 1,
    S_DRIVER = 2,
    S_DRIVER_OK = 4,
    S_FEATURES_OK = 8,
    S_NEEDS_RESET = 64,
    D_NEXT = 1,
    D_WRITE = 2,
    QSIZE = 8,
    PAGE = 4096,
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

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static volatile uint8_t* common;
static volatile uint8_t* notify_base;
static uint32_t notify_mult;
static volatile uint8_t* ring;   // one page: descriptors, avail ring, used ring
static volatile uint8_t* buffer; // one page of data
static uint64_t ring_phys, buffer_phys;
static uint16_t avail_idx, used_seen;

static void die(const char* what)
{
    fprintf(stderr, "virtio-raw: %s: %s\n", what, strerror(errno));
    exit(2);
}

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

static volatile uint8_t* locked_page(uint64_t* phys)
{
    void* p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        die("mmap");
    }
    memset(p, 0, PAGE);
    *phys = phys_of(p);
    return p;
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

// Ring layout in the page: descriptors at 0, avail at 512, used at 1024.
static volatile struct desc* descs(void) { return (volatile struct desc*)ring; }
static volatile uint16_t* avail(void) { return (volatile uint16_t*)(ring + 512); } // flags, idx, ring[]
static volatile uint8_t* used(void) { return ring + 1024; } // flags, idx, {id, len}[]

static void map_device(const char* bdf)
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
    volatile uint8_t* bars[6] = { 0 };
    for (uint8_t at = cfg[0x34]; at != 0 && at < 0xf0; at = cfg[at + 1]) {
        if (cfg[at] != 0x09) {
            continue; // not a vendor capability
        }
        uint8_t type = cfg[at + 3], bar = cfg[at + 4];
        uint32_t offset = (uint32_t)cfg[at + 8] | (uint32_t)cfg[at + 9] << 8 | (uint32_t)cfg[at + 10] << 16 | (uint32_t)cfg[at + 11] << 24;
        if (bar > 5 || (type != CAP_COMMON && type != CAP_NOTIFY)) {
            continue;
        }
        if (bars[bar] == NULL) {
            snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%u", bdf, bar);
            int bfd = open(path, O_RDWR | O_SYNC);
            if (bfd < 0) {
                die(path);
            }
            off_t size = lseek(bfd, 0, SEEK_END);
            void* m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, bfd, 0);
            if (m == MAP_FAILED) {
                die("mmap BAR");
            }
            bars[bar] = m;
        }
        if (type == CAP_COMMON) {
            common = bars[bar] + offset;
        } else {
            notify_base = bars[bar] + offset;
            notify_mult = (uint32_t)cfg[at + 16] | (uint32_t)cfg[at + 17] << 8 | (uint32_t)cfg[at + 18] << 16 | (uint32_t)cfg[at + 19] << 24;
        }
    }
    if (common == NULL || notify_base == NULL) {
        errno = ENODEV;
        die("no common or notify capability");
    }
}

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

static int status_zero(void) { return r8(common, C_STATUS) == 0; }
static int needs_reset(void) { return (r8(common, C_STATUS) & S_NEEDS_RESET) != 0; }
static int used_moved(void) { return r16(used(), 2) != used_seen; }
static int used_or_reset(void) { return used_moved() || needs_reset(); }

// Reset and bring the device up with queue 0 on the ring page; 0 on success.
static int bring_up(void)
{
    w8(common, C_STATUS, 0);
    if (!wait_for(status_zero, 1000)) {
        return -1;
    }
    memset((void*)ring, 0, PAGE);
    avail_idx = used_seen = 0;
    w8(common, C_STATUS, S_ACK);
    w8(common, C_STATUS, S_ACK | S_DRIVER);
    w32(common, C_GFSELECT, 0);
    w32(common, C_GF, 0);
    w32(common, C_GFSELECT, 1);
    w32(common, C_GF, 1); // VIRTIO_F_VERSION_1 (bit 32) only
    w8(common, C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(r8(common, C_STATUS) & S_FEATURES_OK)) {
        return -2;
    }
    w16(common, C_QSELECT, 0);
    w16(common, C_QSIZE, QSIZE);
    w16(common, C_QMSIX, 0xffff); // no vector: this driver polls
    w64(common, C_QDESC, ring_phys);
    w64(common, C_QDRIVER, ring_phys + 512);
    w64(common, C_QDEVICE, ring_phys + 1024);
    w16(common, C_QENABLE, 1);
    w8(common, C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return (r8(common, C_STATUS) & S_NEEDS_RESET) ? -3 : 0;
}

static void publish(uint16_t head, uint16_t new_idx)
{
    avail()[2 + avail_idx % QSIZE] = head;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    avail_idx = new_idx;
    avail()[1] = avail_idx;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    w16(notify_base, (int)(r16(common, C_QNOTIFYOFF) * notify_mult), 0);
}

// One device-writable buffer of `len` bytes at `addr`; whether it came back used.
static int good_request(void)
{
    volatile struct desc* d = descs();
    d[0].addr = buffer_phys;
    d[0].len = 64;
    d[0].flags = D_WRITE;
    d[0].next = 0;
    publish(0, (uint16_t)(avail_idx + 1));
    if (!wait_for(used_or_reset, 2000) || needs_reset()) {
        return 0;
    }
    used_seen = r16(used(), 2);
    return r32(used(), 8) > 0; // used.ring[0].len
}

struct hostile {
    const char* name;
    void (*make)(void); // fills the descriptors and publishes
};

static void out_of_ram(void)
{
    descs()[0] = (struct desc) { 0xfffffffff000ULL, 64, D_WRITE, 0 };
    publish(0, (uint16_t)(avail_idx + 1));
}
static void huge_length(void)
{
    descs()[0] = (struct desc) { buffer_phys, 0x80000000U, D_WRITE, 0 };
    publish(0, (uint16_t)(avail_idx + 1));
}
static void wrapping_address(void)
{
    descs()[0] = (struct desc) { 0xffffffffffffff00ULL, 0x200, D_WRITE, 0 };
    publish(0, (uint16_t)(avail_idx + 1));
}
static void chain_loop(void)
{
    descs()[0] = (struct desc) { buffer_phys, 16, D_WRITE | D_NEXT, 1 };
    descs()[1] = (struct desc) { buffer_phys + 16, 16, D_WRITE | D_NEXT, 0 };
    publish(0, (uint16_t)(avail_idx + 1));
}
static void next_out_of_range(void)
{
    descs()[0] = (struct desc) { buffer_phys, 16, D_WRITE | D_NEXT, 200 };
    publish(0, (uint16_t)(avail_idx + 1));
}
static void head_out_of_range(void)
{
    publish(QSIZE + 3, (uint16_t)(avail_idx + 1));
}
static void avail_jump(void)
{
    descs()[0] = (struct desc) { buffer_phys, 64, D_WRITE, 0 };
    publish(0, (uint16_t)(avail_idx + QSIZE + 5));
}
static void zero_length(void)
{
    descs()[0] = (struct desc) { buffer_phys, 0, D_WRITE, 0 };
    publish(0, (uint16_t)(avail_idx + 1));
}
static void ring_in_mmio(void)
{
    // The descriptor table moved to the device's own BAR: not RAM.
    descs()[0] = (struct desc) { 0xd0000000ULL, 64, D_WRITE, 0 };
    publish(0, (uint16_t)(avail_idx + 1));
}

int main(int argc, char** argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: virtio-raw BDF (e.g. 0000:00:02.0), unbound from its driver\n");
        return 2;
    }
    map_device(argv[1]);
    ring = locked_page(&ring_phys);
    buffer = locked_page(&buffer_phys);
    if (bring_up() != 0 || !good_request()) {
        fprintf(stderr, "virtio-raw: the well-formed request failed (status %#x)\n", r8(common, C_STATUS));
        return 2;
    }
    printf("CASE well_formed: used len=%u\n", r32(used(), 8));
    const struct hostile cases[] = {
        { "out_of_ram", out_of_ram },
        { "huge_length", huge_length },
        { "wrapping_address", wrapping_address },
        { "chain_loop", chain_loop },
        { "next_out_of_range", next_out_of_range },
        { "head_out_of_range", head_out_of_range },
        { "avail_jump", avail_jump },
        { "zero_length", zero_length },
        { "buffer_in_mmio", ring_in_mmio },
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        if (bring_up() != 0) {
            printf("CASE %s: bring-up failed before the case\n", cases[i].name);
            failed = 1;
            continue;
        }
        cases[i].make();
        wait_for(used_or_reset, 1000);
        if (needs_reset()) {
            printf("CASE %s: needs_reset", cases[i].name);
        } else if (used_moved()) {
            printf("CASE %s: used len=%u", cases[i].name, r32(used(), 4 + 4 * 2 * (used_seen % QSIZE) + 4));
        } else {
            printf("CASE %s: ignored", cases[i].name);
        }
        const int ok = bring_up() == 0 && good_request();
        printf("; %s\n", ok ? "recovered" : "NOT RECOVERED");
        failed |= !ok;
    }
    w8(common, C_STATUS, 0);
    return failed;
}
