/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background worker: a launcher and one scheduler per database
 *	  with the extension (worker.c), which run the maintenance duties
 *	  (maintenance.c) in order, as run_maintenance() does.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/worker/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_WORKER_H
#define PERSONALIZE_WORKER_H

/* the worker's settings; when preloading, the launcher and its hooks */
extern void WorkerInit(void);

#endif							/* PERSONALIZE_WORKER_H */
