/*
 * cli/table.c: aligned text tables, the text face of every JSON reply.
 *
 * In the manner of `serf members` and `nodetool status`: a header row of
 * capitals, columns two spaces apart, each as wide as its widest cell,
 * numbers right-aligned. Cells are copied in sanitized: entity keys are
 * attacker-chosen strings (a user agent can hold ESC [ 2 J), and an
 * operator's terminal must show them, not obey them.
 */
#define _XOPEN_SOURCE 700 /* wcwidth */

#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "base/err.h"
#include "cli/internal.h"

/* Cells are formatted into this much, then truncated: no entity key or
 * reason is longer (NODE_KEY_MAX is 128) and a table row must stay
 * readable. */
enum { CELL_MAX = 512 };
/* Spaces between columns. */
enum { GUTTER = 2 };

void ivtctl_table_init(struct ivtctl_table *t, const struct ivtctl_column *cols, size_t ncols,
                       bool header)
{
    memset(t, 0, sizeof(*t));
    t->cols = cols;
    t->ncols = ncols;
    t->header = header;
}

void ivtctl_table_destroy(struct ivtctl_table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

static void sanitize(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static void add_cell(struct ivtctl_table *t, const char *text)
{
    if (t->err)
        return;
    if (t->ncells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **cells = realloc(t->cells, cap * sizeof(*cells));
        if (!cells) {
            t->err = IVT_ENOMEM;
            return;
        }
        t->cells = cells;
        t->cap = cap;
    }
    char *s = strdup(text);
    if (!s) {
        t->err = IVT_ENOMEM;
        return;
    }
    sanitize(s);
    t->cells[t->ncells++] = s;
}

void ivtctl_table_cell(struct ivtctl_table *t, const char *fmt, ...)
{
    char buf[CELL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    add_cell(t, buf);
}

void ivtctl_table_json(struct ivtctl_table *t, const json_t *v)
{
    char buf[CELL_MAX];
    add_cell(t, ivtctl_json_text(buf, sizeof(buf), v));
}

void ivtctl_table_rows(struct ivtctl_table *t, const json_t *rows, const char *const *keys)
{
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        for (int k = 0; keys[k]; k++) {
            const json_t *v = json_object_get(row, keys[k]);
            /* ivtd sends a "local" of -1 for a value this node does not keep
             * (a distinct count merged from several nodes): "-", not a count
             * of minus one. */
            if (strcmp(keys[k], "local") == 0 && json_is_number(v) && json_number_value(v) < 0)
                ivtctl_table_cell(t, "-");
            else
                ivtctl_table_json(t, v);
        }
    }
}

/* Terminal columns of a UTF-8 string, by glibc's wcwidth under C.UTF-8
 * whatever the caller's locale: wide (CJK) glyphs take two, combining marks
 * none. Bytes that are not UTF-8, and code points wcwidth does not know,
 * count one each, so a bad cell can shift a column but never break it. */
static size_t text_width(const char *s)
{
    static locale_t utf8;
    if (!utf8)
        utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    size_t w = 0, left = strlen(s);
    while (left) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s, left, &st);
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
            n = 1;
            w++;
            memset(&st, 0, sizeof(st));
        } else {
            int cw = utf8 ? wcwidth(wc) : 1;
            w += cw < 0 ? 1 : (size_t)cw;
        }
        s += n;
        left -= n;
    }
    if (utf8)
        uselocale(old);
    return w;
}

