// SPDX-License-Identifier: Apache-2.0
// vireo-outb PORT VALUE: write one byte to an x86 I/O port from the guest. The test agent uses
// it for the VMM's test-exit port (0xf4): the VMM then exits with VALUE as its status.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>

static unsigned long parse(const char* s, unsigned long max, const char* what)
{
    char* end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || v > max) {
        fprintf(stderr, "vireo-outb: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char** argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: vireo-outb PORT VALUE\n");
        return 2;
    }
    unsigned long port = parse(argv[1], 0xffff, "port");
    unsigned long value = parse(argv[2], 0xff, "value");
    if (ioperm(port, 1, 1) != 0) {
        fprintf(stderr, "vireo-outb: ioperm(%#lx): %s\n", port, strerror(errno));
        return 1;
    }
    outb((unsigned char)value, (unsigned short)port);
    return 0;
}
