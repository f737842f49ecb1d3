/* SPDX-License-Identifier: Apache-2.0 */
/* main.c: leakwatch command dispatcher (placeholder, being written). */
#include <stdio.h>
int main(void)
{
    puts("leakwatch");
    return 0;
}
