// SPDX-License-Identifier: Apache-2.0
// vsock-tool: the guest side of the vsock tests, on AF_VSOCK sockets.
//
//   vsock-tool cid                         print this guest's CID
//   vsock-tool sink PORT                   accept one stream connection, read it to its end,
//                                          print and send back "BYTES CRC32"
//   vsock-tool send CID PORT BYTES [CHUNK] connect, send BYTES of pseudo-random data in writes of
//                                          CHUNK bytes (default 256 KiB), end the sending side
//                                          (half-close), read the peer's reply to its end;
//                                          print "BYTES CRC32 REPLY"
//   vsock-tool echo PORT                   accept one stream connection and send everything
//                                          back until its end (a ping-pong peer)
//   vsock-tool seq-echo PORT COUNT         accept one SEQPACKET connection and send each of
//                                          COUNT messages back; print their sizes
//   vsock-tool seq-send CID PORT SIZE...   connect with SEQPACKET, send one message of each
//                                          size, read as many back; print their sizes
//   vsock-tool many CID PORT N             open N connections at once, send "i\n" on each,
//                                          check that each comes back; print N
//
// CRC32 is zlib's (poly 0xedb88320), so that the host can check with zlib.crc32. With
// VSOCK_TOOL_FAST=1 in the environment (benchmarks), sink and send skip it (CRC 0) and send
// repeats one buffer, so that the guest's CPU measures the transport, not the checksum.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>

#define BUF (256 * 1024)

static uint32_t crc_table[256];
static int fast;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1) ? 0xedb88320U ^ (c >> 1) : c >> 1;
        }
        crc_table[i] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const unsigned char* p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) {
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

static void die(const char* what)
{
    fprintf(stderr, "vsock-tool: %s: %s\n", what, strerror(errno));
    exit(1);
}

static unsigned long num(const char* s)
{
    char* end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0') {
        fprintf(stderr, "vsock-tool: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

static int listen_on(unsigned port, int type)
{
    int fd = socket(AF_VSOCK, type, 0);
    if (fd < 0) {
        die("socket");
    }
    struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
    if (bind(fd, (struct sockaddr*)&a, sizeof(a)) != 0 || listen(fd, 64) != 0) {
        die("bind/listen");
    }
    // For the test script: the port is open from here on.
    fprintf(stderr, "vsock-tool: listening on %u\n", port);
    return fd;
}

static int connect_to(unsigned cid, unsigned port, int type)
{
    int fd = socket(AF_VSOCK, type, 0);
    if (fd < 0) {
        die("socket");
    }
    struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
    if (connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0) {
        die("connect");
    }
    return fd;
}

static void write_all(int fd, const void* p, size_t n)
{
    const char* c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("write");
        }
        c += w;
        n -= (size_t)w;
    }
}

static int cmd_sink(unsigned port)
{
    int l = listen_on(port, SOCK_STREAM);
    int fd = accept(l, NULL, NULL);
    if (fd < 0) {
        die("accept");
    }
    static unsigned char buf[BUF];
    unsigned long long total = 0;
    uint32_t crc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("read");
        }
        if (n == 0) {
            break;
        }
        if (!fast) {
            crc = crc_update(crc, buf, (size_t)n);
        }
        total += (unsigned long long)n;
    }
    char line[64];
    int len = snprintf(line, sizeof(line), "%llu %08x\n", total, crc);
    write_all(fd, line, (size_t)len);
    close(fd);
    printf("%s", line);
    return 0;
}

static int cmd_echo(unsigned port)
{
    int l = listen_on(port, SOCK_STREAM);
    int fd = accept(l, NULL, NULL);
    if (fd < 0) {
        die("accept");
    }
    static unsigned char buf[BUF];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("read");
        }
        if (n == 0) {
            break;
        }
        write_all(fd, buf, (size_t)n);
    }
    close(fd);
    return 0;
}

static int cmd_send(unsigned cid, unsigned port, unsigned long long bytes, size_t chunk)
{
    int fd = connect_to(cid, port, SOCK_STREAM);
    static unsigned char buf[BUF];
    if (chunk == 0 || chunk > sizeof(buf)) {
        chunk = sizeof(buf);
    }
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    uint32_t crc = 0;
    unsigned long long left = bytes;
    int generated = 0;
    while (left > 0) {
        size_t n = left < chunk ? (size_t)left : chunk;
        if (!fast || !generated) {
            for (size_t i = 0; i + 8 <= n + 7 && i + 8 <= sizeof(buf); i += 8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                memcpy(buf + i, &x, 8);
            }
            generated = 1;
        }
        if (!fast) {
            crc = crc_update(crc, buf, n);
        }
        write_all(fd, buf, n);
        left -= n;
    }
    if (shutdown(fd, SHUT_WR) != 0) {
        die("shutdown");
    }
    char reply[128];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, reply + got, sizeof(reply) - 1 - got);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("read reply");
        }
        if (n == 0 || got + (size_t)n >= sizeof(reply) - 1) {
            got += (size_t)(n > 0 ? n : 0);
            break;
        }
        got += (size_t)n;
    }
    reply[got] = '\0';
    char* nl = strchr(reply, '\n');
    if (nl != NULL) {
        *nl = '\0';
    }
    close(fd);
    printf("%llu %08x %s\n", bytes, crc, reply);
    return 0;
}

