/* nodes.h — the index's copy of the pool's mapping-tree nodes, each
 * distinct node stored once (see nodes.c for how a refresh proves which
 * stored nodes are still the pool's, and schema.c for the tables). */
#ifndef THINFS_INDEX_NODES_H
#define THINFS_INDEX_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/thin/thin_meta.h"

struct tf_index;

/* One node, in memory during a refresh: what the nodes table holds plus
 * the state of this refresh and the usage sweep's reference counts. */
struct ix_node {
	int64_t id;
	uint64_t block;
	uint64_t first, last; /* lowest and highest key below (first > last: empty) */
	uint64_t mapped;      /* chunks mapped below */
	uint64_t refs;	      /* devices whose tree holds this node */
	uint64_t owners;      /* sum of those devices' ids (the owner when refs == 1) */
	uint32_t kids, nkids; /* its children: ix_nodes.kids[kids .. kids+nkids) */
	uint32_t csum;
	uint8_t digest[16];
	bool leaf;
	uint8_t state; /* IX_STORED (not yet seen in this view), IX_BUSY, IX_ALIVE */
};

enum { IX_STORED, IX_BUSY, IX_ALIVE };

/* block -> node index, open addressing. */
struct ix_blockmap {
	uint64_t *keys; /* block + 1; 0 is empty */
	uint32_t *vals;
	size_t cap, n;
};

/* A run of a leaf the sync deleted, kept for the usage update. */
struct ix_freed_run {
	uint64_t dbegin, len;
	uint32_t leaf;
};

struct ix_nodes {
	struct ix_node *v; /* ascending id */
	size_t n, cap;
	uint32_t *kids;
	size_t nkids, kcap;
	struct ix_blockmap stored; /* the last view's blocks */
	struct ix_blockmap view;   /* this view's blocks */
	int64_t next_id;
	size_t nstored;		    /* v[0 .. nstored) were loaded */
	bool keep_freed;	    /* collect freed leaves' runs */
	struct ix_freed_run *freed; /* ... here */
	size_t nfreed, fcap;
};

struct ix_sync_stats {
	uint64_t nodes_read, nodes_new, nodes_freed, nodes_verified;
	size_t devices_walked;
};

/* Loads every stored node (not the runs): memory ∝ the pool's unique
 * metadata nodes.  -EUCLEAN if the tables contradict themselves. */
int ix_nodes_load(struct tf_index *ix, struct ix_nodes *t);
void ix_nodes_free(struct ix_nodes *t);

/* Brings the stored nodes to the view: nodes proven unchanged are kept
 * unread, new ones are read and written, nodes no device reaches any more
 * are deleted.  roots[i] gets the node index of devs[i]'s root.  -EAGAIN
 * if a kept node turned out not to be the pool's (the caller rebuilds). */
int ix_nodes_sync(struct ix_nodes *t, struct tf_index *ix, struct tf_thin_meta *view,
		  const struct tf_thin_dev *devs, size_t ndev, uint32_t *roots,
		  struct ix_sync_stats *st);

/* Sets refs and owners of every node in state `live` (IX_ALIVE after a
 * sync, IX_STORED before one) from the devices' ids and root indexes. */
int ix_nodes_refs(struct ix_nodes *t, const uint32_t *dev_ids, const uint32_t *roots, size_t ndev,
		  uint8_t live);

/* The node index of a stored id, or t->n. */
size_t ix_nodes_find(const struct ix_nodes *t, int64_t id);

#endif
