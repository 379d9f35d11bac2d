/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  The Citus layer (citus.c): never a wrong answer on a Citus cluster.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/citus.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_CITUS_H
#define PERSONALIZE_CITUS_H

#include "postgres.h"

/*
 * An error that names Citus when what (a function's name) runs on a Citus
 * worker node, where it would act on the node's local tables, which
 * nothing reads (consequence: what would happen, for the detail), or is
 * asked to act on a Citus table it does not support.  Without the citus
 * extension in the database, nothing is checked.
 */
extern void PersonalizeRefuseCitusWorker(const char *what, const char *consequence);
extern void PersonalizeRefuseCitusTable(Oid relid, const char *what);

/*
 * forget()'s refusals on Citus, before anything is erased: Citus cannot
 * erase from a reference table owned by another role than the extension's
 * owner in the transaction that changes the copies distribute() keeps (it
 * writes reference tables over one connection per role; copy_relid is one
 * of the copies, consent_replica, or InvalidOid before 0.3.0), nor let two roles change colocated
 * shards in one transaction.  relids[i] is erased as owners[i].
 */
extern void PersonalizeCitusRefuseErasure(const Oid *relids, const Oid *owners,
										  int n, Oid copy_relid);

/* what kind of Citus table relid is (none without the citus extension) */
typedef enum CitusTableKind
{
	CITUS_NONE,					/* not a Citus table */
	CITUS_DISTRIBUTED,			/* hash-distributed */
	CITUS_REFERENCE,			/* a copy on every node */
	CITUS_OTHER					/* append, range, a Citus local table ... */
} CitusTableKind;

extern CitusTableKind PersonalizeCitusTableKind(Oid relid);

/* the Citus colocation group of a Citus table, -1 for any other */
extern int64 PersonalizeCitusColocation(Oid relid);

/* is this a Citus worker node (citus installed, a group other than 0)? */
extern bool PersonalizeOnCitusWorker(void);

/*
 * On a Citus worker: this node's shard of the extension's reference table
 * table (names.h, whose OID is relid), or of its index index (the same name with the shard's
 * number appended, as Citus names them).  An error that names Citus and
 * distribute() when the table is not a reference table, or has no shard
 * on this node.
 */
extern Oid	PersonalizeCitusShardRelid(Oid relid, const char *table,
									   const char *index, const char *what);

/*
 * On a Citus worker: has another backend of this statement's distributed
 * transaction written one of relids (a node's shards of the copies) and
 * not committed?  Its change is then invisible here: Citus writes the
 * copies over a connection of the role that runs the replication trigger,
 * and runs a statement of another role, or the tasks of one that Citus
 * spreads over several connections to the node, over others.  Asks
 * Citus's and PostgreSQL's views (an SPI query).
 */
extern bool PersonalizeCitusPeerWrote(const Oid *relids, int nrelids);

/*
 * Is this backend one of Citus's own connections (a coordinator's
 * statement carried to a node's shards, a rebalancer, a shard transfer)?
 */
extern bool PersonalizeCitusInternalBackend(void);

#endif							/* PERSONALIZE_CITUS_H */