static int cmd_seq_echo(unsigned port, unsigned long count)
{
    int l = listen_on(port, SOCK_SEQPACKET);
    int fd = accept(l, NULL, NULL);
    if (fd < 0) {
        die("accept");
    }
    static unsigned char buf[BUF];
    for (unsigned long i = 0; i < count; ++i) {
        struct iovec v = { buf, sizeof(buf) };
        struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
        ssize_t n = recvmsg(fd, &m, 0);
        if (n < 0) {
            die("recvmsg");
        }
        if (m.msg_flags & MSG_TRUNC) {
            fprintf(stderr, "vsock-tool: message truncated\n");
            return 1;
        }
        write_all(fd, buf, (size_t)n);
        printf("%s%zd", i == 0 ? "" : " ", n);
    }
    printf("\n");
    close(fd);
    return 0;
}

static int cmd_seq_send(unsigned cid, unsigned port, int argc, char** sizes)
{
    int fd = connect_to(cid, port, SOCK_SEQPACKET);
    static unsigned char buf[BUF];
    for (int i = 0; i < argc; ++i) {
        size_t n = num(sizes[i]);
        if (n > sizeof(buf)) {
            fprintf(stderr, "vsock-tool: message too large\n");
            return 2;
        }
        memset(buf, 'a' + i % 26, n);
        if (send(fd, buf, n, 0) != (ssize_t)n) {
            die("send");
        }
    }
    for (int i = 0; i < argc; ++i) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            die("recv");
        }
        printf("%s%zd", i == 0 ? "" : " ", n);
    }
    printf("\n");
    close(fd);
    return 0;
}

static int cmd_many(unsigned cid, unsigned port, unsigned long n)
{
    int* fds = calloc(n, sizeof(int));
    for (unsigned long i = 0; i < n; ++i) {
        fds[i] = connect_to(cid, port, SOCK_STREAM);
    }
    for (unsigned long i = 0; i < n; ++i) {
        char line[32];
        int len = snprintf(line, sizeof(line), "%lu\n", i);
        write_all(fds[i], line, (size_t)len);
    }
    for (unsigned long i = 0; i < n; ++i) {
        char want[32], got[32];
        int len = snprintf(want, sizeof(want), "%lu\n", i);
        size_t have = 0;
        while (have < (size_t)len) {
            ssize_t r = read(fds[i], got + have, (size_t)len - have);
            if (r <= 0) {
                fprintf(stderr, "vsock-tool: connection %lu: short reply\n", i);
                return 1;
            }
            have += (size_t)r;
        }
        if (memcmp(got, want, (size_t)len) != 0) {
            fprintf(stderr, "vsock-tool: connection %lu: wrong reply\n", i);
            return 1;
        }
        close(fds[i]);
    }
    printf("%lu\n", n);
    return 0;
}

int main(int argc, char** argv)
{
    crc_init();
    fast = getenv("VSOCK_TOOL_FAST") != NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "cid") == 0) {
        int fd = open("/dev/vsock", O_RDONLY);
        unsigned cid = 0;
        if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) != 0) {
            die("/dev/vsock");
        }
        printf("%u\n", cid);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "sink") == 0) {
        return cmd_sink((unsigned)num(argv[2]));
    }
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "send") == 0) {
        return cmd_send((unsigned)num(argv[2]), (unsigned)num(argv[3]), num(argv[4]), argc == 6 ? num(argv[5]) : 0);
    }
    if (argc == 3 && strcmp(argv[1], "echo") == 0) {
        return cmd_echo((unsigned)num(argv[2]));
    }
    if (argc == 4 && strcmp(argv[1], "seq-echo") == 0) {
        return cmd_seq_echo((unsigned)num(argv[2]), num(argv[3]));
    }
    if (argc >= 5 && strcmp(argv[1], "seq-send") == 0) {
        return cmd_seq_send((unsigned)num(argv[2]), (unsigned)num(argv[3]), argc - 4, argv + 4);
    }
    if (argc == 5 && strcmp(argv[1], "many") == 0) {
        return cmd_many((unsigned)num(argv[2]), (unsigned)num(argv[3]), num(argv[4]));
    }
    fprintf(stderr, "usage: vsock-tool cid | sink PORT | send CID PORT BYTES [CHUNK] | echo PORT | seq-echo PORT COUNT |"
                    " seq-send CID PORT SIZE... | many CID PORT N\n");
    return 2;
}
