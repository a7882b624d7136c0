/* progress.h — one progress line on stderr for long commands (-P): done of
 * total, rate and ETA.  On a terminal the line is redrawn in place ("\r")
 * a few times a second; otherwise (a log, a pipe) one line is printed every
 * few seconds, so logs stay readable.  The final line is always printed.
 *
 *   struct tf_progress *pr = tf_progress_new("send", size, opts.progress);
 *   while (...) tf_progress_add(pr, n);
 *   tf_progress_end(pr);   // final line, frees
 *
 * new() returns NULL when not enabled (or out of memory: progress is never
 * worth failing a command for); every call accepts NULL and then does
 * nothing, so callers need no "if (progress)".  Units are bytes unless
 * tf_progress_unit() names a count ("chunks", "nodes").  A total of 0 means
 * unknown: the line then shows done and rate, no percentage or ETA.  Not
 * thread-safe: one progress per thread that reports it.
 */
#ifndef THINFS_PROGRESS_H
#define THINFS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct tf_progress;

struct tf_progress *tf_progress_new(const char *what, uint64_t total, bool enabled);
/* "bytes" (the default: shown as KiB, MiB, ...) or the noun of a count. */
void tf_progress_unit(struct tf_progress *p, const char *unit);
/* Sets or corrects the total once it is known. */
void tf_progress_total(struct tf_progress *p, uint64_t total);
void tf_progress_add(struct tf_progress *p, uint64_t n);
void tf_progress_set(struct tf_progress *p, uint64_t done);
/* Prints the final line (ending the redrawn one) and frees p. */
void tf_progress_end(struct tf_progress *p);

#endif
