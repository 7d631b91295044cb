/* eval_list: `emotion eval`'s CSV list, parsed by libcsv (eval_list.h). libcsv hands over one
 * field at a time, then the end of each row; a row is checked and turned into an entry when it
 * ends, and the first problem stops the reading. */
#include "eval_list.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

enum { MAX_FIELDS = 64 };

typedef struct reader {
    const char *list, *data;
    const nn_model *m;
    char *field[MAX_FIELDS];   /* the current row's fields, owned until the row ends */
    int n_fields, row;         /* row: 1-based, counting the header */
    int col_path, col_label, col_speaker;
    eval_entry *e;
    int n, cap;
    int failed;                /* an error was printed: ignore the rest (the fields are freed
                                  when the row ends, or at the end) */
} reader;

static void clear_row(reader *r)
{
    for (int i = 0; i < r->n_fields; i++)
        free(r->field[i]);
    r->n_fields = 0;
}

static void on_field(void *s, size_t len, void *data)
{
    reader *r = data;
    if (r->failed)
        return;
    if (r->n_fields == MAX_FIELDS) {
        cli_error(r->list, "row %d: more than %d fields", r->row + 1, MAX_FIELDS);
        r->failed = 1;
        return;
    }
    if (memchr(s, '\0', len)) {
        cli_error(r->list, "row %d: a field holds a NUL byte (not a text list)", r->row + 1);
        r->failed = 1;
        return;
    }
    char *f = malloc(len + 1);
    if (!f) {
        cli_error(r->list, "out of memory");
        r->failed = 1;
        return;
    }
    memcpy(f, s, len);
    f[len] = '\0';
    r->field[r->n_fields++] = f;
}

static int header_row(reader *r)
{
    for (int i = 0; i < r->n_fields; i++) {
        if (strcmp(r->field[i], "path") == 0)
            r->col_path = i;
        else if (strcmp(r->field[i], "label") == 0)
            r->col_label = i;
        else if (strcmp(r->field[i], "speaker") == 0)
            r->col_speaker = i;
    }
    if (r->col_path < 0 || r->col_label < 0) {
        cli_error(r->list, "row 1: header must name the columns 'path' and 'label'");
        return -1;
    }
    return 0;
}

static int data_row(reader *r)
{
    int need = (r->col_path > r->col_label ? r->col_path : r->col_label) + 1;
    if (r->n_fields < need) {
        cli_error(r->list, "row %d: has %d of the %d fields the header needs", r->row, r->n_fields,
                  need);
        return -1;
    }
    const char *name = r->field[r->col_label];
    int label = -1;
    for (int k = 0; k < nn_model_n_labels(r->m) && label < 0; k++)
        if (strcmp(nn_model_label(r->m, k), name) == 0)
            label = k;
    if (label < 0) {
        cli_error(r->list, "row %d: label '%s' is not one of the model's labels", r->row, name);
        return -1;
    }
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        eval_entry *ne = realloc(r->e, sizeof *ne * (size_t)cap);
        if (!ne)
            goto oom;
        r->e = ne;
        r->cap = cap;
    }
    eval_entry *en = &r->e[r->n];
    memset(en, 0, sizeof *en);
    en->label = label;
    en->pred = -1;
    en->path = cli_path_join(r->data, r->field[r->col_path]);
    if (r->col_speaker >= 0 && r->n_fields > r->col_speaker) {
        en->speaker = r->field[r->col_speaker];
        r->field[r->col_speaker] = NULL;   /* the entry owns it now */
    }
    r->n++;   /* counted even when incomplete, so that eval_list_free frees it */
    if (!en->path)
        goto oom;
    return 0;
oom:
    cli_error(r->list, "out of memory");
    return -1;
}

static void on_row(int terminator, void *data)
{
    reader *r = data;
    (void)terminator;
    if (!r->failed) {
        r->row++;
        if ((r->row == 1 ? header_row(r) : data_row(r)) != 0)
            r->failed = 1;
    }
    clear_row(r);
}

int eval_list_read(const char *list, const char *data, const nn_model *m, eval_entry **out, int *n)
{
    reader r = {.list = list, .data = data, .m = m, .col_path = -1, .col_label = -1,
                .col_speaker = -1};
    struct csv_parser p;
    int parser_ready = 0, rc = -1;
    FILE *f = fopen(list, "rb");
    if (!f) {
        cli_error(list, "cannot open: %s", strerror(errno));
        goto done;
    }
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        cli_error(list, "out of memory");
        goto done;
    }
    parser_ready = 1;
    char buf[65536];
    size_t got, offset = 0;
    while (!r.failed && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        size_t used = csv_parse(&p, buf, got, on_field, on_row, &r);
        if (used != got && !r.failed) {
            cli_error(list, "row %d: not valid CSV (%s) at byte %zu", r.row + 1,
                      csv_strerror(csv_error(&p)), offset + used + 1);
            r.failed = 1;
        }
        offset += got;
    }
    if (!r.failed && ferror(f)) {
        cli_error(list, "read failed: %s", strerror(errno));
        r.failed = 1;
    }
    if (!r.failed && csv_fini(&p, on_field, on_row, &r) != 0 && !r.failed) {
        cli_error(list, "row %d: not valid CSV (%s) at the end of the file", r.row + 1,
                  csv_strerror(csv_error(&p)));
        r.failed = 1;
    }
    if (r.failed)
        goto done;
    if (r.row == 0) {
        cli_error(list, "empty list (expected a header row with 'path' and 'label')");
        goto done;
    }
    if (r.n == 0) {
        cli_error(list, "no files listed");
        goto done;
    }
    rc = 0;
done:
    clear_row(&r);
    if (parser_ready)
        csv_free(&p);
    if (f)
        fclose(f);
    *out = r.e;
    *n = r.n;
    return rc;
}

void eval_list_free(eval_entry *e, int n)
{
    for (int i = 0; i < n; i++) {
        free(e[i].path);
        free(e[i].speaker);
        free(e[i].probs);
        free(e[i].feat);
    }
    free(e);
}
