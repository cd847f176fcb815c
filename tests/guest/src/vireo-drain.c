// SPDX-License-Identifier: Apache-2.0
// vireo-drain: wait until the console's output has left the guest (tcdrain on stdout). A write to
// a tty only queues the bytes; the serial driver sends them from its interrupt handler. The agent
// powers off right after its last result line, and without this the line can be cut short in
// the transmit buffer. Bounded: a console that never drains (flow control) gives up after 5 s.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int main(void)
{
    alarm(5); // SIGALRM's default action ends the wait
    if (tcdrain(STDOUT_FILENO) != 0 && errno != ENOTTY) {
        fprintf(stderr, "vireo-drain: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
