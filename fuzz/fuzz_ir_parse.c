/* fuzz_ir_parse.c: the IR text form (`hetc opt FILE.ir`), read by ir_parse.
 * What it accepts must be a graph the verifier passes, must print and parse
 * back to the same text, and must dump as JSON and DOT. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_strndup(data, size);
    IrGraph g;
    char err[1024];
    if (ir_parse(&g, text, "fuzz.ir", err, sizeof err) == 0) {
        FZ_CHECK(ir_verify(&g, err, sizeof err) == 0, "parsed but does not verify: %s", err);
        char *once = ir_print_str(&g);
        IrGraph g2;
        FZ_CHECK(ir_parse(&g2, once, "printed.ir", err, sizeof err) == 0, "printed IR does not parse: %s", err);
        char *twice = ir_print_str(&g2);
        FZ_CHECK(strcmp(once, twice) == 0, "print/parse round trip differs");
        FILE *null = fopen("/dev/null", "w");
        ir_dump_json(null, &g);
        ir_dump_dot(null, &g);
        fclose(null);
        free(once);
        free(twice);
        ir_graph_free(&g2);
        ir_graph_free(&g);
    }
    free(text);
    return 0;
}
