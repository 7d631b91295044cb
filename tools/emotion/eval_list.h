/* The labelled file list of `emotion eval`: CSV (RFC 4180 quoting, read by libcsv in strict
 * mode) whose header row names the columns 'path' and 'label' and optionally 'speaker', in any
 * order among others. Labels are mapped to the model's indices while reading, so a list naming a
 * label the model lacks is refused before any audio is decoded. Errors are printed as one line
 * naming the list and the row (the header is row 1). */
#ifndef EMOTION_EVAL_LIST_H
#define EMOTION_EVAL_LIST_H

#include <stdint.h>

#include "nn.h"

typedef struct eval_entry {
    char *path;      /* DATA joined with the listed path; owned */
    char *speaker;   /* owned; NULL without a 'speaker' column */
    int label;       /* index into the model's labels */
    int pred;        /* -1 until evaluated, and for a file that failed */
    float *probs;    /* owned; the file's posteriors once evaluated, else NULL */
    float *feat;     /* owned; frames decoded ahead for the speaker statistics, or NULL */
    int64_t n_frames;
} eval_entry;

/* Reads LIST into *out (*n entries, at least one). 0, or -1 with the error printed; *out is then
 * whatever was read so far and must still be given to eval_list_free. */
int eval_list_read(const char *list, const char *data, const nn_model *m, eval_entry **out, int *n);

/* Frees every entry's owned fields and the array. */
void eval_list_free(eval_entry *e, int n);

#endif
