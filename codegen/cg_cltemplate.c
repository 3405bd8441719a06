/* cg_cltemplate.c: instantiation of the OpenCL kernel templates
 * (runtime/rt_kernels.cl). The template file is cut into families at lines
 * that begin with the marker '//@family NAME PARAM ...'; an instance is the
 * family's text preceded by #defines of KNAME (a unique kernel-name suffix)
 * and of each PARAM, and followed by the matching #undefs. Also the one
 * builder of a plain gemv instance's values (cg_cl_gemv_plain). */
#include "cg.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define FAMILY_MARKER "//@family"

enum { MAX_PARAMS = 16 };

/* The end of the line starting at p (at its '\n' or the terminating NUL). */
static const char *line_end(const char *p)
{
    const char *e = strchr(p, '\n');
    return e ? e : p + strlen(p);
}

/* If the line at p is a family marker, returns the text after the marker
 * (name and params), else NULL. */
static const char *marker_args(const char *p)
{
    size_t n = strlen(FAMILY_MARKER);
    if (strncmp(p, FAMILY_MARKER, n) != 0 || (p[n] != ' ' && p[n] != '\t'))
        return NULL;
    return p + n;
}

/* Copies the next whitespace-separated word of [*p, end) into buf; returns
 * its length (0: none left). */
static size_t next_word(const char **p, const char *end, char *buf, size_t cap)
{
    const char *s = *p;
    while (s < end && isspace((unsigned char)*s))
        s++;
    const char *w = s;
    while (s < end && !isspace((unsigned char)*s))
        s++;
    size_t n = (size_t)(s - w);
    if (cap > 0)
        snprintf(buf, cap, "%.*s", (int)n, w);
    *p = s;
    return n;
}

int cg_cl_family(const char *templ, const char *family, const char **text, size_t *len,
                 char *params, size_t cap)
{
    for (const char *line = templ; *line; ) {
        const char *end = line_end(line);
        const char *args = marker_args(line);
        char name[128];
        if (args && next_word(&args, end, name, sizeof name) > 0 && strcmp(name, family) == 0) {
            /* params: the rest of the marker line, single-spaced */
            size_t used = 0;
            char word[128];
            if (cap > 0)
                params[0] = 0;
            while (next_word(&args, end, word, sizeof word) > 0) {
                int w = snprintf(params + used, cap > used ? cap - used : 0, "%s%s",
                                 used ? " " : "", word);
                used += (size_t)w;
                if (used >= cap)
                    return -2;
            }
            /* text: from the next line to the next marker or the end */
            const char *start = *end ? end + 1 : end, *p = start;
            while (*p && !marker_args(p))
                p = *line_end(p) ? line_end(p) + 1 : line_end(p);
            *text = start;
            *len = (size_t)(p - start);
            return 0;
        }
        line = *end ? end + 1 : end;
    }
    return -1;
}

static int is_identifier(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

int cg_cl_instantiate(FILE *out, const char *templ, const char *family, const char *suffix,
                      const char *const *values, char *err, size_t errlen)
{
    const char *text;
    size_t len;
    char params[1024];
    int rc = cg_cl_family(templ, family, &text, &len, params, sizeof params);
    if (rc != 0) {
        snprintf(err, errlen, rc == -1 ? "no kernel family '%s' in the template"
                 : "kernel family '%s': parameter list too long", family);
        return -1;
    }
    if (!is_identifier(suffix)) {
        snprintf(err, errlen, "kernel family '%s': suffix '%s' is not an identifier", family,
                 suffix);
        return -1;
    }
    char names[MAX_PARAMS + 1][128];
    int n = 0;
    const char *p = params, *end = params + strlen(params);
    while (n <= MAX_PARAMS && next_word(&p, end, names[n], sizeof names[n]) > 0)
        n++;
    if (n > MAX_PARAMS) {
        snprintf(err, errlen, "kernel family '%s': more than %d parameters", family, MAX_PARAMS);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (!values || !values[i]) {
            snprintf(err, errlen, "kernel family '%s' takes %d parameters (%s): no value for %s",
                     family, n, params, names[i]);
            return -1;
        }
        if (!*values[i] || strchr(values[i], '\n')) {
            snprintf(err, errlen, "kernel family '%s': bad value for %s", family, names[i]);
            return -1;
        }
    }
    if (values && values[n]) {
        snprintf(err, errlen, "kernel family '%s' takes %d parameters (%s), got more", family, n,
                 params);
        return -1;
    }

    fprintf(out, "/* ---- kernel family %s, suffix %s:", family, suffix);
    for (int i = 0; i < n; i++)
        fprintf(out, " %s=%s", names[i], values[i]);
    fprintf(out, " ---- */\n#define KNAME(base) base##%s\n", suffix);
    for (int i = 0; i < n; i++)
        fprintf(out, "#define %s %s\n", names[i], values[i]);
    fwrite(text, 1, len, out);
    if (len > 0 && text[len - 1] != '\n')
        fputc('\n', out);
    fprintf(out, "#undef KNAME\n");
    for (int i = 0; i < n; i++)
        fprintf(out, "#undef %s\n", names[i]);
    if (ferror(out)) {
        snprintf(err, errlen, "kernel family '%s': write error", family);
        return -1;
    }
    return 0;
}

const char *const *cg_cl_gemv_plain(CgGemvValues *gv, int64_t n, int64_t k, const char *wt, int has_bias,
                                    int max_s, int xq)
{
    snprintf(gv->v[0], sizeof gv->v[0], "%" PRId64, n);
    snprintf(gv->v[1], sizeof gv->v[1], "%" PRId64, k);
    snprintf(gv->v[2], sizeof gv->v[2], "%s", wt);
    snprintf(gv->v[3], sizeof gv->v[3], "%d", has_bias != 0);
    for (int i = CG_GEMV_NORM; i <= CG_GEMV_HEAD_DIM; i++) snprintf(gv->v[i], sizeof gv->v[i], "0");
    snprintf(gv->v[9], sizeof gv->v[9], "%d", max_s);
    snprintf(gv->v[10], sizeof gv->v[10], "%d", xq != 0);
    for (int i = 0; i < CG_GEMV_VALUES; i++) gv->p[i] = gv->v[i];
    gv->p[CG_GEMV_VALUES] = NULL;
    return gv->p;
}
