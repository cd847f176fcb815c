// SPDX-License-Identifier: Apache-2.0
// vireo: the command-line entry point.
#include <cstdio>
#include <cstring>

int main(int argc, char** argv)
{
    if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
        std::puts("vireo 0.1.0");
        return 0;
    }
    std::fputs("usage: vireo run --config FILE | vireo run --kernel K ... (see vireo --help)\n", stderr);
    return 2;
}