int ivtctl_table_print(const struct ivtctl_table *t, FILE *out)
{
    if (t->err)
        return t->err;
    if (!t->ncols)
        return 0;
    size_t *width = calloc(t->ncols, sizeof(*width));
    if (!width)
        return IVT_ENOMEM;
    if (t->header)
        for (size_t c = 0; c < t->ncols; c++)
            width[c] = text_width(t->cols[c].title);
    for (size_t i = 0; i < t->ncells; i++) {
        size_t w = text_width(t->cells[i]);
        if (w > width[i % t->ncols])
            width[i % t->ncols] = w;
    }
    size_t nrows = (t->ncells + t->ncols - 1) / t->ncols;
    for (size_t r = 0; r < nrows + t->header; r++) {
        size_t last = t->ncols;
        /* Trailing empty cells print nothing, not spaces. */
        while (last > 0) {
            const char *s = t->header && r == 0 ? t->cols[last - 1].title : NULL;
            size_t i = (r - t->header) * t->ncols + last - 1;
            if (!s)
                s = i < t->ncells ? t->cells[i] : "";
            if (*s)
                break;
            last--;
        }
        for (size_t c = 0; c < last; c++) {
            const char *s;
            if (t->header && r == 0) {
                s = t->cols[c].title;
            } else {
                size_t i = (r - t->header) * t->ncols + c;
                s = i < t->ncells ? t->cells[i] : "";
            }
            size_t pad = width[c] - text_width(s);
            bool right = t->cols[c].align == IVTCTL_RIGHT;
            if (right)
                fprintf(out, "%*s", (int)pad, "");
            fputs(s, out);
            if (c + 1 < last)
                fprintf(out, "%*s", (int)((right ? 0 : pad) + GUTTER), "");
        }
        fputc('\n', out);
    }
    free(width);
    return 0;
}

/* Reals as an operator reads them: 0.5, 12, 3.142; never 0.50000000001. */
static void real_text(char *buf, size_t cap, double d)
{
    snprintf(buf, cap, "%.3f", d);
    char *dot = strchr(buf, '.');
    if (!dot)
        return;
    char *e = buf + strlen(buf) - 1;
    while (e > dot && *e == '0')
        *e-- = '\0';
    if (e == dot)
        *e = '\0';
}

const char *ivtctl_json_text(char *buf, size_t cap, const json_t *v)
{
    if (!cap)
        return buf;
    buf[0] = '\0';
    if (!v) {
        snprintf(buf, cap, "-"); /* a field this ivtd does not send */
        return buf;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: snprintf(buf, cap, "%s", json_string_value(v)); break;
    case JSON_INTEGER: snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: real_text(buf, cap, json_real_value(v)); break;
    case JSON_TRUE: snprintf(buf, cap, "yes"); break;
    case JSON_FALSE: snprintf(buf, cap, "no"); break;
    case JSON_NULL: snprintf(buf, cap, "-"); break;
    case JSON_OBJECT: {
        /* tags: k=v,k=v in key order, as `serf members` shows them */
        size_t len = 0;
        const char *k;
        json_t *x;
        char item[CELL_MAX];
        void *iter;
        const char **keys = NULL;
        size_t n = json_object_size(v), i = 0;
        if (n && !(keys = malloc(n * sizeof(*keys))))
            break;
        json_object_foreach((json_t *)v, k, x)
        {
            keys[i++] = k;
        }
        for (size_t a = 1; a < n; a++)
            for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
                const char *tmp = keys[b];
                keys[b] = keys[b - 1];
                keys[b - 1] = tmp;
            }
        for (i = 0; i < n && len < cap; i++) {
            iter = json_object_iter_at((json_t *)v, keys[i]);
            ivtctl_json_text(item, sizeof(item), json_object_iter_value(iter));
            len += (size_t)snprintf(buf + len, cap - len, "%s%s=%s", i ? "," : "", keys[i], item);
        }
        free(keys);
        if (!n)
            snprintf(buf, cap, "-");
        break;
    }
    case JSON_ARRAY: {
        size_t len = 0, i;
        json_t *x;
        char item[CELL_MAX];
        json_array_foreach(v, i, x)
        {
            if (len >= cap)
                break;
            ivtctl_json_text(item, sizeof(item), x);
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "," : "", item);
        }
        if (!json_array_size(v))
            snprintf(buf, cap, "-");
        break;
    }
    }
    return buf;
}
