/*-------------------------------------------------------------------------
 *
 * maintenance.h
 *	  The duties of a maintenance pass (maintenance.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/worker/maintenance.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_MAINTENANCE_H
#define PERSONALIZE_MAINTENANCE_H

typedef struct MaintenanceDuty
{
	const char *name;
	const char *function;		/* in the extension's schema; NULL: the purge */
	const char *description;
	const char *writes[2];		/* the extension's tables it writes (names.h) */
} MaintenanceDuty;

/* the duties, in the order a pass runs them */
extern const MaintenanceDuty MaintenanceDuties[];
extern const int NumMaintenanceDuties;

/*
 * Run one duty other than the purge: its function, called by OID in the
 * current transaction.  Returns the rows it affected.
 */
extern int64 MaintenanceRunDuty(const MaintenanceDuty *duty);

#endif							/* PERSONALIZE_MAINTENANCE_H */
