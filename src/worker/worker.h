/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background worker (worker.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_WORKER_H
#define PERSONALIZE_WORKER_H

/* the worker's settings; when preloading, the launcher and its hooks */
extern void WorkerInit(void);

#endif							/* PERSONALIZE_WORKER_H */
