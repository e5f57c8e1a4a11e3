/* cli/main.c: bin/ivtctl. Everything is in ivtctl_main (commands.c). */
#include <stdio.h>

#include "cli/ivtctl.h"

int main(int argc, char **argv)
{
    return ivtctl_main(argc, argv, stdin, stdout, stderr);
}
