/* progress.c — the progress line of -P (progress.h). */
#include "core/base/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TTY_INTERVAL 0.25 /* seconds between redraws on a terminal */
#define LOG_INTERVAL 5.0  /* seconds between lines otherwise */

struct tf_progress {
	char what[64];
	char unit[16]; /* "" = bytes */
	uint64_t total, done;
	double start, last;
	bool tty, drawn;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct tf_progress *tf_progress_new(const char *what, uint64_t total, bool enabled)
{
	struct tf_progress *p;

	if (!enabled || !(p = calloc(1, sizeof(*p))))
		return NULL;
	snprintf(p->what, sizeof(p->what), "%s", what);
	p->total = total;
	p->start = p->last = now();
	p->tty = isatty(2) == 1;
	return p;
}

void tf_progress_unit(struct tf_progress *p, const char *unit)
{
	if (p)
		snprintf(p->unit, sizeof(p->unit), "%s", strcmp(unit, "bytes") == 0 ? "" : unit);
}

void tf_progress_total(struct tf_progress *p, uint64_t total)
{
	if (p)
		p->total = total;
}

/* "12.50 MiB", or "1234 chunks" (just "1234" without noun) */
static void amount(const struct tf_progress *p, double v, bool noun, char *buf, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	size_t u = 0;

	if (p->unit[0]) {
		snprintf(buf, n, "%.0f%s%s", v, noun ? " " : "", noun ? p->unit : "");
		return;
	}
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.2f %s" : "%.0f %s", v, units[u]);
}

static void draw(struct tf_progress *p, double t, bool final)
{
	double secs = t - p->start;
	double rate = secs > 0 ? (double)p->done / secs : 0;
	char done[48], total[48], rt[48], eta[48] = "";
	char line[256];

	amount(p, (double)p->done, !p->total, done, sizeof(done));
	amount(p, rate, true, rt, sizeof(rt));
	if (p->total && !final && rate > 0 && p->done < p->total) {
		double left = (double)(p->total - p->done) / rate;
		unsigned long s = (unsigned long)(left + 0.5);
		snprintf(eta, sizeof(eta), ", ETA %lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	} else if (final) {
		snprintf(eta, sizeof(eta), " in %.1f s", secs);
	}
	if (p->total) {
		amount(p, (double)p->total, true, total, sizeof(total));
		snprintf(line, sizeof(line), "thinfs %s: %s of %s (%.1f%%), %s/s%s", p->what, done,
			 total, 100.0 * (double)p->done / (double)p->total, rt, eta);
	} else {
		snprintf(line, sizeof(line), "thinfs %s: %s, %s/s%s", p->what, done, rt, eta);
	}
	if (p->tty)
		fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
	else
		fprintf(stderr, "%s\n", line);
	fflush(stderr);
	p->drawn = true;
	p->last = t;
}

void tf_progress_set(struct tf_progress *p, uint64_t done)
{
	double t;

	if (!p)
		return;
	p->done = done;
	t = now();
	if (t - p->last >= (p->tty ? TTY_INTERVAL : LOG_INTERVAL))
		draw(p, t, false);
}

void tf_progress_add(struct tf_progress *p, uint64_t n)
{
	if (p)
		tf_progress_set(p, p->done + n);
}

void tf_progress_end(struct tf_progress *p)
{
	if (!p)
		return;
	draw(p, now(), true);
	free(p);
}
